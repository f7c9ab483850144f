"""Slate-session metrics: the HAC paper's total reward, depth and reward variance,
and KuaiSim's coverage and intra-list diversity.

Conventions: N users (one session each), S slates shown in all, K items per slate;
item ids index ``item_vectors`` rows directly.
"""

from __future__ import annotations

import numpy as np


def coverage(slates: np.ndarray, n_items: int) -> float:
    """Share of the item pool ever shown: ``|unique ids in slates| / n_items``.

    Args:
        slates: (S, K) item ids of every slate shown (any shape; all ids count).
        n_items: size of the item pool.
    """
    return float(len(np.unique(slates)) / n_items)


def intra_list_diversity(slates: np.ndarray, item_vectors: np.ndarray) -> float:
    """Mean over slates of the mean pairwise ``1 − cos(v_a, v_b)`` between slate items.

    ``ILD = mean_s [ 1 − Σ_{a ≠ b} cos(v_{s,a}, v_{s,b}) / (K (K − 1)) ]`` over ordered
    pairs of positions (a repeated item counts as a pair with cos 1); vectors are
    normalised with their norm clipped below at 1e-9 (a zero vector has cos 0 with
    everything). 0.0 when K < 2.

    Args:
        slates: (S, K) item ids (row indices of ``item_vectors``).
        item_vectors: (I, e) item representations.
    """
    v = item_vectors / np.linalg.norm(item_vectors, axis=-1, keepdims=True).clip(min=1e-9)
    e = v[slates]  # (S, K, e)
    sim = np.einsum("nke,nje->nkj", e, e)  # (S, K, K)
    k = slates.shape[1]
    if k < 2:
        return 0.0
    off = (sim.sum(axis=(1, 2)) - np.trace(sim, axis1=1, axis2=2)) / (k * (k - 1))  # (S,)
    return float(np.mean(1.0 - off))


def session_metrics(
    total_reward: np.ndarray, depth: np.ndarray, slates: np.ndarray, n_items: int
) -> dict[str, float]:
    """The per-policy session summary of a simulator rollout.

    Args:
        total_reward: (N,) each user's summed reward over the session.
        depth: (N,) each user's session length in steps.
        slates: (S, K) every slate shown to an active user.
        n_items: size of the item pool.

    Returns:
        In this order: ``total_reward`` (mean over users), ``total_reward_std`` and
        ``reward_variance`` (population std and variance across users, ddof 0),
        ``depth`` (mean), ``reward_per_step`` (Σ reward / max(Σ depth, 1)),
        ``coverage`` (:func:`coverage`) and ``users`` (N, an int).
    """
    return {
        "total_reward": float(total_reward.mean()),
        "total_reward_std": float(total_reward.std()),
        "depth": float(depth.mean()),
        "reward_variance": float(total_reward.var()),
        "reward_per_step": float(total_reward.sum() / max(depth.sum(), 1)),
        "coverage": coverage(slates, n_items),
        "users": len(depth),
    }
