"""Roll policies through a simulator: one session per user, the HAC paper's metrics.

:func:`rollout` is the one loop that runs sessions; policies are callables
``policy(env, obs) -> (B, K) item ids``. Reference policies: random, most-popular
and oracle (:data:`POLICIES`); trained agents come in through
:func:`rayrec.evaluation.slate_rollout.module_policy`.

The oracle is the slate of highest expected immediate reward for the user's
current state: exact for the synthetic ground truth; for a learned simulator it is
greedy with respect to the simulator's own response model — the best policy known
for that simulator without training one, so "oracle vs random" measures how widely
the simulator separates good slates from bad ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from rayrec.environments.slate import EnvConfig, SlateEnv
from rayrec.metrics.slate import session_metrics
from rayrec.simulator.simulator import Simulator

#: (env, batched observation) -> (B, K) item ids
SlatePolicy = Callable[[SlateEnv, dict[str, np.ndarray]], np.ndarray]


def random_policy(seed: int = 0) -> SlatePolicy:
    """K distinct items uniformly at random per user."""
    gen = torch.Generator().manual_seed(seed)

    def act(env: SlateEnv, obs: dict[str, np.ndarray]) -> np.ndarray:
        keys = torch.rand(env.num_envs, env.sim.n_items, generator=gen)  # (B, I)
        return (keys.topk(env.config.slate_size, dim=1).indices + 1).numpy()  # (B, K)

    return act


def popular_policy() -> SlatePolicy:
    """The K items with the most positive responses in the simulator's log (weighted by
    the env's reward weights), for everyone."""

    def act(env: SlateEnv, obs: dict[str, np.ndarray]) -> np.ndarray:
        pop = env.popularity.copy()
        pop[0] = -np.inf
        top = np.argsort(-pop, kind="stable")[: env.config.slate_size]
        return np.tile(top, (env.num_envs, 1))

    return act


def oracle_policy() -> SlatePolicy:
    """Top-K by expected immediate reward under the simulator's own user model."""

    @torch.inference_mode()
    def act(env: SlateEnv, obs: dict[str, np.ndarray]) -> np.ndarray:
        users = env.users
        truth = env.sim.truth
        k = env.config.slate_size
        if truth is not None:
            return truth.oracle_slate(users.cpu().numpy(), k)
        all_items = torch.arange(1, env.sim.n_items + 1, device=env.device)
        out = []
        for start in range(0, env.num_envs, 256):
            sl = slice(start, start + 256)
            u = users[sl]
            items = all_items.expand(len(u), -1)  # (b, I)
            probs = torch.sigmoid(env.backend.logits(env.user_state[sl], u, items))  # (b, I, F)
            value = (probs * env.reward_weights).sum(-1)  # (b, I)
            out.append((value.topk(k, dim=1).indices + 1).cpu().numpy())
        return np.concatenate(out)

    return act


POLICIES: dict[str, Callable[[], SlatePolicy]] = {
    "random": random_policy,
    "popular": popular_policy,
    "oracle": oracle_policy,
}


@dataclass(frozen=True)
class RolloutResult:
    """Per-user session outcomes of one policy."""

    total_reward: np.ndarray  # (N,)
    depth: np.ndarray  # (N,)
    slates: np.ndarray  # (S, K) every slate shown to an active user
    first_slates: np.ndarray  # (N, K) the first slate of each user's session

    def summary(self, n_items: int) -> dict[str, float]:
        """The session metrics of :func:`rayrec.metrics.slate.session_metrics`."""
        return session_metrics(
            self.total_reward, self.depth, self.slates, n_items, first_slates=self.first_slates
        )


def rollout(
    simulator: Simulator,
    policy: SlatePolicy,
    n_users: int,
    config: EnvConfig,
    *,
    seed: int = 0,
    device: str = "cpu",
    batch: int | None = None,
) -> RolloutResult:
    """One full session for each of ``n_users`` users, ``batch`` users per env
    (all at once by default); the env of users ``start..`` is seeded ``seed + start``."""
    batch = batch or n_users
    totals: list[np.ndarray] = []
    depths: list[np.ndarray] = []
    shown: list[np.ndarray] = []
    firsts: list[np.ndarray] = []
    for start in range(0, n_users, batch):
        b = min(batch, n_users - start)
        env = SlateEnv(simulator, b, config, device=device, seed=seed + start)
        obs, _ = env.reset(seed=seed + start)
        active = np.ones(b, dtype=bool)
        total = np.zeros(b)
        depth = np.zeros(b, dtype=np.int64)
        while active.any():
            slates = np.asarray(policy(env, obs))
            if len(firsts) == len(totals):  # this batch's first step: every user is active
                firsts.append(slates)
            shown.append(slates[active])
            obs, reward, terminated, truncated, _ = env.step(slates)
            total += np.where(active, reward, 0.0)
            depth += active
            active &= ~(terminated | truncated)
        totals.append(total)
        depths.append(depth)
    return RolloutResult(
        total_reward=np.concatenate(totals),
        depth=np.concatenate(depths),
        slates=np.concatenate(shown),
        first_slates=np.concatenate(firsts),
    )
