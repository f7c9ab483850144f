"""The topn protocol: precision / recall @10 by hand on a tiny split, Q-functions on the
final observations, a module through RLlib's Q-net API, and the registry entry."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from rayrec.data.topn import TopNData
from rayrec.environments import env_config_for
from rayrec.environments.keys import OBS_ACTION_MASK, OBS_SHORT_ITEMS
from rayrec.environments.topn import TopNConfig, env_config_of
from rayrec.errors import InputError
from rayrec.evaluation import get_protocol, protocol_for_kind
from rayrec.evaluation.topn import (
    METRICS,
    NAME,
    evaluate_module,
    evaluate_q_values,
    evaluate_scorer,
)
from tests.data.test_rating_walk import write_ml1m_fixture
from tests.data.test_topn import Row, topn_data

N_ITEMS = 20


def tiny() -> TopNData:
    """Three users over items 1..20 (user 3 rates every item, so raw ids are dense ids).

    - user 1: train 1..8; test 9 (5), 10 (2), 20 (4);
    - user 2: train 1..4; test 15 (3);
    - user 3: train 1..16; test 17..20, each rated 1.
    """
    rows: list[Row] = []
    ratings = [5, 4, 3, 2, 1, 5, 4, 3]
    rows += [(1, i, float(ratings[i - 1]), i) for i in range(1, 9)]
    rows += [(1, 9, 5.0, 9), (1, 10, 2.0, 10), (1, 20, 4.0, 11)]
    rows += [(2, i, 4.0, i) for i in range(1, 5)] + [(2, 15, 3.0, 5)]
    rows += [(3, i, 4.0 if i <= 16 else 1.0, i) for i in range(1, 21)]
    return topn_data(rows)


def by_item_id(users: np.ndarray) -> np.ndarray:
    """Every user ranks items by id, highest first; padding scores highest (excluded)."""
    scores = np.tile(np.arange(N_ITEMS + 1, dtype=np.float64), (len(users), 1))
    scores[:, 0] = 1e9
    return scores


def test_precision_and_recall_at_10_by_hand() -> None:
    data = tiny()
    assert data.n_items == N_ITEMS and data.records.n_train.tolist() == [8, 4, 16]
    result = evaluate_scorer(data, by_item_id, "rated")
    assert result.protocol == NAME and result.evaluated == 3
    assert list(result.metrics) == ["precision@10", "recall@10", "hr@10", "ndcg@10"]
    # top 10 after the train items: user 1 20..11 (hit 20), user 2 20..11 (hit 15 at
    # rank 6), user 3 20..17 (4 hits, then nothing rankable)
    assert result.metrics["precision@10"] == pytest.approx((1 + 1 + 4) / 10 / 3)
    assert result.metrics["recall@10"] == pytest.approx((1 / 3 + 1 + 1) / 3)
    assert result.metrics["hr@10"] == pytest.approx(1.0)
    idcg_3 = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    ndcg = (1 / idcg_3 + 1 / math.log2(7) + 1.0) / 3
    assert result.metrics["ndcg@10"] == pytest.approx(ndcg)


def test_liked_relevance_counts_only_liked_test_items() -> None:
    data = tiny()
    result = evaluate_scorer(data, by_item_id, "liked")
    assert result.evaluated == 1  # users 2 and 3 liked no test item
    assert result.metrics["precision@10"] == pytest.approx(0.1)  # 20 of {9, 20}
    assert result.metrics["recall@10"] == pytest.approx(0.5)


def test_users_restrict_the_evaluation() -> None:
    data = tiny()
    result = evaluate_scorer(data, by_item_id, "rated", users=np.array([1, 2]))
    assert result.evaluated == 2
    assert result.metrics["precision@10"] == pytest.approx((1 + 4) / 10 / 2)
    with pytest.raises(InputError, match="no user with a train record and a liked test item"):
        evaluate_scorer(data, by_item_id, "liked", users=np.array([1, 2]))


def test_q_values_are_scored_on_the_final_observations() -> None:
    data = tiny()
    config = TopNConfig(short_window=3, long_window=2)
    seen: list[np.ndarray] = []

    def q_values(obs: dict[str, np.ndarray]) -> np.ndarray:
        seen.append(obs[OBS_SHORT_ITEMS])
        mask = obs[OBS_ACTION_MASK]  # (b, I + 1)
        return np.where(mask, np.arange(N_ITEMS + 1, dtype=np.float64), -np.inf)

    result = evaluate_q_values(q_values, data, config)
    assert result.metrics == evaluate_scorer(data, by_item_id, "rated").metrics
    short = np.concatenate(seen)
    assert short.tolist() == [[6, 7, 8], [2, 3, 4], [14, 15, 16]]  # the last 3 train items
    liked = evaluate_q_values(q_values, data, TopNConfig(relevance="liked"))
    assert liked.metrics["recall@10"] == pytest.approx(0.5)
    with pytest.raises(InputError, match=r"expected Q-values of shape \(3, 21\)"):
        evaluate_q_values(lambda obs: np.zeros((3, 5)), data, config)


class ByItemIdModule:
    """An RLModule stand-in with RLlib's Q-net API (``compute_q_values``)."""

    def compute_q_values(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        mask = batch["obs"][OBS_ACTION_MASK]  # (b, I + 1) bool tensor
        ids = torch.arange(mask.shape[1], dtype=torch.float32).expand(mask.shape)
        return {"qf_preds": ids.clone()}


def test_a_module_is_evaluated_through_the_protocol(tmp_path: Path) -> None:
    root = write_ml1m_fixture(tmp_path / "movielens-1m")
    env_config = env_config_for("ml1m_topn", str(root))
    data, config = env_config_of(env_config)
    protocol = get_protocol(NAME)
    assert protocol_for_kind("topn") is protocol
    assert protocol.metrics == METRICS and METRICS[:2] == ("precision@10", "recall@10")
    assert protocol.higher_is_better and protocol.headline == "precision@10"
    result = protocol.evaluate_module(ByItemIdModule(), env_config, users=0, seed=0)
    assert list(result.metrics) == list(METRICS)

    def scorer(users: np.ndarray) -> np.ndarray:
        return np.tile(np.arange(data.n_items + 1, dtype=np.float64), (len(users), 1))

    rated = evaluate_scorer(data, scorer, config.relevance)
    liked = evaluate_scorer(data, scorer, "liked")
    for key, value in rated.metrics.items():
        assert result.metrics[key] == pytest.approx(value)
    assert result.metrics["precision@10_liked"] == pytest.approx(liked.metrics["precision@10"])
    assert result.metrics["recall@10_liked"] == pytest.approx(liked.metrics["recall@10"])
    assert result.evaluated == rated.evaluated
    # a plain Q-function is taken as it is
    plain = evaluate_module(
        lambda obs: np.where(obs[OBS_ACTION_MASK], 1.0, 0.0), env_config, users=0, seed=0
    )
    assert set(plain.metrics) == set(METRICS)
    with pytest.raises(InputError, match="expected an RLModule with compute_q_values"):
        evaluate_module(object(), env_config, users=0, seed=0)
