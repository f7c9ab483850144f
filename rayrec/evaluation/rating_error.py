"""The ``rating_error`` protocol: how far predicted ratings are from the real ones.

Over a held-out walk of (user, item, rating) triples — DDPG-LA's rating-walk env
evaluates this way — a predictor gives a rating for each pair; the metrics are RMSE
and MAE (:mod:`rayrec.metrics.rating` semantics). Predictions may be clipped to the
rating scale first, as a rating env does with its action.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rayrec.errors import InputError
from rayrec.evaluation.result import EvalResult
from rayrec.metrics.rating import mae, rmse

NAME = "rating_error"
METRICS = ("rmse", "mae")
#: (users (b,), items (b,)) -> predicted ratings (b,)
Predictor = Callable[[np.ndarray, np.ndarray], np.ndarray]


def evaluate_rating_error(
    predict: Predictor,
    users: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
    *,
    clip: tuple[float, float] | None = None,
    batch: int = 4096,
    data: str = "",
) -> EvalResult:
    """RMSE and MAE of ``predict`` over held-out (user, item, rating) triples.

    Args:
        predict: (users (b,), items (b,)) -> predicted ratings (b,).
        users, items, ratings: (N,) the held-out triples.
        clip: (low, high) rating scale the predictions are clipped to, or None.
        batch: triples predicted at once.
        data: what the triples are, in words.

    Raises:
        InputError: arrays of different lengths, no triples, or a prediction of the
            wrong shape.
    """
    users, items = np.asarray(users), np.asarray(items)
    real = np.asarray(ratings, dtype=np.float64)
    if not len(users) == len(items) == len(real):
        raise InputError(
            f"rating error: expected users, items and ratings of one length, got"
            f" {len(users)}, {len(items)} and {len(real)}"
        )
    if not len(real):
        raise InputError("rating error: no ratings to evaluate")
    parts = []
    for start in range(0, len(real), batch):
        sl = slice(start, start + batch)
        pred = np.asarray(predict(users[sl], items[sl]), dtype=np.float64).reshape(-1)  # (b,)
        if len(pred) != len(users[sl]):
            raise InputError(
                f"rating error: the predictor gave {len(pred)} ratings for {len(users[sl])} pairs"
            )
        parts.append(pred)
    predicted = np.concatenate(parts)  # (N,)
    if clip is not None:
        predicted = np.clip(predicted, clip[0], clip[1])
    metrics = {"rmse": rmse(predicted, real), "mae": mae(predicted, real)}
    return EvalResult(protocol=NAME, metrics=metrics, evaluated=len(real), data=data)
