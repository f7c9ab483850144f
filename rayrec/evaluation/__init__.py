"""Evaluation protocols, chosen by env kind, each returning one :class:`EvalResult`.

- ``slate_rollout`` (env kind ``slate``): greedy sessions in the evaluation simulator
  next to a random policy (:mod:`rayrec.evaluation.slate_rollout`);
- ``next_item`` (``logged_sessions``): SQN's HR / NDCG @5/10/20 over every event of
  the held-out sessions, click and purchase targets apart, all items ranked with no
  filtering (:mod:`rayrec.evaluation.next_item`);
- ``full_ranking`` (no env kind: a scorer over arrays): HR / NDCG / P / R / MRR @k over
  the full item pool with seen items excluded (:mod:`rayrec.evaluation.full_ranking`);
- ``rating_error`` (``rating_walk``): RMSE / MAE of predicted ratings
  (:mod:`rayrec.evaluation.rating_error`);
- ``topn`` (``topn``): precision / recall / HR / NDCG @10 over each user's test part
  (:mod:`rayrec.evaluation.topn`).
"""

from rayrec.evaluation.protocols import (
    PROTOCOLS,
    EvaluationProtocol,
    get_protocol,
    protocol_for_kind,
)
from rayrec.evaluation.result import EvalResult

__all__ = ["PROTOCOLS", "EvalResult", "EvaluationProtocol", "get_protocol", "protocol_for_kind"]
