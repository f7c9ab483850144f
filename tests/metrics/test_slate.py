"""Coverage, intra-list diversity, slate overlap and the session summary on
hand-computed cases (the overlap also against a brute-force loop)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rayrec.metrics.slate import (
    coverage,
    intra_list_diversity,
    overlap_pairs,
    session_metrics,
    slate_overlap,
)

# item 0: (1, 0), 1: (0, 1), 2: (1, 1), 3: (2, 0), 4: (0, 0)
VECTORS = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0], [0.0, 0.0]])


def test_coverage_counts_unique_ids() -> None:
    # ids shown: {1, 2, 3} of 10 -> 0.3
    assert coverage(np.array([[1, 2], [2, 3], [3, 1]]), 10) == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("slates", "expected"),
    [
        ([[0, 1]], 1.0),  # orthogonal: cos 0
        ([[0, 3]], 0.0),  # same direction: cos 1
        ([[0, 1], [0, 3]], 0.5),  # mean over slates of 1 and 0
        ([[0, 2]], 1.0 - 1.0 / math.sqrt(2.0)),  # cos 45° = 1/√2
        # ordered pairs: cos(0,1)=0, cos(0,2)=cos(1,2)=1/√2, each twice -> 2√2 / 6
        ([[0, 1, 2]], 1.0 - math.sqrt(2.0) / 3.0),
        ([[0, 0]], 0.0),  # a repeated item is a pair with cos 1
        ([[0, 4]], 1.0),  # a zero vector has cos 0 with everything
        ([[2]], 0.0),  # K < 2
    ],
)
def test_intra_list_diversity_hand_values(slates: list[list[int]], expected: float) -> None:
    assert intra_list_diversity(np.array(slates), VECTORS) == pytest.approx(expected)


def test_session_metrics_hand_values_and_key_order() -> None:
    total = np.array([1.0, 2.0, 6.0])
    depth = np.array([1, 2, 3])
    slates = np.array([[1, 2], [2, 3], [3, 4], [4, 1], [1, 2], [2, 3]])
    firsts = np.array([[1, 2], [2, 3], [4, 1]])
    m = session_metrics(total, depth, slates, n_items=8, first_slates=firsts)
    assert list(m) == [
        "total_reward",
        "total_reward_std",
        "depth",
        "reward_variance",
        "reward_per_step",
        "coverage",
        "overlap",
        "users",
    ]
    # mean 9/3 = 3; deviations -2, -1, 3 -> population variance (4 + 1 + 9) / 3 = 14/3
    assert m["total_reward"] == pytest.approx(3.0)
    assert m["reward_variance"] == pytest.approx(14 / 3)
    assert m["total_reward_std"] == pytest.approx(math.sqrt(14 / 3))
    assert m["depth"] == pytest.approx(2.0)
    assert m["reward_per_step"] == pytest.approx(9 / 6)  # Σ reward / Σ depth
    assert m["coverage"] == pytest.approx(4 / 8)  # ids {1, 2, 3, 4}
    # pairs (0,1): {2} of {1,2,3}; (0,2): {1} of {1,2,4}; (1,2): none of {1,2,3,4}
    assert m["overlap"] == pytest.approx((1 / 3 + 1 / 3 + 0.0) / 3)
    assert m["users"] == 3 and isinstance(m["users"], int)


def test_session_metrics_zero_depth_divides_by_one() -> None:
    firsts = np.array([[1, 2], [1, 2]])
    m = session_metrics(
        np.array([0.0, 0.0]), np.array([0, 0]), np.zeros((0, 2), int), 4, first_slates=firsts
    )
    assert m["reward_per_step"] == 0.0
    assert m["coverage"] == 0.0


@pytest.mark.parametrize(
    ("slates", "expected"),
    [
        ([[1, 2, 3], [1, 2, 3]], 1.0),  # the same slate
        ([[1, 2, 3], [3, 2, 1]], 1.0),  # order does not matter
        ([[1, 2, 3], [4, 5, 6]], 0.0),  # disjoint
        ([[1, 2, 3], [2, 3, 4]], 2 / 4),  # {2, 3} of {1, 2, 3, 4}
        ([[1, 2], [2, 3], [3, 4]], (1 / 3 + 0.0 + 1 / 3) / 3),  # all three pairs
        ([[1, 1, 2], [1, 3, 3]], 1 / 3),  # sets: {1} of {1, 2, 3}
        ([[5, 5], [5, 5]], 1.0),
        ([[7, 8, 9]] * 4, 1.0),  # one slate for everybody
    ],
)
def test_slate_overlap_hand_values(slates: list[list[int]], expected: float) -> None:
    assert slate_overlap(np.array(slates)) == pytest.approx(expected)


def test_slate_overlap_needs_two_users() -> None:
    assert math.isnan(slate_overlap(np.array([[1, 2, 3]])))
    assert math.isnan(slate_overlap(np.zeros((0, 3), dtype=np.int64)))


def _brute_force(slates: np.ndarray, pairs: np.ndarray) -> float:
    values = []
    for u, v in pairs:
        a, b = set(slates[u].tolist()), set(slates[v].tolist())
        values.append(len(a & b) / len(a | b))
    return sum(values) / len(values)


@pytest.mark.parametrize(("n_users", "n_pairs"), [(7, 100), (40, 300), (200, 1000)])
def test_slate_overlap_matches_a_loop_over_pairs(n_users: int, n_pairs: int) -> None:
    rng = np.random.default_rng(3)
    slates = rng.integers(1, 12, size=(n_users, 5))  # small pool: repeats and overlaps
    pairs = overlap_pairs(n_users, n_pairs, seed=5)
    got = slate_overlap(slates, n_pairs=n_pairs, seed=5)
    assert got == pytest.approx(_brute_force(slates, pairs), abs=1e-12)


def test_overlap_pairs_all_pairs_or_a_seeded_sample_of_distinct_users() -> None:
    assert overlap_pairs(4, 6).tolist() == [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]
    assert overlap_pairs(1).shape == (0, 2)
    sample = overlap_pairs(100, 500, seed=2)  # 4,950 pairs > 500: sampled
    assert sample.shape == (500, 2)
    assert (sample[:, 0] != sample[:, 1]).all()
    assert sample.min() >= 0 and sample.max() < 100
    assert np.array_equal(sample, overlap_pairs(100, 500, seed=2))
    assert not np.array_equal(sample, overlap_pairs(100, 500, seed=3))
    # every user about equally often: 100,000 places over 1,000 users, 100 ± 10 each
    counts = np.bincount(overlap_pairs(1000, 50_000, seed=0).ravel(), minlength=1000)
    assert counts.min() > 50 and counts.max() < 150
    with pytest.raises(ValueError, match="n_pairs"):
        overlap_pairs(10, 0)


def test_slate_overlap_of_random_slates_is_near_k_over_2i_minus_k() -> None:
    # K = 10 distinct of I = 1,000: E|A ∩ B| = K² / I = 0.1 -> about K / (2I − K)
    rng = np.random.default_rng(0)
    slates = np.argsort(rng.random((2000, 1000)), axis=1)[:, :10] + 1
    assert slate_overlap(slates) == pytest.approx(10 / (2 * 1000 - 10), rel=0.15)
