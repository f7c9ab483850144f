"""Rating-prediction errors: RMSE and MAE between predicted and real ratings."""

from __future__ import annotations

import numpy as np


def _pair(pred: np.ndarray, real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    real = np.asarray(real, dtype=np.float64)
    if pred.shape != real.shape:
        raise ValueError(
            f"pred, real: expected arrays of the same shape, got {pred.shape} and {real.shape}"
        )
    if pred.size == 0:
        raise ValueError("pred, real: expected at least one rating, got empty arrays")
    return pred, real


def rmse(pred: np.ndarray, real: np.ndarray) -> float:
    """Root mean squared error ``sqrt(mean((pred − real)²))`` over all entries.

    Args:
        pred / real: arrays of the same (any) shape, not empty.

    Raises:
        ValueError: shapes differ or the arrays are empty.
    """
    pred, real = _pair(pred, real)
    return float(np.sqrt(np.mean((pred - real) ** 2)))


def mae(pred: np.ndarray, real: np.ndarray) -> float:
    """Mean absolute error ``mean(|pred − real|)`` over all entries.

    Args:
        pred / real: arrays of the same (any) shape, not empty.

    Raises:
        ValueError: shapes differ or the arrays are empty.
    """
    pred, real = _pair(pred, real)
    return float(np.mean(np.abs(pred - real)))
