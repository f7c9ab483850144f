"""The ``slate_rollout`` protocol: greedy sessions in the evaluation simulator.

The HAC paper's protocol: the trained policy acts greedily for one full session per
user in the env spec's *evaluation* simulator (all of the log), next to a random
policy on the same users. Metrics: total reward (sum over the session), depth
(session length), reward variance across users (stability), reward per step,
KuaiSim's coverage (share of the pool ever recommended) and intra-list diversity
(mean pairwise 1 − cosine similarity of the items in a slate, under the simulator's
item representations), and the overlap of slates across users (mean Jaccard index of
two users' first slates over a seeded sample of user pairs,
:func:`rayrec.metrics.slate.slate_overlap`: 1.0 when everybody gets one slate — a
collapse coverage alone can hide when a few slates cover much of the pool). Tables add
the most-popular and oracle references (:func:`reference_results`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from rayrec.environments import env_config_of
from rayrec.environments.rollout import (
    NEEDS_TRAIN,
    POLICIES,
    SlatePolicy,
    random_policy,
    rollout,
    train_simulator,
)
from rayrec.environments.slate import EnvConfig
from rayrec.evaluation.result import EvalResult
from rayrec.metrics.slate import intra_list_diversity
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
    "overlap",
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


def eval_simulator(target: str | Mapping[str, Any]) -> tuple[Simulator, EnvConfig]:
    """The evaluation simulator and session settings of a training ``env_config`` (or of
    a ground-truth spec file's path)."""
    env_config = {"simulator": target} if isinstance(target, str) else dict(target)
    return env_config_of({**env_config, "part": PART_EVAL})


def _shown(env_config: Mapping[str, Any]) -> str:
    return f"evaluation simulator of {env_config.get('spec') or env_config['simulator']}"


def evaluate_module(
    module: Any, env_config: Mapping[str, Any], *, users: int, seed: int
) -> EvalResult:
    """The greedy policy of ``module`` and the random policy, on the same ``users``
    users of the evaluation simulator of ``env_config`` (its session settings)."""
    sim, env_cfg = eval_simulator(env_config)
    agent = evaluate_policy(sim, module_policy(module), env_cfg, n_users=users, seed=seed)
    rand = evaluate_policy(sim, random_policy(), env_cfg, n_users=users, seed=seed)
    return EvalResult(
        protocol=NAME,
        metrics=agent,
        references={"random": rand},
        evaluated=users,
        data=_shown(env_config),
        seed=seed,
    )


def reference_results(
    env_config: Mapping[str, Any], *, users: int, seed: int = 1
) -> dict[str, dict[str, float]]:
    """Random, most-popular, personalised (the train simulator's greedy slate; left out
    when the checkpoint has no train part) and model-greedy oracle in the evaluation
    simulator."""
    sim, env_cfg = eval_simulator(env_config)
    train = train_simulator(env_config)
    return {
        name: evaluate_policy(sim, make(train), env_cfg, n_users=users, seed=seed)
        for name, make in POLICIES.items()
        if train is not None or name not in NEEDS_TRAIN
    }
