"""Binary classification metrics: ROC AUC and log-loss.

Both take flat arrays of equal length: ``labels`` (N,) in {0, 1} (any dtype whose
nonzero means positive for :func:`auc`), and scores or probabilities (N,).
"""

from __future__ import annotations

import numpy as np


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values`` (N,), tied values sharing the mean of their ranks.

    The ranks of a tie group at sorted positions ``first..last`` (0-based) are all
    ``(first + last + 2) / 2`` — a half-integer, exact in float64 — the same numbers
    as ``pandas.Series.rank(method="average")`` for values without NaN.
    """
    values = np.asarray(values)
    if len(values) == 0:
        return np.zeros(0, dtype=np.float64)
    order = np.argsort(values, kind="stable")  # (N,)
    ordered = values[order]  # (N,)
    starts = np.r_[True, ordered[1:] != ordered[:-1]]  # (N,) first of each tie group
    group = np.cumsum(starts) - 1  # (N,) tie-group id in sorted order
    first = np.flatnonzero(starts)  # (G,)
    last = np.r_[first[1:], len(values)] - 1  # (G,)
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = (first + last + 2)[group] / 2.0
    return ranks


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve by the Mann–Whitney statistic, ties averaged.

    ``AUC = (Σ_{i positive} rank_i − P (P + 1) / 2) / (P · Q)`` with 1-based average
    ranks of ``scores`` over all N units (:func:`_average_ranks`), P positives and Q
    negatives: the probability that a random positive scores above a random
    negative, a tie counting one half.

    Args:
        labels: (N,) nonzero = positive.
        scores: (N,) any real scores (higher = more likely positive).

    Returns:
        The AUC, or NaN when one class is absent (or a score is NaN).
    """
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores)
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0 or np.isnan(scores).any():
        return float("nan")
    ranks = _average_ranks(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def log_loss(labels: np.ndarray, probs: np.ndarray, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy ``−mean(y log p + (1 − y) log(1 − p))``.

    Args:
        labels: (N,) targets y in [0, 1].
        probs: (N,) predicted probabilities p, clipped to ``[eps, 1 − eps]`` so that a
            certain and wrong prediction costs ``−log eps`` instead of infinity.
    """
    p = np.clip(probs, eps, 1 - eps)
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))
