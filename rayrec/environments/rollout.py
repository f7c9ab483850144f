"""Roll policies through a simulator: one session per user, the HAC paper's metrics.

:func:`rollout` is the one loop that runs sessions; policies are callables
``policy(env, obs) -> (B, K) item ids``. Reference policies: random, most-popular,
personalised and oracle (:data:`POLICIES`); trained agents come in through
:func:`rayrec.evaluation.slate_rollout.module_policy`.

The oracle is the slate of highest expected immediate reward for the user's
current state: exact for the synthetic ground truth; for a learned simulator it is
greedy with respect to the simulator's own response model — the best policy known
for that simulator without training one, so "oracle vs random" measures how widely
the simulator separates good slates from bad ones.

The personalised reference is the *train* simulator's greedy slate (its response
model's top-K for the user, its state following the session's slates and the
responses the evaluation simulator gives) played in the evaluation simulator: what
a perfect learner of the training data would reach, between most-popular and the
oracle. Every factory in :data:`POLICIES` takes the train simulator of the same
checkpoint (:func:`train_simulator`); only the personalised one uses it::

    sim, env_cfg = env_config_of({**env_config, "part": "eval"})
    train = train_simulator(env_config)          # None when the checkpoint has no train part
    for name, make in POLICIES.items():
        if name in NEEDS_TRAIN and train is None:
            continue
        rollout(sim, make(train), users, env_cfg)
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from rayrec.environments.keys import OBS_HISTORY_FEEDBACK, OBS_HISTORY_ITEMS
from rayrec.environments.rllib_env import env_config_of
from rayrec.environments.slate import EnvConfig, SlateEnv
from rayrec.errors import InputError
from rayrec.metrics.slate import session_metrics
from rayrec.simulator.backends import ResponseBackend
from rayrec.simulator.keys import PART_EVAL, PART_TRAIN
from rayrec.simulator.simulator import Simulator

#: (env, batched observation) -> (B, K) item ids
SlatePolicy = Callable[[SlateEnv, dict[str, np.ndarray]], np.ndarray]

#: users scored at once by the greedy policies (a (b, I, F) logit block each)
_GREEDY_BATCH = 256


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


def _greedy_slates(
    backend: ResponseBackend,
    state: torch.Tensor,
    users: torch.Tensor,
    weights: torch.Tensor,
    k: int,
) -> np.ndarray:
    """(B, k) each user's top-k items by Σ_b w_b · P(b) under ``backend`` at ``state``."""
    all_items = torch.arange(1, backend.n_items + 1, device=state.device)
    out = []
    for start in range(0, len(users), _GREEDY_BATCH):
        sl = slice(start, start + _GREEDY_BATCH)
        u = users[sl]
        items = all_items.expand(len(u), -1)  # (b, I)
        probs = torch.sigmoid(backend.logits(state[sl], u, items))  # (b, I, F)
        value = (probs * weights).sum(-1)  # (b, I)
        out.append((value.topk(k, dim=1).indices + 1).cpu().numpy())
    return np.concatenate(out)


def oracle_policy() -> SlatePolicy:
    """Top-K by expected immediate reward under the simulator's own user model."""

    @torch.inference_mode()
    def act(env: SlateEnv, obs: dict[str, np.ndarray]) -> np.ndarray:
        users = env.users
        truth = env.sim.truth
        k = env.config.slate_size
        if truth is not None:
            return truth.oracle_slate(users.cpu().numpy(), k)
        return _greedy_slates(env.backend, env.user_state, users, env.reward_weights, k)

    return act


class _SessionState:
    """The train simulator's state of each user of one env, following its sessions.

    After each step the env's observation ends with the slate just shown and the
    responses to it; a row whose user changed, or whose history does not end with
    the slate this policy chose (a reset), restarts from the train simulator's
    initial state of its user.
    """

    def __init__(self, train: Simulator) -> None:
        self.train = train
        self.backend: ResponseBackend | None = None
        self.env: weakref.ref[SlateEnv] | None = None
        self.users = torch.zeros(0, dtype=torch.long)
        self.state = torch.zeros(0)
        self.last = torch.zeros(0, dtype=torch.long)

    def follow(self, env: SlateEnv, obs: dict[str, np.ndarray]) -> torch.Tensor:
        """(B, S) the train backend's state of the env's current users."""
        if self.backend is None or self.backend.device != env.device:
            self.backend = self.train.make_backend(env.device)
        users = env.users
        if self.env is None or self.env() is not env or len(self.users) != len(users):
            self.env = weakref.ref(env)
            self.state = self.backend.initial_state(users).clone()
        else:
            k = self.last.shape[1]
            shown = torch.as_tensor(obs[OBS_HISTORY_ITEMS][:, -k:], device=env.device)  # (B, K)
            response = torch.as_tensor(
                obs[OBS_HISTORY_FEEDBACK][:, -k:], device=env.device
            )  # (B, K, F)
            same = (users == self.users) & (shown == self.last).all(dim=1)  # (B,)
            stepped = self.backend.update(self.state, users, self.last, response)  # (B, S)
            fresh = self.backend.initial_state(users)  # (B, S)
            self.state = torch.where(same.unsqueeze(-1), stepped, fresh)
        self.users = users.clone()
        return self.state

    def chose(self, slates: np.ndarray, device: torch.device) -> None:
        self.last = torch.as_tensor(slates, device=device).long()  # (B, K)


