"""The slate reward, computed once for the simulated sessions and for the logged data.

r = Σ_b w_b · agg_i y_ib: each shown item's responses y_ib (feedback b) weighed by
the env spec's reward weights w_b, aggregated over the shown items of the slate
with ``mean`` (over the valid positions, at least one) or ``sum``.

:class:`~rayrec.environments.slate.SlateEnv` calls it on torch tensors (its float32
state), :func:`~rayrec.environments.logged.logged_transitions` on numpy arrays (float64
weights); the operations are the same in both, in the same order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)

Aggregate = Literal["mean", "sum"]


def reward_vector(weights: Mapping[str, float], feedback_names: Sequence[str]) -> np.ndarray:
    """(F,) float64 w_b for each feedback type of ``feedback_names`` (absent ones weigh 0)."""
    return np.array([weights.get(n, 0.0) for n in feedback_names], dtype=np.float64)


def item_rewards(response: Array, weights: Array) -> Array:
    """(..., K, F) responses, (F,) weights -> (..., K) Σ_b w_b · y_ib per item."""
    return (response * weights).sum(-1)


def slate_reward(response: Array, valid: Array, weights: Array, aggregate: Aggregate) -> Array:
    """The reward of each slate: Σ_b w_b · agg_i y_ib (module doc).

    Args:
        response: (..., K, F) sampled or logged responses, 0 at positions not shown.
        valid: (..., K) bool, the positions shown to the user.
        weights: (F,) reward weights (:func:`reward_vector`).
        aggregate: ``mean`` over the shown positions (an empty slate counts as one) or
            ``sum``.

    Returns:
        (...,) one reward per slate, in the dtype of ``response * weights``.
    """
    total = item_rewards(response, weights).sum(-1)  # (...,)
    if aggregate == "sum":
        return total
    n_valid = valid.sum(-1)  # (...,)
    if isinstance(n_valid, torch.Tensor):
        return total / n_valid.clamp(min=1).float()
    return total / np.maximum(n_valid, 1)
