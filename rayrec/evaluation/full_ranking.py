"""The ``full_ranking`` protocol: offline top-k evaluation over logged data.

For each held-out row (a user or a session prefix) a scorer gives one score per item
of the whole pool; items the row has already seen are excluded from its ranking (they
cannot be recommended again), and HR, NDCG, precision, recall and MRR @k are computed
against the row's held-out relevant items (:func:`rayrec.metrics.ranking.ranking_metrics`
semantics). Rows are scored ``batch`` at a time, so the (N, I) score matrix is never
held whole. Item ids index the score columns directly (column 0 is rayrec's padding
id: exclude it, or let the scorer give it ``-inf``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from rayrec.errors import InputError
from rayrec.evaluation.result import EvalResult
from rayrec.metrics.ranking import RANKING_METRICS, ranking_metrics

NAME = "full_ranking"
#: the cut-offs reported by default
DEFAULT_KS = (10,)
#: (row ids of a batch) -> (b, I) scores over the whole item pool
Scorer = Callable[[np.ndarray], np.ndarray]


def metric_names(ks: Sequence[int] = DEFAULT_KS) -> tuple[str, ...]:
    """``hr@10``, ``ndcg@10``, ... for each cut-off (:func:`ranking_metrics`' order)."""
    return tuple(f"{m}@{k}" for m in RANKING_METRICS for k in ks)


def _mask(items: Sequence[np.ndarray], n_items: int) -> np.ndarray:
    """(b, I) boolean mask with each row's item ids set."""
    mask = np.zeros((len(items), n_items), dtype=bool)
    for r, ids in enumerate(items):
        mask[r, np.asarray(ids, dtype=np.int64)] = True
    return mask


def evaluate_full_ranking(
    scorer: Scorer,
    rows: np.ndarray,
    relevant: Sequence[np.ndarray],
    exclude: Sequence[np.ndarray],
    *,
    ks: Sequence[int] = DEFAULT_KS,
    batch: int = 1024,
    data: str = "",
) -> EvalResult:
    """Full-ranking metrics of ``scorer`` over held-out ``rows``.

    Args:
        scorer: row ids (b,) -> scores (b, I) over the whole item pool.
        rows: (N,) the held-out rows' ids, passed to ``scorer`` batch by batch.
        relevant: per row, the item ids held out as relevant (at least one each).
        exclude: per row, the item ids already seen (left out of its ranking).
        ks: the cut-offs.
        batch: rows scored at once.
        data: what the rows are, in words.

    Returns:
        The mean over rows of ``hr@k``, ``ndcg@k``, ``precision@k``, ``recall@k`` and
        ``mrr@k`` for each ``k``; a row whose relevant items were all seen is left out
        (``evaluated`` counts the rows in the means).

    Raises:
        InputError: rows, relevant and exclude of different lengths, or a row with no
            relevant item.
    """
    rows = np.asarray(rows)
    if not len(rows) == len(relevant) == len(exclude):
        raise InputError(
            f"full ranking: expected as many relevant and exclude lists as rows ({len(rows)}),"
            f" got {len(relevant)} and {len(exclude)}"
        )
    empty = [i for i, ids in enumerate(relevant) if len(ids) == 0]
    if empty:
        raise InputError(f"full ranking: row {rows[empty[0]]} has no relevant item")
    if not len(rows):
        raise InputError("full ranking: no rows to evaluate")
    totals = dict.fromkeys(metric_names(ks), 0.0)
    counted = 0  # rows with a relevant item left after exclusion (the means' rows)
    for start in range(0, len(rows), batch):
        sl = slice(start, start + batch)
        scores = np.asarray(scorer(rows[sl]), dtype=np.float64)  # (b, I)
        n_items = scores.shape[1]
        rel = _mask(relevant[sl], n_items)  # (b, I)
        seen = _mask(exclude[sl], n_items)  # (b, I)
        n_rows = int((rel & ~seen).any(axis=1).sum())
        if not n_rows:
            continue
        part = ranking_metrics(scores, rel, ks, exclude=seen)
        for key, value in part.items():
            totals[key] += value * n_rows
        counted += n_rows
    if not counted:
        raise InputError("full ranking: every relevant item is among the row's seen items")
    metrics = {key: value / counted for key, value in totals.items()}
    return EvalResult(protocol=NAME, metrics=metrics, evaluated=counted, data=data)
