"""Ranking metrics @k: hand-computed cases, then a brute-force per-row loop on random data."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from rayrec.metrics.ranking import (
    hit_rate_at_k,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
    top_k,
)

Metric = Callable[..., np.ndarray]
LOG2_3 = math.log2(3.0)

# One row, five items. Ranking by score, ties by index: 1 (.9), 3 (.9), 2 (.5), 4 (.3), 0 (.1).
SCORES = np.array([[0.1, 0.9, 0.5, 0.9, 0.3]])
RELEVANT = np.array([[True, False, True, False, False]])  # items 0 and 2


def _mask(*items: int, n: int = 5) -> np.ndarray:
    out = np.zeros((1, n), dtype=bool)
    out[0, list(items)] = True
    return out


def _all(
    scores: np.ndarray, relevant: np.ndarray, k: int, exclude: np.ndarray | None = None
) -> dict[str, float]:
    fns: dict[str, Metric] = {
        "hr": hit_rate_at_k,
        "ndcg": ndcg_at_k,
        "precision": precision_at_k,
        "recall": recall_at_k,
        "mrr": mrr_at_k,
    }
    return {name: float(fn(scores, relevant, k, exclude)[0]) for name, fn in fns.items()}


def test_top_k_breaks_ties_by_index() -> None:
    np.testing.assert_array_equal(top_k(SCORES, 3), [[1, 3, 2]])
    np.testing.assert_array_equal(top_k(SCORES, 5), [[1, 3, 2, 4, 0]])
    np.testing.assert_array_equal(top_k(np.zeros((1, 4)), 2), [[0, 1]])
    # excluded items come last, whatever their score
    np.testing.assert_array_equal(top_k(SCORES, 5, _mask(1)), [[3, 2, 4, 0, 1]])


def test_hand_values_k3() -> None:
    # top 3 = [1, 3, 2]: one hit (item 2) at rank 3; |R| = 2
    # DCG = 1/log2(4) = 0.5; IDCG = 1/log2(2) + 1/log2(3) (min(|R|, k) = 2 terms)
    m = _all(SCORES, RELEVANT, 3)
    assert m["hr"] == 1.0
    assert m["precision"] == pytest.approx(1 / 3)
    assert m["recall"] == pytest.approx(1 / 2)
    assert m["mrr"] == pytest.approx(1 / 3)
    assert m["ndcg"] == pytest.approx(0.5 / (1.0 + 1.0 / LOG2_3))


def test_exclusion_removes_item_from_ranking() -> None:
    # item 1 excluded: top 3 = [3, 2, 4], hit at rank 2; DCG = 1/log2(3)
    m = _all(SCORES, RELEVANT, 3, _mask(1))
    assert m["hr"] == 1.0
    assert m["precision"] == pytest.approx(1 / 3)
    assert m["recall"] == pytest.approx(1 / 2)
    assert m["mrr"] == pytest.approx(1 / 2)
    assert m["ndcg"] == pytest.approx((1.0 / LOG2_3) / (1.0 + 1.0 / LOG2_3))


def test_excluded_relevant_item_is_not_retrievable() -> None:
    # item 2 excluded: R = {0} only. top 3 = [1, 3, 4]: no hit.
    m = _all(SCORES, RELEVANT, 3, _mask(2))
    assert m == {"hr": 0.0, "ndcg": 0.0, "precision": 0.0, "recall": 0.0, "mrr": 0.0}
    # top 4 = [1, 3, 4, 0]: hit at rank 4; recall 1/|R| = 1/1; IDCG = 1 (one relevant)
    m = _all(SCORES, RELEVANT, 4, _mask(2))
    assert m["hr"] == 1.0
    assert m["precision"] == pytest.approx(1 / 4)
    assert m["recall"] == pytest.approx(1.0)
    assert m["mrr"] == pytest.approx(1 / 4)
    assert m["ndcg"] == pytest.approx(1.0 / math.log2(5.0))


def test_rows_without_retrievable_relevant_item_are_nan() -> None:
    scores = np.vstack([SCORES, SCORES, SCORES])
    relevant = np.vstack([RELEVANT, _mask(), _mask(4)])  # row 1: none; row 2: item 4 ...
    exclude = np.vstack([_mask(), _mask(), _mask(4)])  # ... which is excluded
    for fn in (hit_rate_at_k, ndcg_at_k, precision_at_k, recall_at_k, mrr_at_k):
        values = fn(scores, relevant, 3, exclude)
        assert values.shape == (3,)
        assert not math.isnan(values[0]) and math.isnan(values[1]) and math.isnan(values[2])
    # the means leave those rows out: only row 0 counts
    m = ranking_metrics(scores, relevant, ks=(3,), exclude=exclude)
    assert m["hr@3"] == 1.0 and m["mrr@3"] == pytest.approx(1 / 3)
    # no row left: NaN
    m = ranking_metrics(scores[1:2], relevant[1:2], ks=(3,))
    assert all(math.isnan(v) for v in m.values())


def test_k_beyond_pool_and_fewer_rankable_items() -> None:
    # k = 7 > I = 5: all five ranked, precision still divided by k
    m = _all(SCORES, RELEVANT, 7)
    assert m["hr"] == 1.0 and m["recall"] == 1.0
    assert m["precision"] == pytest.approx(2 / 7)
    # ranks of 2 and 0 are 3 and 5: DCG = 1/log2(4) + 1/log2(6); IDCG over min(2, 7) = 2
    assert m["ndcg"] == pytest.approx((0.5 + 1 / math.log2(6.0)) / (1.0 + 1.0 / LOG2_3))
    # only items 0 and 4 rankable: top 3 = [4, 0, <excluded>]; relevant excluded 2 never hits
    m = _all(SCORES, RELEVANT, 3, _mask(1, 2, 3))
    assert m["mrr"] == pytest.approx(1 / 2)
    assert m["recall"] == 1.0 and m["precision"] == pytest.approx(1 / 3)


def test_minus_inf_score_ranks_before_excluded_items() -> None:
    # item 0 excluded, item 1 scored -inf: item 1 still takes rank 1
    scores = np.array([[0.0, -np.inf]])
    m = _all(scores, _mask(1, n=2), 1, _mask(0, n=2))
    assert m["hr"] == 1.0


def test_ranking_metrics_keys_and_means() -> None:
    # row 0 as above; row 1: scores rank 2, 0, 1, 3, 4 and relevant {0}: hit at rank 2
    scores = np.vstack([SCORES, [[0.5, 0.2, 0.8, 0.1, 0.0]]])
    relevant = np.vstack([RELEVANT, _mask(0)])
    m = ranking_metrics(scores, relevant, ks=(1, 3))
    assert list(m) == [
        f"{name}@{k}" for name in ("hr", "ndcg", "precision", "recall", "mrr") for k in (1, 3)
    ]
    assert m["hr@1"] == 0.0  # rank-1 items 1 and 2 are not relevant
    assert m["hr@3"] == 1.0
    assert m["mrr@3"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert m["recall@3"] == pytest.approx((1 / 2 + 1) / 2)
    assert m["precision@3"] == pytest.approx(1 / 3)
    # row 1: DCG 1/log2(3), IDCG 1
    assert m["ndcg@3"] == pytest.approx((0.5 / (1.0 + 1.0 / LOG2_3) + 1.0 / LOG2_3) / 2)


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_bad_k_is_refused(k: object) -> None:
    with pytest.raises(ValueError, match="k: expected an integer >= 1"):
        hit_rate_at_k(SCORES, RELEVANT, k)  # type: ignore[arg-type]


def test_bad_shapes_and_nan_are_refused() -> None:
    with pytest.raises(ValueError, match="relevant: expected shape"):
        ndcg_at_k(SCORES, RELEVANT[:, :3], 2)
    with pytest.raises(ValueError, match="exclude: expected shape"):
        ndcg_at_k(SCORES, RELEVANT, 2, np.zeros((2, 5), bool))
    with pytest.raises(ValueError, match="2-D"):
        ndcg_at_k(SCORES[0], RELEVANT[0], 2)
    with pytest.raises(ValueError, match="NaN"):
        ndcg_at_k(np.array([[np.nan, 1.0]]), np.array([[True, False]]), 1)
    # a NaN on an excluded item is never looked at
    ndcg_at_k(np.array([[np.nan, 1.0]]), np.array([[False, True]]), 1, np.array([[True, False]]))


# ------------------------------------------------------------------ brute force
def _brute_force_row(
    scores: np.ndarray, relevant: np.ndarray, exclude: np.ndarray, k: int
) -> dict[str, float]:
    """One row the slow way: sort the non-excluded items by (-score, index)."""
    items = sorted((i for i in range(len(scores)) if not exclude[i]), key=lambda i: (-scores[i], i))
    retrievable = {i for i in range(len(scores)) if relevant[i] and not exclude[i]}
    if not retrievable:
        return dict.fromkeys(("hr", "ndcg", "precision", "recall", "mrr"), math.nan)
    ranked = items[:k]
    hit_ranks = [r + 1 for r, i in enumerate(ranked) if i in retrievable]
    dcg = sum(1.0 / math.log2(r + 1) for r in hit_ranks)
    idcg = sum(1.0 / math.log2(r + 1) for r in range(1, min(len(retrievable), k) + 1))
    return {
        "hr": 1.0 if hit_ranks else 0.0,
        "ndcg": dcg / idcg,
        "precision": len(hit_ranks) / k,
        "recall": len(hit_ranks) / len(retrievable),
        "mrr": 1.0 / hit_ranks[0] if hit_ranks else 0.0,
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_brute_force_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, n_items = 60, 25
    scores = rng.integers(0, 6, (n, n_items)).astype(np.float64)  # many ties
    scores[rng.random((n, n_items)) < 0.05] = -np.inf
    relevant = rng.random((n, n_items)) < 0.15
    exclude = rng.random((n, n_items)) < 0.3
    exclude[0] = True  # a row with nothing rankable
    exclude[1, 3:] = True  # a row with fewer rankable items than most k
    ks = (1, 3, 5, 10, 25, 30)
    fns: dict[str, Metric] = {
        "hr": hit_rate_at_k,
        "ndcg": ndcg_at_k,
        "precision": precision_at_k,
        "recall": recall_at_k,
        "mrr": mrr_at_k,
    }
    means = ranking_metrics(scores, relevant, ks=ks, exclude=exclude)
    for k in ks:
        expected = [_brute_force_row(scores[r], relevant[r], exclude[r], k) for r in range(n)]
        for name, fn in fns.items():
            want = np.array([e[name] for e in expected])
            np.testing.assert_allclose(
                fn(scores, relevant, k, exclude), want, rtol=1e-12, err_msg=f"{name}@{k}"
            )
            assert means[f"{name}@{k}"] == pytest.approx(np.nanmean(want), rel=1e-12)
        top = top_k(scores, k, exclude)
        for r in range(n):
            order = sorted(
                (i for i in range(n_items) if not exclude[r, i]),
                key=lambda i, r=r: (-scores[r, i], i),
            )[:k]
            np.testing.assert_array_equal(top[r, : len(order)], order)
