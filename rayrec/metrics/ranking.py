"""Top-k ranking metrics over a full item pool: HR, NDCG, precision, recall, MRR @k.

Conventions shared by every function here:

- ``scores`` (N, I) float: one row per user (or query), one column per item of the
  pool; a higher score ranks first. NaN scores are refused (``ValueError``).
- ``relevant`` (N, I) bool: the row's relevant (held-out) items, one or several.
- ``exclude`` (N, I) bool or None: items masked out of the row's ranking (e.g. items
  already seen in training). An excluded item is never ranked: it can take no top-k
  position and is never a hit. **A relevant item that is excluded is not
  retrievable and is dropped from the row's relevant set**: it counts neither as a
  hit nor in recall's denominator nor in the ideal DCG.
- **Ties** are broken by item index, lower first: the ranking is a stable argsort of
  ``−score`` over the non-excluded items. A score of −inf ranks after every finite
  score and before no excluded item.
- The ranked list is the first ``min(k, #non-excluded items)`` items. With R the
  row's retrievable relevant items (relevant and not excluded) and ``hit_j`` whether
  the item at rank j (1-based) is in R:

  - ``HR@k = 1[Σ_{j≤k} hit_j > 0]``
  - ``precision@k = Σ_{j≤k} hit_j / k`` (always divided by k, even when fewer than
    k items are rankable)
  - ``recall@k = Σ_{j≤k} hit_j / |R|``
  - ``MRR@k = 1 / (first j ≤ k with hit_j)``, 0 if none
  - ``NDCG@k = DCG / IDCG`` with binary gains, ``DCG = Σ_{j≤k} hit_j / log2(j + 1)``
    and ``IDCG = Σ_{j=1}^{min(|R|, k)} 1 / log2(j + 1)``

- **Rows with no retrievable relevant item** (|R| = 0) get NaN from the per-row
  functions and are left out of the means of :func:`ranking_metrics` (a mean over
  no row is NaN).

Top-k selection is vectorised (``np.argpartition`` for the k-th key of each row,
then a stable sort of the k selected items); no Python loop over rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

#: the metrics of :func:`ranking_metrics`, in key order
RANKING_METRICS = ("hr", "ndcg", "precision", "recall", "mrr")


def _check(
    scores: np.ndarray, relevant: np.ndarray, exclude: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate shapes; return float scores, the retrievable set R and the exclusion mask."""
    scores = np.asarray(scores, dtype=np.float64)
    relevant = np.asarray(relevant, dtype=bool)
    if scores.ndim != 2:
        raise ValueError(f"scores: expected a 2-D (N, I) array, got shape {scores.shape}")
    if relevant.shape != scores.shape:
        raise ValueError(
            f"relevant: expected shape {scores.shape} (as scores), got {relevant.shape}"
        )
    if exclude is None:
        excluded = np.zeros(scores.shape, dtype=bool)
    else:
        excluded = np.asarray(exclude, dtype=bool)
        if excluded.shape != scores.shape:
            raise ValueError(
                f"exclude: expected shape {scores.shape} (as scores), got {excluded.shape}"
            )
    if np.isnan(scores[~excluded]).any():
        raise ValueError("scores: expected no NaN among non-excluded items, got NaN")
    return scores, relevant & ~excluded, excluded


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k: expected an integer >= 1, got {k!r}")
    return int(k)


