"""The SQN next-item metrics (Xin et al., SIGIR 2020): one target per logged event,
its rank among all N items, HR@k and NDCG@k over click and purchase targets apart.

Pure numpy, shared by the ``next_item`` evaluation protocol
(:mod:`rayrec.evaluation.next_item`, which documents the protocol) and the offline
learners' validation (:mod:`rayrec.algorithms.sqn.sqn`). Scores are (b, N + 1) rows
over item ids 0..N; column 0 is padding and is never ranked. Ties: the target's
1-based rank is ``1 + #{higher} + #{equal with a smaller id}`` (a stable descending
sort, as :mod:`rayrec.metrics.ranking`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rayrec.errors import InputError

#: the cut-offs of the SQN papers
KS = (5, 10, 20)
#: the target kinds, in metric order: ``is_buy`` false, then true
KINDS = ("click", "purchase")


def check_ks(ks: Sequence[int]) -> tuple[int, ...]:
    """``ks`` as a tuple of distinct integers >= 1, in order."""
    out = tuple(ks)
    if not out or any(
        isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1 for k in out
    ):
        raise InputError(f"next_item: ks: expected integers >= 1, got {ks!r}")
    if len(set(out)) != len(out):
        raise InputError(f"next_item: ks: expected distinct cut-offs, got {ks!r}")
    return tuple(int(k) for k in out)


def metric_names(ks: Sequence[int] = KS) -> tuple[str, ...]:
    """``click_hr@k``, ``click_ndcg@k`` for each k, the same for ``purchase_``, then
    ``total@<largest k>``."""
    ks = check_ks(ks)
    per_kind = tuple(f"{kind}_{m}@{k}" for kind in KINDS for k in ks for m in ("hr", "ndcg"))
    return (*per_kind, f"total@{max(ks)}")


#: the metrics at :data:`KS`, in order
NEXT_ITEM_METRICS: tuple[str, ...] = metric_names()


def check_scores(scores: np.ndarray, n_rows: int, n_items: int | None) -> np.ndarray:
    """The (b, N) ranked block of a (b, N + 1) score array (column 0 dropped), checked:
    2-D, ``n_rows`` rows, ``n_items + 1`` columns where given, no NaN in columns 1..N."""
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape[0] != n_rows or scores.shape[1] < 2:
        raise InputError(
            f"next_item: scores: expected shape ({n_rows}, N + 1) with N >= 1, got {scores.shape}"
        )
    if n_items is not None and scores.shape[1] != n_items + 1:
        raise InputError(
            f"next_item: scores: expected {n_items + 1} columns (N + 1, N = {n_items}),"
            f" got {scores.shape[1]}"
        )
    if not (np.issubdtype(scores.dtype, np.floating) or np.issubdtype(scores.dtype, np.integer)):
        raise InputError(f"next_item: scores: expected real numbers, got dtype {scores.dtype}")
    ranked = scores[:, 1:]  # (b, N)
    if np.issubdtype(ranked.dtype, np.floating):
        bad = np.flatnonzero(np.isnan(ranked.min(axis=1)))  # min propagates NaN
        if len(bad):
            raise InputError(
                f"next_item: scores: expected no NaN in columns 1..N, got NaN in row {bad[0]}"
                f" ({len(bad)} rows)"
            )
    return ranked


def check_targets(targets: np.ndarray, n_items: int | None) -> np.ndarray:
    """``targets`` as (b,) int64 item ids in 1..N (N where known)."""
    targets = np.asarray(targets)
    if targets.ndim != 1 or not np.issubdtype(targets.dtype, np.integer):
        raise InputError(
            f"next_item: targets: expected a 1-D array of integer item ids, got shape"
            f" {targets.shape} dtype {targets.dtype}"
        )
    top = n_items if n_items is not None else np.iinfo(np.int64).max
    bad = np.flatnonzero((targets < 1) | (targets > top))
    if len(bad):
        expected = "1..N" if n_items is None else f"1..{n_items}"
        raise InputError(
            f"next_item: targets: expected item ids {expected} (0 is padding), got"
            f" {targets[bad[0]]} at row {bad[0]}"
        )
    return targets.astype(np.int64, copy=False)


def check_is_buy(is_buy: np.ndarray, n_rows: int) -> np.ndarray:
    """``is_buy`` as (b,) bool (bools, or integers 0 / 1)."""
    is_buy = np.asarray(is_buy)
    if is_buy.shape != (n_rows,):
        raise InputError(
            f"next_item: is_buy: expected shape ({n_rows},) (one flag per target),"
            f" got {is_buy.shape}"
        )
    if is_buy.dtype != bool:
        if not np.issubdtype(is_buy.dtype, np.integer) or not np.isin(is_buy, (0, 1)).all():
            raise InputError(
                f"next_item: is_buy: expected booleans (or 0 / 1), got dtype {is_buy.dtype}"
            )
        is_buy = is_buy.astype(bool)
    return is_buy


def checked_ranks(ranked: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(b,) ranks of checked inputs: ``ranked`` (b, N) the score block of items 1..N,
    ``targets`` (b,) in 1..N."""
    n_items = ranked.shape[1]
    column = targets - 1  # (b,) index into the ranked block
    target_score = ranked[np.arange(len(targets)), column][:, None]  # (b, 1)
    higher = np.count_nonzero(ranked > target_score, axis=1)  # (b,)
    equal = np.count_nonzero(ranked == target_score, axis=1)  # (b,) the target included
    ranks = (1 + higher).astype(np.int64)  # (b,)
    tied = np.flatnonzero(equal > 1)  # rows where another item shares the target's score
    if len(tied):
        before = np.arange(n_items)[None, :] < column[tied, None]  # (t, N) smaller ids
        ranks[tied] += np.count_nonzero((ranked[tied] == target_score[tied]) & before, axis=1)
    return ranks


