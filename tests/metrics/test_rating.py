"""RMSE and MAE by hand; shape checks."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from rayrec.metrics.rating import mae, rmse


def test_rmse_mae_hand_values() -> None:
    pred, real = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 5.0])
    # errors -1, 0, -2: |e| mean 3/3 = 1; squared mean (1 + 0 + 4) / 3 = 5/3
    assert mae(pred, real) == pytest.approx(1.0)
    assert rmse(pred, real) == pytest.approx(math.sqrt(5 / 3))
    # any shape, same for both
    assert rmse(pred.reshape(3, 1), real.reshape(3, 1)) == pytest.approx(math.sqrt(5 / 3))


@pytest.mark.parametrize("fn", [rmse, mae])
def test_shape_mismatch_and_empty_are_refused(
    fn: Callable[[np.ndarray, np.ndarray], float],
) -> None:
    with pytest.raises(ValueError, match=r"same shape, got \(3,\) and \(2,\)"):
        fn(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="same shape"):
        fn(np.zeros((3, 1)), np.zeros(3))
    with pytest.raises(ValueError, match="at least one rating"):
        fn(np.zeros(0), np.zeros(0))