def top_k(scores: np.ndarray, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """(N, min(k, I)) item indices of each row's top k, best first.

    Ranking key: excluded items last, then ``−score``, then item index (lower first).
    Positions beyond a row's non-excluded items hold excluded items; callers that
    score hits must mask them (the metric functions do, through R).
    """
    scores, _, excluded = _check(scores, np.zeros(np.shape(scores), dtype=bool), exclude)
    n, n_items = scores.shape
    k = min(_check_k(k), n_items)
    if n == 0 or n_items == 0:
        return np.zeros((n, k), dtype=np.int64)
    key = -scores  # (N, I) smaller is better
    # −inf scores rank last among the rankable items, excluded items after them.
    key[key == np.inf] = np.finfo(np.float64).max
    key[excluded] = np.inf
    # The k-th smallest key per row; all items below it are in, ties at it are
    # filled by lowest index — the set a stable sort would take.
    kth_idx = np.argpartition(key, k - 1, axis=1)[:, k - 1 : k]  # (N, 1)
    kth = np.take_along_axis(key, kth_idx, axis=1)  # (N, 1)
    below = key < kth  # (N, I)
    at = key == kth  # (N, I)
    need = k - below.sum(axis=1, keepdims=True)  # (N, 1) ties to take
    chosen = below | (at & (np.cumsum(at, axis=1) <= need))  # (N, I), k per row
    items = np.nonzero(chosen)[1].reshape(n, k)  # (N, k) ascending index
    order = np.argsort(np.take_along_axis(key, items, axis=1), axis=1, kind="stable")  # (N, k)
    return np.take_along_axis(items, order, axis=1)  # (N, k)


def _hits(
    scores: np.ndarray, relevant: np.ndarray, k: int, exclude: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """(N, min(k, I)) bool hit at each rank, and (N,) |R| per row."""
    scores, retrievable, excluded = _check(scores, relevant, exclude)
    items = top_k(scores, k, excluded)  # (N, k')
    hits = np.take_along_axis(retrievable, items, axis=1)  # (N, k')
    return hits, retrievable.sum(axis=1)


def _per_row(values: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """NaN where the row has no retrievable relevant item."""
    return np.where(n_relevant > 0, values, np.nan)


def _discounts(k: int) -> np.ndarray:
    """(k,) ``1 / log2(j + 1)`` for ranks j = 1..k."""
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def _hr(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    return _per_row(np.any(hits, axis=1).astype(np.float64), n_rel)


def _precision(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    return _per_row(hits.sum(axis=1) / k, n_rel)


def _recall(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    return _per_row(hits.sum(axis=1) / np.maximum(n_rel, 1), n_rel)


def _mrr(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    first = hits.argmax(axis=1)  # (N,) 0-based rank of the first hit (0 if none)
    return _per_row(np.where(hits.any(axis=1), 1.0 / (first + 1), 0.0), n_rel)


def _ndcg(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    disc = _discounts(k)  # (k,)
    dcg = (hits * disc[: hits.shape[1]]).sum(axis=1)  # (N,)
    ideal = np.r_[0.0, np.cumsum(disc)]  # (k + 1,) IDCG for 0..k relevant items
    idcg = ideal[np.minimum(n_rel, k)]  # (N,)
    return _per_row(dcg / np.where(idcg > 0, idcg, 1.0), n_rel)


_METRIC_FNS: dict[str, Callable[[np.ndarray, np.ndarray, int], np.ndarray]] = {
    "hr": _hr,
    "ndcg": _ndcg,
    "precision": _precision,
    "recall": _recall,
    "mrr": _mrr,
}


def hit_rate_at_k(
    scores: np.ndarray, relevant: np.ndarray, k: int, exclude: np.ndarray | None = None
) -> np.ndarray:
    """(N,) HR@k per row: 1.0 if a retrievable relevant item is in the top k, else 0.0;
    NaN for rows without one. See the module docstring for the conventions."""
    hits, n_rel = _hits(scores, relevant, k, exclude)
    return _hr(hits, n_rel, _check_k(k))


def ndcg_at_k(
    scores: np.ndarray, relevant: np.ndarray, k: int, exclude: np.ndarray | None = None
) -> np.ndarray:
    """(N,) NDCG@k per row (binary gains, ``log2(rank + 1)`` discount, ideal DCG over
    ``min(|R|, k)`` items); NaN for rows without a retrievable relevant item."""
    hits, n_rel = _hits(scores, relevant, k, exclude)
    return _ndcg(hits, n_rel, _check_k(k))


def precision_at_k(
    scores: np.ndarray, relevant: np.ndarray, k: int, exclude: np.ndarray | None = None
) -> np.ndarray:
    """(N,) precision@k per row: hits in the top k divided by k; NaN for rows without
    a retrievable relevant item."""
    hits, n_rel = _hits(scores, relevant, k, exclude)
    return _precision(hits, n_rel, _check_k(k))


def recall_at_k(
    scores: np.ndarray, relevant: np.ndarray, k: int, exclude: np.ndarray | None = None
) -> np.ndarray:
    """(N,) recall@k per row: hits in the top k divided by |R| (the retrievable
    relevant items); NaN for rows with |R| = 0."""
    hits, n_rel = _hits(scores, relevant, k, exclude)
    return _recall(hits, n_rel, _check_k(k))


def mrr_at_k(
    scores: np.ndarray, relevant: np.ndarray, k: int, exclude: np.ndarray | None = None
) -> np.ndarray:
    """(N,) MRR@k per row: 1 / rank of the first hit within the top k, 0.0 if none;
    NaN for rows without a retrievable relevant item."""
    hits, n_rel = _hits(scores, relevant, k, exclude)
    return _mrr(hits, n_rel, _check_k(k))


def ranking_metrics(
    scores: np.ndarray,
    relevant: np.ndarray,
    ks: Sequence[int] = (5, 10, 20),
    exclude: np.ndarray | None = None,
) -> dict[str, float]:
    """Means over rows of HR, NDCG, precision, recall and MRR at each k in ``ks``.

    The ranking is computed once, for the largest k. Rows without a retrievable
    relevant item are left out of every mean; with no row left, each value is NaN.

    Returns:
        ``{"hr@5": ..., "hr@10": ..., "ndcg@5": ..., ..., "mrr@20": ...}``: grouped by
        metric in the order of :data:`RANKING_METRICS`, then by k in the order given.
    """
    ks = [_check_k(k) for k in ks]
    if not ks:
        raise ValueError("ks: expected at least one k, got none")
    hits, n_rel = _hits(scores, relevant, max(ks), exclude)  # (N, k'), (N,)
    rows = n_rel > 0
    out: dict[str, float] = {}
    for name in RANKING_METRICS:
        for k in ks:
            values = _METRIC_FNS[name](hits[rows, :k], n_rel[rows], k)
            out[f"{name}@{k}"] = float(values.mean()) if len(values) else float("nan")
    return out
