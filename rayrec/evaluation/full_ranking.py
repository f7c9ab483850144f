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

NAME = "full_ranking"
#: the cut-offs reported by default
DEFAULT_KS = (10,)
METRIC_NAMES = ("hr", "ndcg", "precision", "recall", "mrr")
#: (row ids of a batch) -> (b, I) scores over the whole item pool
Scorer = Callable[[np.ndarray], np.ndarray]


def metric_names(ks: Sequence[int] = DEFAULT_KS) -> tuple[str, ...]:
    """``hr@10``, ``ndcg@10``, ... for each cut-off."""
    return tuple(f"{m}@{k}" for k in ks for m in METRIC_NAMES)


# ADAPTER(issue 11): replaced by rayrec.metrics.ranking.ranking_metrics when the
# metrics package lands on this branch (same names and semantics).
def _ranking_metrics(
    scores: np.ndarray, relevant: np.ndarray, ks: Sequence[int], exclude: np.ndarray
) -> dict[str, float]:
    masked = np.where(exclude, -np.inf, scores)  # (N, I)
    order = np.argsort(-masked, axis=1, kind="stable")  # (N, I)
    hits = np.take_along_axis(relevant, order, axis=1)  # (N, I) relevance by rank
    n_rel = relevant.sum(axis=1)  # (N,)
    discount = 1.0 / np.log2(np.arange(2, scores.shape[1] + 2))  # (I,)
    out: dict[str, float] = {}
    for k in ks:
        top = hits[:, :k]  # (N, k)
        n_hit = top.sum(axis=1)  # (N,)
        dcg = (top * discount[:k]).sum(axis=1)  # (N,)
        ideal = np.cumsum(discount[:k])[np.minimum(n_rel, k) - 1]  # (N,)
        first = np.where(top.any(axis=1), top.argmax(axis=1) + 1, np.inf)  # (N,)
        out[f"hr@{k}"] = float(np.mean(n_hit > 0))
        out[f"ndcg@{k}"] = float(np.mean(dcg / ideal))
        out[f"precision@{k}"] = float(np.mean(n_hit / k))
        out[f"recall@{k}"] = float(np.mean(n_hit / n_rel))
        out[f"mrr@{k}"] = float(np.mean(1.0 / first))
    return out


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
        ``mrr@k`` for each ``k``.

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
    totals: dict[str, float] = {}
    for start in range(0, len(rows), batch):
        sl = slice(start, start + batch)
        scores = np.asarray(scorer(rows[sl]), dtype=np.float64)  # (b, I)
        n_items = scores.shape[1]
        part = _ranking_metrics(
            scores, _mask(relevant[sl], n_items), ks, _mask(exclude[sl], n_items)
        )
        for key, value in part.items():
            totals[key] = totals.get(key, 0.0) + value * len(scores)
    metrics = {key: value / len(rows) for key, value in totals.items()}
    return EvalResult(protocol=NAME, metrics=metrics, evaluated=len(rows), data=data)
