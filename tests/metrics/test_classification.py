"""AUC and log-loss on hand-computed cases; AUC's ranks match the pandas ones it replaced."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rayrec.metrics.classification import _average_ranks, auc, log_loss


@pytest.mark.parametrize(
    ("labels", "scores", "expected"),
    [
        ([1, 0, 1, 0], [0.9, 0.1, 0.8, 0.2], 1.0),
        ([1, 0, 1, 0], [0.1, 0.9, 0.2, 0.8], 0.0),
        # pairs (pos, neg): (.9,.1) 1, (.9,.4) 1, (.4,.1) 1, (.4,.4) tie 0.5 -> 3.5 / 4
        ([1, 0, 1, 0], [0.9, 0.1, 0.4, 0.4], 0.875),
        ([1, 0, 0], [0.5, 0.5, 0.5], 0.5),  # all tied
        # pos .3 vs negs (.1, .5, .3): 1 + 0 + 0.5 -> 1.5 / 3
        ([0, 1, 0, 0], [0.1, 0.3, 0.5, 0.3], 0.5),
        ([1, 1, 0], [0.2, 0.7, 0.5], 0.5),
    ],
)
def test_auc_hand_values(labels: list[int], scores: list[float], expected: float) -> None:
    assert auc(np.array(labels), np.array(scores)) == pytest.approx(expected)


def test_auc_single_class_is_nan() -> None:
    assert math.isnan(auc(np.ones(4), np.arange(4.0)))
    assert math.isnan(auc(np.zeros(4), np.arange(4.0)))
    assert math.isnan(auc(np.zeros(0), np.zeros(0)))


def test_auc_nan_score_is_nan() -> None:
    assert math.isnan(auc(np.array([1, 0]), np.array([np.nan, 0.5])))


def test_average_ranks_hand_values() -> None:
    # sorted: 0.1 (pos 0), 0.5 0.5 0.5 (pos 1..3 -> ranks 2, 3, 4 -> 3), 0.9 (pos 4)
    ranks = _average_ranks(np.array([0.5, 0.1, 0.5, 0.9, 0.5]))
    np.testing.assert_array_equal(ranks, [3.0, 1.0, 3.0, 5.0, 3.0])
    assert _average_ranks(np.zeros(0)).shape == (0,)


def _auc_with_pandas(labels: np.ndarray, scores: np.ndarray) -> float:
    """The implementation auc replaced (rayrec.simulator.response before the move)."""
    labels = labels.astype(bool)
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_auc_exactly_as_before_on_random_data(dtype: type) -> None:
    """Bit-for-bit the numbers of the pandas-based version, with many ties."""
    rng = np.random.default_rng(0)
    for _ in range(100):
        n = int(rng.integers(2, 400))
        scores = (rng.integers(0, 20, n) / 7).astype(dtype)
        labels = rng.random(n) < 0.3
        labels[:2] = [True, False]
        np.testing.assert_array_equal(
            _average_ranks(scores), pd.Series(scores).rank(method="average").to_numpy()
        )
        assert auc(labels.astype(dtype), scores) == _auc_with_pandas(labels.astype(dtype), scores)


def test_log_loss_hand_values() -> None:
    y, p = np.array([1.0, 0.0, 1.0]), np.array([0.8, 0.4, 0.5])
    expected = -(math.log(0.8) + math.log(0.6) + math.log(0.5)) / 3
    assert log_loss(y, p) == pytest.approx(expected)
    # Certain and wrong is clipped at eps = 1e-7, not infinite.
    assert log_loss(np.array([0.0, 1.0]), np.array([1.0, 0.0])) == pytest.approx(-math.log(1e-7))
