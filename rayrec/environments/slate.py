"""The slate environments: a natively batched vector env and its single-user view.

:class:`SlateEnv` is a ``gymnasium.vector.VectorEnv`` that steps B users at once
with tensor ops (CPU or GPU). Each sub-env is one user session:

- **reset** draws a user from the simulator's population; the observation is the
  user id, categorical features and the last H exposed items with their feedback.
- **step(slates)** takes (B, K) item ids. Each item's response to each behaviour
  is sampled ``y ~ Bernoulli(σ(logit − ρ·sim))`` where ``sim`` is the item's mean
  cosine similarity to the rest of the slate (KuaiSim's ρ; 0 by default). The
  reward is Σ_b w_b · agg_i y_ib with agg = mean (default) or sum over the slate.
- **leave model** (KuaiSim's "temper"): patience starts at ``initial_patience`` and
  falls each step by ``step_cost + quality_cost · (1 − q)`` where q ∈ [0, 1] is the
  slate's weighted response rate; the user leaves (``terminated``) when it reaches
  0. ``truncated`` at ``max_steps``.
- **auto-reset** follows gymnasium's ``NEXT_STEP`` mode, as RLlib's env runners
  expect: the step after a sub-env finished resets it (its action is ignored,
  reward 0) and returns the new user's first observation.
- **invalid actions** (ids outside 1..I, an item repeated in a slate): with
  ``invalid_action="raise"`` a :class:`InvalidActionError` names the env, position
  and value; with ``"mask"`` (default) those positions are not shown to the user —
  no response, no reward, no history entry — and ``info["slate_valid"]`` marks them.

:class:`SingleUserSlateEnv` is the same simulator for one user as a plain
``gymnasium.Env`` (for ``check_env`` and for the per-user baseline in the
throughput benchmark).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from rayrec.config import from_dict, to_dict
from rayrec.environments.keys import (
    INFO_PATIENCE,
    INFO_RESPONSE,
    INFO_SLATE_VALID,
    OBS_HISTORY_FEEDBACK,
    OBS_HISTORY_ITEMS,
    OBS_USER,
    OBS_USER_FEATURES,
)
from rayrec.environments.reward import reward_vector, slate_reward
from rayrec.errors import InputError
from rayrec.simulator.simulator import Simulator
from rayrec.simulator.spec import SimulatorSpec, simulator_spec_from_dict


class InvalidActionError(ValueError):
    """A slate holds an id outside 1..n_items or repeats an item."""


@dataclass(frozen=True)
class LeaveConfig:
    """Patience ("temper") leave model.

    Attributes:
        initial_patience: patience of a new session.
        step_cost: patience lost every step whatever the slate.
        quality_cost: extra patience lost per step for a slate without any response
            (scaled by 1 − q, q the weighted response rate in [0, 1]).
    """

    initial_patience: float = 5.0
    step_cost: float = 0.1
    quality_cost: float = 1.0


@dataclass(frozen=True)
class EnvConfig:
    """Session settings of a :class:`SlateEnv`.

    Attributes:
        slate_size: K items per recommendation.
        max_steps: step cap (``truncated``).
        history_length: H items of history in the observation.
        reward_weights: feedback name -> weight w_b (others weigh 0).
        reward_aggregate: ``mean`` or ``sum`` over the slate.
        similarity_penalty: ρ, subtracted from each item's logit times its mean
            cosine similarity to the other slate items.
        leave: the patience model.
        invalid_action: ``mask`` or ``raise`` (see module doc).
        user_sampling: ``uniform`` over the population or by ``activity``.
    """

    slate_size: int = 10
    max_steps: int = 20
    history_length: int = 50
    reward_weights: dict[str, float] = field(default_factory=lambda: {"click": 1.0})
    reward_aggregate: Literal["mean", "sum"] = "mean"
    similarity_penalty: float = 0.0
    leave: LeaveConfig = field(default_factory=LeaveConfig)
    invalid_action: Literal["mask", "raise"] = "mask"
    user_sampling: Literal["uniform", "activity"] = "uniform"

    def check(self, where: str = "env") -> None:
        """Raise :class:`InputError` naming the field (``<where>.<field>``) that is out of
        range whatever the simulator."""
        for name in ("max_steps", "history_length"):
            if getattr(self, name) < 1:
                raise InputError(f"{where}.{name}: must be >= 1, got {getattr(self, name)}")
        if self.slate_size < 1:
            raise InputError(f"{where}.slate_size: must be >= 1, got {self.slate_size}")
        if sum(abs(w) for w in self.reward_weights.values()) == 0:
            raise InputError(
                f"{where}.reward_weights: must give some feedback a non-zero weight,"
                f" got {self.reward_weights}"
            )
        choices = {
            "reward_aggregate": ("mean", "sum"),
            "invalid_action": ("mask", "raise"),
            "user_sampling": ("uniform", "activity"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise InputError(
                    f"{where}.{name}: expected one of {', '.join(map(repr, allowed))},"
                    f" got {getattr(self, name)!r}"
                )
        leave = self.leave
        if leave.initial_patience <= 0:
            raise InputError(
                f"{where}.leave.initial_patience: must be > 0, got {leave.initial_patience}"
            )
        for name in ("step_cost", "quality_cost"):
            if getattr(leave, name) < 0:
                raise InputError(f"{where}.leave.{name}: must be >= 0, got {getattr(leave, name)}")
        if leave.step_cost + leave.quality_cost <= 0:
            raise InputError(f"{where}.leave: the leave model needs step_cost + quality_cost > 0")

    def validate(
        self, simulator: Simulator, where: str = "env", source: str = "this simulator"
    ) -> None:
        """Raise :class:`InputError` naming the field that is out of range or asks for
        something ``simulator`` cannot serve (a feedback it does not predict, more
        history than it holds, a slate larger than its item pool).

        Args:
            simulator: the simulator sessions run on.
            where: the prefix of the field names in messages (``envs/ml1m.yaml: env``).
            source: how messages name the simulator (``the simulator at runs/...``).
        """
        self.check(where)
        if self.slate_size > simulator.n_items:
            raise InputError(
                f"{where}.slate_size: {self.slate_size} is more than the {simulator.n_items}"
                f" items {source} recommends from"
            )
        for name in self.reward_weights:
            if name not in simulator.feedback_names:
                raise InputError(
                    f"{where}.reward_weights: {name!r} is not a feedback {source} predicts"
                    f" ({', '.join(simulator.feedback_names)})"
                )
        if self.history_length > simulator.history_length:
            raise InputError(
                f"{where}.history_length: {self.history_length} is more than the"
                f" {simulator.history_length} items of history {source} holds per user"
            )


@dataclass(frozen=True)
class SlateEnvSpec:
    """A ``kind: slate`` env spec: sessions of a learned (or ground-truth) simulator.

    One file holds both halves: the simulator sections (how the simulator is learned,
    :class:`~rayrec.simulator.spec.SimulatorSpec`, read by ``rayrec simulator train``)
    and ``env`` (how a session runs, read when a run starts).

    Attributes:
        simulator: the simulator sections.
        env: the session settings.
        path: the file it was loaded from (empty when built in code; not compared).
    """

    kind: ClassVar[str] = "slate"

    simulator: SimulatorSpec
    env: EnvConfig = field(default_factory=EnvConfig)
    path: str = field(default="", compare=False)

    @property
    def name(self) -> str:
        """The spec's name (its learned simulator lives in ``runs/simulators/<name>``)."""
        return self.simulator.name

    def check(self, where: str) -> None:
        """Checks of the session settings that need only the file (the simulator's fit is
        checked against its checkpoint, by :meth:`EnvConfig.validate`)."""
        self.env.check(f"{where}: env")
        unknown = set(self.env.reward_weights) - set(self.simulator.slates.feedback)
        if unknown:
            raise InputError(
                f"{where}: env.reward_weights: unknown feedback {sorted(unknown)};"
                f" slates.feedback defines {sorted(self.simulator.slates.feedback)}"
            )

    def to_mapping(self) -> dict[str, Any]:
        """The spec as the mapping its YAML file holds (``kind``, simulator sections, ``env``)."""
        return {"kind": self.kind, **to_dict(self.simulator), "env": to_dict(self.env)}


