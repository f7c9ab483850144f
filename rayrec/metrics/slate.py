"""Slate-session metrics: the HAC paper's total reward, depth and reward variance,
KuaiSim's coverage and intra-list diversity, and the overlap of slates across users.

Conventions: N users (one session each), S slates shown in all, K items per slate;
item ids index ``item_vectors`` rows directly.
"""

from __future__ import annotations

import math

import numpy as np

#: user pairs :func:`slate_overlap` samples when there are more pairs than this
OVERLAP_PAIRS = 10_000


def coverage(slates: np.ndarray, n_items: int) -> float:
    """Share of the item pool ever shown: ``|unique ids in slates| / n_items``.

    Args:
        slates: (S, K) item ids of every slate shown (any shape; all ids count).
        n_items: size of the item pool.
    """
    return float(len(np.unique(slates)) / n_items)


def overlap_pairs(n_users: int, n_pairs: int = OVERLAP_PAIRS, seed: int = 0) -> np.ndarray:
    """The pairs of distinct users :func:`slate_overlap` compares.

    Every unordered pair ``u < v`` (in lexicographic order) when there are at most
    ``n_pairs`` of them; otherwise ``n_pairs`` pairs drawn uniformly with replacement
    from all ordered pairs of distinct users by ``numpy.random.default_rng(seed)``. The
    pairs depend only on ``n_users``, ``n_pairs`` and ``seed``, so every policy evaluated
    on the same users is compared on the same pairs.

    Returns:
        (P, 2) int64 user indices, ``P = min(n_users (n_users − 1) / 2, n_pairs)``;
        (0, 2) when ``n_users < 2``.
    """
    if n_pairs < 1:
        raise ValueError(f"n_pairs: expected an integer >= 1, got {n_pairs}")
    total = n_users * (n_users - 1) // 2
    if total <= n_pairs:
        u, v = np.triu_indices(n_users, k=1)  # (P,), (P,)
        return np.stack([u, v], axis=1).astype(np.int64)  # (P, 2)
    rng = np.random.default_rng(seed)
    u = rng.integers(0, n_users, size=n_pairs)  # (P,)
    v = rng.integers(0, n_users - 1, size=n_pairs)  # (P,) of the n_users − 1 others
    v = v + (v >= u)  # skip u itself: uniform over v ≠ u
    return np.stack([u, v], axis=1).astype(np.int64)  # (P, 2)


def slate_overlap(
    first_slates: np.ndarray, *, n_pairs: int = OVERLAP_PAIRS, seed: int = 0
) -> float:
    """Mean pairwise overlap of the slates users are shown: how far a policy is from
    recommending one slate to everybody.

    ``overlap = mean_{(u, v) ∈ pairs} |A_u ∩ A_v| / |A_u ∪ A_v|``: the Jaccard index of
    the *sets* of item ids (a repeated id counts once) of two distinct users' slates,
    averaged over the pairs of :func:`overlap_pairs` (all pairs when there are at most
    ``n_pairs``, else a seeded sample). 1.0 when everybody gets the same item set (the
    most-popular list); ≈ K / (2I − K) for K of I items drawn uniformly at random;
    0.0 when no two users share an item. NaN when fewer than two users.

    The slate protocol passes the first slate of each session: every user has one, it
    is chosen from the user's logged history alone (before the policy's own slates
    shape the state), and every policy is compared at the same step of the same users —
    later steps would mix in which users a policy keeps longer.

    Args:
        first_slates: (N, K) item ids, row u the slate user u was shown.
        n_pairs: the most user pairs compared.
        seed: the seed of the pair sample.
    """
    n = first_slates.shape[0]
    if n < 2:
        return math.nan
    pairs = overlap_pairs(n, n_pairs, seed)  # (P, 2)
    ordered = np.sort(first_slates, axis=1)  # (N, K)
    first = np.ones(ordered.shape, dtype=bool)  # (N, K) the first copy of each id
    first[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    sizes = first.sum(axis=1)  # (N,) distinct ids per slate
    a, b = ordered[pairs[:, 0]], ordered[pairs[:, 1]]  # (P, K), (P, K)
    in_b = (a[:, :, None] == b[:, None, :]).any(axis=2)  # (P, K)
    inter = (in_b & first[pairs[:, 0]]).sum(axis=1)  # (P,) distinct shared ids
    union = sizes[pairs[:, 0]] + sizes[pairs[:, 1]] - inter  # (P,)
    return float(np.mean(inter / np.maximum(union, 1)))


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
    total_reward: np.ndarray,
    depth: np.ndarray,
    slates: np.ndarray,
    n_items: int,
    *,
    first_slates: np.ndarray,
) -> dict[str, float]:
    """The per-policy session summary of a simulator rollout.

    Args:
        total_reward: (N,) each user's summed reward over the session.
        depth: (N,) each user's session length in steps.
        slates: (S, K) every slate shown to an active user.
        n_items: size of the item pool.
        first_slates: (N, K) the first slate of each user's session.

    Returns:
        In this order: ``total_reward`` (mean over users), ``total_reward_std`` and
        ``reward_variance`` (population std and variance across users, ddof 0),
        ``depth`` (mean), ``reward_per_step`` (Σ reward / max(Σ depth, 1)),
        ``coverage`` (:func:`coverage`), ``overlap`` (:func:`slate_overlap` of the
        first slates, default pairs and seed) and ``users`` (N, an int).
    """
    return {
        "total_reward": float(total_reward.mean()),
        "total_reward_std": float(total_reward.std()),
        "depth": float(depth.mean()),
        "reward_variance": float(total_reward.var()),
        "reward_per_step": float(total_reward.sum() / max(depth.sum(), 1)),
        "coverage": coverage(slates, n_items),
        "overlap": slate_overlap(first_slates),
        "users": len(depth),
    }
