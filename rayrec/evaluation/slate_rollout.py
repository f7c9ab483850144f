"""The ``slate_rollout`` protocol: greedy sessions in the evaluation simulator.

The HAC paper's protocol: the trained policy acts greedily for one full session per
user in the env spec's *evaluation* simulator (all of the log), next to a random
policy on the same users. Metrics: total reward (sum over the session), depth
(session length), reward variance across users (stability), reward per step, and
KuaiSim's coverage (share of the pool ever recommended) and intra-list diversity
(mean pairwise 1 − cosine similarity of the items in a slate, under the simulator's
item representations). Tables add the most-popular and oracle references
(:func:`reference_results`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rayrec.environments.rllib_env import env_config_of
from rayrec.environments.rollout import POLICIES, SlatePolicy, random_policy, rollout
from rayrec.environments.slate import EnvConfig
from rayrec.evaluation.result import EvalResult
from rayrec.simulator.keys import PART_EVAL
from rayrec.simulator.simulator import Simulator

NAME = "slate_rollout"
#: the metrics Tune reports as ``eval_<m>`` / ``random_<m>`` (in this order)
METRICS = (
    "total_reward",
    "total_reward_std",
    "depth",
    "reward_variance",
    "reward_per_step",
    "coverage",
    "intra_list_diversity",
)


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


# ADAPTER(issue 11): replaced by rayrec.metrics.slate.intra_list_diversity when the
# metrics package lands on this branch.
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


def eval_simulator(target: str) -> tuple[Simulator, EnvConfig]:
    """The evaluation simulator of a simulator target and its session settings."""
    return env_config_of({"simulator": target, "part": PART_EVAL})


def evaluate_module(module: Any, target: str, *, users: int, seed: int) -> EvalResult:
    """The greedy policy of ``module`` and the random policy, on the same ``users``
    users of the evaluation simulator of ``target`` (a simulator folder or spec)."""
    sim, env_cfg = eval_simulator(target)
    agent = evaluate_policy(sim, module_policy(module), env_cfg, n_users=users, seed=seed)
    rand = evaluate_policy(sim, random_policy(), env_cfg, n_users=users, seed=seed)
    return EvalResult(
        protocol=NAME,
        metrics=agent,
        references={"random": rand},
        evaluated=users,
        data=f"evaluation simulator of {target}",
        seed=seed,
    )


def reference_results(target: str, *, users: int, seed: int = 1) -> dict[str, dict[str, float]]:
    """Random, most-popular and model-greedy oracle in the evaluation simulator."""
    sim, env_cfg = eval_simulator(target)
    return {
        name: evaluate_policy(sim, make(), env_cfg, n_users=users, seed=seed)
        for name, make in POLICIES.items()
    }
