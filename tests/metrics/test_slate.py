"""Coverage, intra-list diversity and the session summary on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rayrec.metrics.slate import coverage, intra_list_diversity, session_metrics

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
    m = session_metrics(total, depth, slates, n_items=8)
    assert list(m) == [
        "total_reward",
        "total_reward_std",
        "depth",
        "reward_variance",
        "reward_per_step",
        "coverage",
        "users",
    ]
    # mean 9/3 = 3; deviations -2, -1, 3 -> population variance (4 + 1 + 9) / 3 = 14/3
    assert m["total_reward"] == pytest.approx(3.0)
    assert m["reward_variance"] == pytest.approx(14 / 3)
    assert m["total_reward_std"] == pytest.approx(math.sqrt(14 / 3))
    assert m["depth"] == pytest.approx(2.0)
    assert m["reward_per_step"] == pytest.approx(9 / 6)  # Σ reward / Σ depth
    assert m["coverage"] == pytest.approx(4 / 8)  # ids {1, 2, 3, 4}
    assert m["users"] == 3 and isinstance(m["users"], int)


def test_session_metrics_zero_depth_divides_by_one() -> None:
    m = session_metrics(np.array([0.0, 0.0]), np.array([0, 0]), np.zeros((0, 2), int), 4)
    assert m["reward_per_step"] == 0.0
    assert m["coverage"] == 0.0
