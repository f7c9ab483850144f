"""Greedy evaluation of a slate policy in a simulator: the HAC paper's metrics.

Total reward (sum over the session), depth (session length), reward variance
across users (stability), and KuaiSim's coverage (share of the pool ever
recommended) and intra-list diversity (mean pairwise 1 − cosine similarity of the
items in a slate, under the simulator's item representations).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rayrec.environments.rollout import SlatePolicy, rollout
from rayrec.environments.slate import EnvConfig
from rayrec.simulator.simulator import Simulator


def module_policy(module: Any) -> SlatePolicy:
    """Greedy slates from an RLlib RLModule (``forward_inference``)."""
    from ray.rllib.core.columns import Columns

    def act(env: Any, obs: dict[str, np.ndarray]) -> np.ndarray:
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
    policy: SlatePolicy,
    config: EnvConfig,
    *,
    n_users: int = 1000,
    seed: int = 0,
    device: str = "cpu",
    batch: int = 1000,
) -> dict[str, float]:
    """One full session for each of ``n_users`` users; the HAC paper's metrics."""
    result = rollout(simulator, policy, n_users, config, seed=seed, device=device, batch=batch)
    vectors = simulator.make_backend("cpu").item_vectors().cpu().numpy()
    return {
        **result.summary(simulator.n_items),
        "intra_list_diversity": intra_list_diversity(result.slates, vectors),
    }