def target_ranks(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(b,) 1-based rank of each target among items 1..N of its score row.

    ``rank = 1 + #{j : s_j > s_t} + #{j < t : s_j = s_t}`` over j in 1..N (column 0,
    padding, is never ranked): a stable descending sort, ties by item id, lower first.

    Args:
        scores: (b, N + 1) one row per target; column 0 is ignored.
        targets: (b,) item ids in 1..N.

    Raises:
        InputError: a shape mismatch, a target outside 1..N, or NaN in columns 1..N.
    """
    targets = check_targets(targets, None)
    ranked = check_scores(scores, len(targets), None)  # (b, N)
    return checked_ranks(ranked, check_targets(targets, ranked.shape[1]))


@dataclass
class NextItemSums:
    """Running sums of one evaluation: per kind (click, purchase) and cut-off, the sum
    of HR and of NDCG over targets, and the target counts.

    Args:
        ks: the cut-offs.
        hr: (2, K) sums of ``1[rank ≤ k]``, row 0 click targets, row 1 purchase.
        ndcg: (2, K) sums of ``1[rank ≤ k] / log2(rank + 1)``.
        count: (2,) click and purchase targets.
    """

    ks: tuple[int, ...]
    hr: np.ndarray
    ndcg: np.ndarray
    count: np.ndarray

    @classmethod
    def zeros(cls, ks: Sequence[int]) -> NextItemSums:
        ks = check_ks(ks)
        return cls(ks, np.zeros((2, len(ks))), np.zeros((2, len(ks))), np.zeros(2, np.int64))

    def add(self, other: NextItemSums) -> None:
        """Add another batch's sums (same cut-offs)."""
        self.hr += other.hr
        self.ndcg += other.ndcg
        self.count += other.count

    @property
    def targets(self) -> int:
        """All targets counted."""
        return int(self.count.sum())

    def metrics(self) -> dict[str, float]:
        """The means by name (:func:`metric_names` order); NaN for a kind with no
        target, and ``total@<largest k>`` the sum of the largest cut-off's defined
        means."""
        with np.errstate(invalid="ignore", divide="ignore"):
            hr = np.where(self.count[:, None] > 0, self.hr / self.count[:, None], np.nan)
            ndcg = np.where(self.count[:, None] > 0, self.ndcg / self.count[:, None], np.nan)
        out: dict[str, float] = {}
        for i, kind in enumerate(KINDS):
            for j, k in enumerate(self.ks):
                out[f"{kind}_hr@{k}"] = float(hr[i, j])
                out[f"{kind}_ndcg@{k}"] = float(ndcg[i, j])
        last = int(np.argmax(self.ks))
        parts = np.concatenate([hr[:, last], ndcg[:, last]])  # (4,)
        defined = parts[~np.isnan(parts)]
        out[f"total@{self.ks[last]}"] = float(defined.sum()) if len(defined) else float("nan")
        return out


def sums_from_ranks(ranks: np.ndarray, is_buy: np.ndarray, ks: Sequence[int] = KS) -> NextItemSums:
    """The HR / NDCG sums and counts of targets of 1-based ``ranks`` (b,) and purchase
    flags ``is_buy`` (b,)."""
    ks = check_ks(ks)
    ranks = np.asarray(ranks, dtype=np.int64)
    is_buy = check_is_buy(is_buy, len(ranks))
    cut = np.asarray(ks)[None, :]  # (1, K)
    hit = (ranks[:, None] <= cut).astype(np.float64)  # (b, K)
    gain = hit / np.log2(ranks[:, None] + 1.0)  # (b, K)
    kind = np.stack([~is_buy, is_buy]).astype(np.float64)  # (2, b) click, purchase
    count = np.array([np.count_nonzero(~is_buy), np.count_nonzero(is_buy)])  # (2,)
    return NextItemSums(ks, kind @ hit, kind @ gain, count.astype(np.int64))


def next_item_metrics(
    scores: np.ndarray, targets: np.ndarray, is_buy: np.ndarray, ks: Sequence[int] = KS
) -> NextItemSums:
    """The sums and counts of one batch: scores (b, N + 1), targets (b,) in 1..N,
    is_buy (b,). :meth:`NextItemSums.metrics` of the added batches gives the means."""
    targets = np.asarray(targets)
    check_is_buy(is_buy, len(targets))
    return sums_from_ranks(target_ranks(scores, targets), is_buy, ks)
