"""Greedy evaluation of a slate policy in a simulator: the HAC paper's metrics.

Total reward (sum over the session), depth (session length), reward variance
across users (stability), and KuaiSim's coverage (share of the pool ever
recommended) and intra-list diversity (mean pairwise 1 − cosine similarity of the
items in a slate, under the simulator's item representations).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from rayrec.simulator.env import EnvConfig, SlateEnv
from rayrec.simulator.simulator import Simulator

#: obs dict (batched numpy) -> (B, K) item ids
ObsPolicy = Callable[[dict[str, np.ndarray]], np.ndarray]


def module_policy(module: Any) -> ObsPolicy:
    """Greedy slates from an RLlib RLModule (``forward_inference``)."""
    from ray.rllib.core.columns import Columns

    def act(obs: dict[str, np.ndarray]) -> np.ndarray:
        batch = {Columns.OBS: {k: torch.as_tensor(v) for k, v in obs.items()}}
        with torch.no_grad():
            out = module.forward_inference(batch)
        return np.asarray(
            out[Columns.ACTIONS].cpu().numpy()
            if torch.is_tensor(out[Columns.ACTIONS])
            else out[Columns.ACTIONS]
        )

    return act


def intra_list_diversity(slates: np.ndarray, item_vectors: np.ndarray) -> float:
    """Mean over slates of the mean pairwise (1 − cos) between slate items."""
    v = item_vectors / np.linalg.norm(item_vectors, axis=-1, keepdims=True).clip(min=1e-9)
    e = v[slates]  # (N, K, e)
    sim = np.einsum("nke,nje->nkj", e, e)  # (N, K, K)
    k = slates.shape[1]
    if k < 2:
        return 0.0
    off = (sim.sum(axis=(1, 2)) - np.trace(sim, axis1=1, axis2=2)) / (k * (k - 1))
    return float(np.mean(1.0 - off))


def evaluate_policy(
    simulator: Simulator,
    policy: ObsPolicy,
    config: EnvConfig,
    *,
    n_users: int = 1000,
    seed: int = 0,
    device: str = "cpu",
    batch: int = 1000,
) -> dict[str, float]:
    """One full session for each of ``n_users`` users; the HAC paper's metrics."""
    totals, depths, slates_seen = [], [], []
    for start in range(0, n_users, batch):
        b = min(batch, n_users - start)
        env = SlateEnv(simulator, b, config, device=device, seed=seed + start)
        obs, _ = env.reset(seed=seed + start)
        active = np.ones(b, dtype=bool)
        total = np.zeros(b)
        depth = np.zeros(b, dtype=np.int64)
        while active.any():
            slates = np.asarray(policy(obs))
            slates_seen.append(slates[active])
            obs, reward, terminated, truncated, _ = env.step(slates)
            total += np.where(active, reward, 0.0)
            depth += active
            active &= ~(terminated | truncated)
        totals.append(total)
        depths.append(depth)
    total_all, depth_all = np.concatenate(totals), np.concatenate(depths)
    shown = np.concatenate(slates_seen)
    vectors = simulator.make_backend("cpu").item_vectors().cpu().numpy()
    return {
        "total_reward": float(total_all.mean()),
        "total_reward_std": float(total_all.std()),
        "depth": float(depth_all.mean()),
        "reward_variance": float(total_all.var()),
        "coverage": float(len(np.unique(shown)) / simulator.n_items),
        "intra_list_diversity": intra_list_diversity(shown, vectors),
        "users": int(n_users),
    }