def personalised_policy(train: Simulator | None = None, /) -> SlatePolicy:
    """Top-K by expected immediate reward under the *train* simulator's user model, its
    user state following the session (module doc); with the ground truth, its exact
    best slate.

    Raises:
        InputError: without a train simulator, or (at the first step) when it scores
            other feedback than the env's simulator or the observed history is shorter
            than a slate (the state could not follow the session).
    """
    if train is None:
        raise InputError(
            "the personalised reference needs the train simulator of the same checkpoint:"
            " POLICIES['personalised'](train_simulator(env_config))"
        )
    session = _SessionState(train)

    @torch.inference_mode()
    def act(env: SlateEnv, obs: dict[str, np.ndarray]) -> np.ndarray:
        k = env.config.slate_size
        if train.feedback_names != env.sim.feedback_names:
            raise InputError(
                f"personalised reference: the train simulator scores"
                f" {', '.join(train.feedback_names)}, the env's simulator"
                f" {', '.join(env.sim.feedback_names)}"
            )
        users = env.users
        if train.truth is not None:
            return train.truth.oracle_slate(users.cpu().numpy(), k)
        if env.config.history_length < k:
            raise InputError(
                f"personalised reference: env.history_length ({env.config.history_length})"
                f" must be >= env.slate_size ({k}) to follow the session"
            )
        state = session.follow(env, obs)
        assert session.backend is not None
        slates = _greedy_slates(session.backend, state, users, env.reward_weights, k)
        session.chose(slates, env.device)
        return slates

    return act


class PolicyFactory(Protocol):
    """A reference policy's factory: takes the train simulator of the checkpoint whose
    evaluation simulator the policy plays in (None when there is none)."""

    def __call__(self, train: Simulator | None = None, /) -> SlatePolicy: ...


def _single_simulator(make: Callable[[], SlatePolicy]) -> PolicyFactory:
    """A factory of a policy that needs only the simulator it plays in."""

    def factory(train: Simulator | None = None, /) -> SlatePolicy:
        return make()

    return factory


#: the name of the personalised reference (the train simulator's greedy slate)
PERSONALISED = "personalised"

#: reference policies in table order; each factory takes the train simulator
POLICIES: dict[str, PolicyFactory] = {
    "random": _single_simulator(random_policy),
    "popular": _single_simulator(popular_policy),
    PERSONALISED: personalised_policy,
    "oracle": _single_simulator(oracle_policy),
}

#: the references that need the train simulator
NEEDS_TRAIN = frozenset({PERSONALISED})


def train_simulator(env_config: Mapping[str, Any]) -> Simulator | None:
    """The train simulator of the checkpoint (or ground-truth spec) an ``env_config``
    names, whatever part it plays; None when the checkpoint holds no train part."""
    try:
        sim, _ = env_config_of({**env_config, "part": PART_TRAIN})
    except (InputError, FileNotFoundError):
        return None
    return sim if sim.meta.get("part", PART_TRAIN) == PART_TRAIN else None


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


def simulator_headroom(
    checkpoint: str | Path,
    config: EnvConfig,
    *,
    users: int = 500,
    seed: int = 0,
    device: str = "cpu",
) -> dict[str, Any]:
    """What a freshly trained simulator leaves to learn: every reference policy's mean
    total reward (also as a share of the oracle's), coverage and slate overlap across
    users over one session of ``users`` users in the evaluation simulator of
    ``checkpoint`` (the personalised one when the train part is there), and per
    feedback the evaluation response model's validation AUC next to the popularity
    baseline's (learned simulators).

    The parts are loaded from disk, not from the env runners' cache, so a simulator
    just retrained into the same folder is the one measured.
    """
    root = Path(checkpoint)
    sim = Simulator.load(root / PART_EVAL)
    train_dir = root / PART_TRAIN
    train = Simulator.load(train_dir) if (train_dir / "meta.json").is_file() else None
    policies: dict[str, dict[str, float]] = {}
    for name, make in POLICIES.items():
        if name in NEEDS_TRAIN and train is None:
            continue
        result = rollout(sim, make(train), users, config, seed=seed, device=device)
        s = result.summary(sim.n_items)
        policies[name] = {
            "total_reward": s["total_reward"],
            "coverage": s["coverage"],
            "overlap": s["overlap"],
        }
    oracle = policies["oracle"]["total_reward"]
    for figures in policies.values():
        figures["of_oracle"] = figures["total_reward"] / oracle if oracle else float("nan")
    metrics = sim.meta.get("metrics") or {}
    base = metrics.get("popularity_baseline", {})
    auc = {
        fb: {"model": m["auc"], "popularity": base.get(fb, {}).get("auc", float("nan"))}
        for fb, m in metrics.get("valid", {}).items()
    }
    return {"users": users, "seed": seed, "policies": policies, "auc": auc}