def load_slate_spec(path: Path, data: dict[str, Any]) -> SlateEnvSpec:
    """The :class:`SlateEnvSpec` of a spec file's mapping (the ``slate`` kind's loader).

    Raises:
        InputError: naming the file and the key at fault.
    """
    where = str(path)
    simulator = simulator_spec_from_dict(data, where)
    env = from_dict(EnvConfig, data.get("env", {}), f"{where}: env")
    spec = SlateEnvSpec(simulator=simulator, env=env, path=where)
    spec.check(where)
    return spec


class SlateEnv(VectorEnv):
    """B simulated users stepped together (see module doc).

    Args:
        simulator: the loaded simulator (response backend + population).
        num_envs: B.
        config: session settings.
        device: torch device of the state tensors.
        seed: default seed (``reset(seed=...)`` overrides).
    """

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.NEXT_STEP}  # noqa: RUF012

    def __init__(
        self,
        simulator: Simulator,
        num_envs: int,
        config: EnvConfig | None = None,
        device: str = "cpu",
        seed: int | None = None,
    ) -> None:
        self.config = config or EnvConfig()
        self.config.validate(simulator)
        self.sim = simulator
        self.num_envs = num_envs
        self.device = torch.device(device)
        self.backend = simulator.make_backend(self.device)
        k, h = self.config.slate_size, self.config.history_length
        n_fb = len(simulator.feedback_names)
        self._k, self._h, self._n_fb = k, h, n_fb
        obs_spaces: dict[str, spaces.Space[Any]] = {
            OBS_USER: spaces.Box(0, simulator.n_users, shape=(1,), dtype=np.int64),
            OBS_HISTORY_ITEMS: spaces.Box(0, simulator.n_items, shape=(h,), dtype=np.int64),
            OBS_HISTORY_FEEDBACK: spaces.Box(0.0, 1.0, shape=(h, n_fb), dtype=np.float32),
        }
        n_uf = simulator.user_features.shape[1]
        self._n_user_features = n_uf
        if n_uf:
            high = simulator.user_features.max(axis=0).astype(np.int64)
            obs_spaces[OBS_USER_FEATURES] = spaces.Box(0, high, shape=(n_uf,), dtype=np.int64)
        self.single_observation_space = spaces.Dict(obs_spaces)
        self.single_action_space = spaces.MultiDiscrete(
            np.full(k, simulator.n_items), start=np.ones(k, dtype=np.int64)
        )
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._weights = torch.tensor(
            reward_vector(self.config.reward_weights, simulator.feedback_names),
            dtype=torch.float32,
            device=self.device,
        )  # (F,)
        self._popularity = simulator.popularity(self.config.reward_weights)  # (I + 1,)
        self._init_hist_items = torch.as_tensor(simulator.history_items(h), device=self.device)
        self._init_hist_fb = torch.as_tensor(simulator.history_feedback(h), device=self.device)
        self._user_feats = torch.as_tensor(simulator.user_features, device=self.device)
        self._population = torch.as_tensor(simulator.population, device=self.device)
        weights = (
            simulator.population_activity
            if self.config.user_sampling == "activity"
            else np.ones(len(simulator.population))
        )
        self._pop_weights = torch.as_tensor(weights, dtype=torch.float32, device=self.device)
        if self.config.similarity_penalty:
            v = self.backend.item_vectors()
            self._item_unit = v / v.norm(dim=-1, keepdim=True).clamp(min=1e-9)  # (I + 1, e)
        self._gen = torch.Generator(device=self.device)
        self._gen.manual_seed(0 if seed is None else seed)
        self._seed = seed
        self._users = torch.zeros(num_envs, dtype=torch.long, device=self.device)
        # clone: a backend may answer under inference_mode, and _reset_where writes in place
        self._state = self.backend.initial_state(self._users).clone()
        self._hist_items = torch.zeros(num_envs, h, dtype=torch.long, device=self.device)
        self._hist_fb = torch.zeros(num_envs, h, n_fb, device=self.device)
        self._patience = torch.zeros(num_envs, device=self.device)
        self._t = torch.zeros(num_envs, dtype=torch.long, device=self.device)
        self._needs_reset = torch.ones(num_envs, dtype=torch.bool, device=self.device)

    def observe(self) -> dict[str, np.ndarray]:
        """The current batched observation (a copy), as the last reset/step returned it."""
        return self._obs()

    @property
    def users(self) -> torch.Tensor:
        """(B,) the user id of each sub-env's current session."""
        return self._users

    @property
    def user_state(self) -> torch.Tensor:
        """(B, S) the backend's state of each current user."""
        return self._state

    @property
    def reward_weights(self) -> torch.Tensor:
        """(F,) the weight of each feedback type in the reward."""
        return self._weights

    @property
    def popularity(self) -> np.ndarray:
        """(I + 1,) each item's reward-weighted positive responses in the simulator's log."""
        return self._popularity

    # ----------------------------------------------------------------- gym API
    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        if seed is not None:
            self._gen.manual_seed(int(seed if isinstance(seed, int) else seed[0]))
        self._reset_where(torch.ones(self.num_envs, dtype=torch.bool, device=self.device))
        return self._obs(), {}

    def step(
        self, actions: np.ndarray | torch.Tensor
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        slates = torch.as_tensor(np.asarray(actions), device=self.device).long()
        if slates.shape != (self.num_envs, self._k):
            raise InvalidActionError(
                f"expected actions of shape ({self.num_envs}, {self._k}), got {tuple(slates.shape)}"
            )
        resetting = self._needs_reset.clone()
        reward, terminated, truncated, response, valid = self._step_core(slates, ~resetting)
        if resetting.any():
            self._reset_where(resetting)
        self._needs_reset = terminated | truncated
        infos = {
            INFO_RESPONSE: response.cpu().numpy(),
            INFO_SLATE_VALID: valid.cpu().numpy(),
            INFO_PATIENCE: _owned_numpy(self._patience),
        }
        return (
            self._obs(),
            reward.cpu().numpy(),
            terminated.cpu().numpy(),
            truncated.cpu().numpy(),
            infos,
        )

    # ---------------------------------------------------------------- internals
    def _reset_where(self, mask: torch.Tensor) -> None:
        n = int(mask.sum())
        if n == 0:
            return
        pick = torch.multinomial(self._pop_weights, n, replacement=True, generator=self._gen)
        users = self._population[pick]  # (n,)
        self._users[mask] = users
        self._state[mask] = self.backend.initial_state(users)
        self._hist_items[mask] = self._init_hist_items[users]
        self._hist_fb[mask] = self._init_hist_fb[users]
        self._patience[mask] = self.config.leave.initial_patience
        self._t[mask] = 0
        self._needs_reset[mask] = False

    def check_slates(self, slates: torch.Tensor) -> torch.Tensor:
        """(B, K) -> (B, K) bool: in range and first occurrence within the slate."""
        in_range = (slates >= 1) & (slates <= self.sim.n_items)
        ordered, order = torch.sort(slates, dim=1, stable=True)  # (B, K)
        dup_sorted = torch.zeros_like(in_range)
        dup_sorted[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
        dup = torch.zeros_like(in_range).scatter(1, order, dup_sorted)  # (B, K)
        return in_range & ~dup

    def _step_core(
        self, slates: torch.Tensor, active: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Score, sample, reward and leave for all users; inactive rows are not updated."""
        valid = self.check_slates(slates)  # (B, K)
        bad = active.unsqueeze(-1) & ~valid
        if self.config.invalid_action == "raise" and bool(bad.any()):
            env, pos = (int(x) for x in torch.nonzero(bad)[0])
            value = int(slates[env, pos])
            why = "a repeated item" if 1 <= value <= self.sim.n_items else "out of range"
            raise InvalidActionError(
                f"env {env}, slate position {pos}: item id {value} is {why}"
                f" (expected {self._k} distinct ids in 1..{self.sim.n_items})"
            )
        shown = torch.where(valid, slates, torch.zeros_like(slates))  # (B, K), 0 = not shown
        logits = self.backend.logits(self._state, self._users, shown.clamp(min=0))  # (B, K, F)
        if self.config.similarity_penalty:
            logits = logits - self.config.similarity_penalty * self._similarity(shown, valid)
        probs = torch.sigmoid(logits)  # (B, K, F)
        u = torch.rand(probs.shape, generator=self._gen, device=self.device)
        response = ((u < probs) & valid.unsqueeze(-1)).float()  # (B, K, F)
        mean_reward = slate_reward(response, valid, self._weights, "mean")  # (B,)
        if self.config.reward_aggregate == "mean":
            reward = mean_reward
        else:
            reward = slate_reward(response, valid, self._weights, "sum")  # (B,)
        quality = mean_reward / self._weights.abs().sum()  # (B,) in [0, 1]
        leave = self.config.leave
        patience = self._patience - (leave.step_cost + leave.quality_cost * (1 - quality))
        t = self._t + 1
        terminated = patience <= 0
        truncated = (t >= self.config.max_steps) & ~terminated
        new_state = self.backend.update(self._state, self._users, shown, response)
        hist_items = torch.cat([self._hist_items, shown], dim=1)  # (B, H + K)
        hist_fb = torch.cat([self._hist_fb, response], dim=1)  # (B, H + K, F)
        if bool(valid.all()):  # the usual case: nothing to compact
            hist_items, hist_fb = hist_items[:, -self._h :], hist_fb[:, -self._h :]
        else:  # move unshown (0) positions to the left, keep the order of the rest
            keep = torch.argsort((hist_items > 0).to(torch.int8), dim=1, stable=True)
            keep = keep[:, -self._h :]  # (B, H)
            hist_items = torch.gather(hist_items, 1, keep)
            hist_fb = torch.gather(hist_fb, 1, keep.unsqueeze(-1).expand(-1, -1, self._n_fb))
        act = active.unsqueeze(-1)
        self._hist_items = torch.where(act, hist_items, self._hist_items)
        self._hist_fb = torch.where(act.unsqueeze(-1), hist_fb, self._hist_fb)
        self._state = torch.where(act, new_state, self._state)
        self._patience = torch.where(active, patience, self._patience)
        self._t = torch.where(active, t, self._t)
        zero = torch.zeros_like(reward)
        no = torch.zeros_like(terminated)
        return (
            torch.where(active, reward, zero),
            torch.where(active, terminated, no),
            torch.where(active, truncated, no),
            response * act.unsqueeze(-1),
            valid & act,
        )

    def _similarity(self, shown: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(B, K, 1) mean cosine similarity of each item to the other valid slate items."""
        v = self._item_unit[shown]  # (B, K, e)
        sim = torch.bmm(v, v.transpose(1, 2))  # (B, K, K)
        m = (valid.unsqueeze(1) & valid.unsqueeze(2)).float()
        m = m * (1 - torch.eye(self._k, device=self.device))
        return ((sim * m).sum(-1) / m.sum(-1).clamp(min=1)).unsqueeze(-1)

    def _obs(self) -> dict[str, np.ndarray]:
        obs = {
            OBS_USER: _owned_numpy(self._users.unsqueeze(-1)),
            OBS_HISTORY_ITEMS: _owned_numpy(self._hist_items),
            OBS_HISTORY_FEEDBACK: _owned_numpy(self._hist_fb),
        }
        if self._n_user_features:
            obs[OBS_USER_FEATURES] = self._user_feats[self._users].cpu().numpy()
        return obs


def _owned_numpy(t: torch.Tensor) -> np.ndarray:
    """A numpy copy of a state tensor: ``.cpu().numpy()`` of a CPU tensor shares its
    memory, and the env writes its state in place on reset."""
    return t.detach().to("cpu", copy=True).numpy()


class SingleUserSlateEnv(gym.Env):
    """One user of the simulator as a plain ``gymnasium.Env`` (no auto-reset)."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012

    def __init__(
        self,
        simulator: Simulator,
        config: EnvConfig | None = None,
        device: str = "cpu",
        seed: int | None = None,
    ) -> None:
        self._env = SlateEnv(simulator, 1, config, device=device, seed=seed)
        self.observation_space = self._env.single_observation_space
        self.action_space = self._env.single_action_space
        self._done = True

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        obs, _ = self._env.reset(seed=seed)
        self._done = False
        return {k: v[0] for k, v in obs.items()}, {}

    def step(
        self, action: np.ndarray
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        if self._done:
            raise RuntimeError("step() called on a finished episode: call reset() first")
        env = self._env
        slates = torch.as_tensor(np.asarray(action), device=env.device).long()
        if slates.shape != (env._k,):
            raise InvalidActionError(
                f"expected an action of shape ({env._k},), got {tuple(slates.shape)}"
            )
        slates = slates.view(1, -1)
        active = torch.ones(1, dtype=torch.bool, device=env.device)
        reward, term, trunc, response, valid = env._step_core(slates, active)
        self._done = bool(term[0] or trunc[0])
        obs = {k: v[0] for k, v in env._obs().items()}
        info = {
            INFO_RESPONSE: response[0].cpu().numpy(),
            INFO_SLATE_VALID: valid[0].cpu().numpy(),
            INFO_PATIENCE: float(env._patience[0]),
        }
        return obs, float(reward[0]), bool(term[0]), bool(trunc[0]), info
