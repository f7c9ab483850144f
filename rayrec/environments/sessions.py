"""The ``logged_sessions`` env kind: logged click/purchase sessions replayed (SQN, CAL4Rec).

``../shared/specs/cal4rec.md`` ("Data and protocol"). The data and every rule that makes
it are :mod:`rayrec.data.sessions` (the spec's ``sessions:`` section is a
:class:`~rayrec.data.sessions.SessionSettings`). Offline training reads the replay rows
of :func:`session_data_for` directly (:meth:`SessionData.batch`); this env exists so
RLlib has the spaces, and replays the same sessions for anyone who steps it:

- B sub-envs each replay one logged session of the env_config's part; the observation is
  the state before the session's next event: ``state`` (L,) int64 (0 padding, padded
  as ``sessions.padding`` says) and ``len_state`` (1,) int64 in ``1 .. L``;
- the action is an item ``0 .. N`` (``Discrete(N + 1)``; 0 is padding and never logged);
  the reward is the logged event's reward (``click_reward`` / ``purchase_reward``) when
  the action is the logged item, else 0;
- the observation then advances along the logged session **whatever the action was**
  (replay); ``terminated`` after the session's last event (never ``truncated``); the
  observation returned then is the state after the last event;
- auto-reset follows gymnasium's ``NEXT_STEP`` mode as the ``topn`` env does: the step
  after a session ended starts the slot's next session (its action is ignored, reward
  0); sessions are taken in a seeded shuffled order, reshuffled after each pass.

Infos (each (B,)): ``hit`` (the action was the logged item), ``logged_item`` (the item
logged at that step; 0 on a reset step).

``env_config`` keys (:func:`sessions_env_config` builds it from a spec):

``kind``      ``logged_sessions``
``spec``      the env spec file (error messages name it)
``dataset``   ``{name, path}`` with the data folder resolved when the config was built
``part``      ``train`` (the train sessions) or ``eval`` (the test sessions,
              :data:`ENV_PARTS`)
``sessions``  the :class:`~rayrec.data.sessions.SessionSettings` fields
``seed``      base seed of the session order (default ``sessions.seed``); each runner
              adds ``10007 × worker_index``
``num_envs``  B (RLlib's ``vector_entry_point`` adds it); absent: the one-session view
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from rayrec.config import from_dict, to_dict
from rayrec.data.datasets import load_dataset
from rayrec.data.sessions import (
    LEN_STATE,
    PART_TEST,
    PART_TRAIN,
    STATE,
    SessionData,
    SessionSettings,
    build_session_data,
)
from rayrec.environments.dataset_spec import (
    dataset_env_config,
    item_actions,
    load_dataset_spec,
    read_env_config,
    spec_mapping,
)
from rayrec.environments.keys import INFO_HIT
from rayrec.environments.rating_walk import WORKER_SEED_STRIDE
from rayrec.environments.spec import register_env_kind
from rayrec.errors import InputError
from rayrec.simulator.keys import PART_EVAL
from rayrec.simulator.spec import DatasetSpec

ENV_NAME = "rayrec-logged-sessions"
#: info key: the item logged at the step (0 on a reset step)
INFO_LOGGED_ITEM = "logged_item"
#: env_config ``part`` -> the sessions the env replays
ENV_PARTS: dict[str, str] = {PART_TRAIN: PART_TRAIN, PART_EVAL: PART_TEST}
Obs = dict[str, np.ndarray]


@dataclass(frozen=True)
class SessionsSpec:
    """A ``kind: logged_sessions`` env spec (``envs/ml1m_sessions.yaml``).

    Attributes:
        name: the spec's name.
        dataset: the logged dataset; ``path`` default ``--data-dir`` then
            ``$RAYREC_DATA/<folder>``; ``note`` says what exactly is used.
        description: free text.
        sessions: the rules that make sessions and replay rows
            (:class:`~rayrec.data.sessions.SessionSettings`).
        path: the file it was loaded from (empty when built in code; not compared).
    """

    kind: ClassVar[str] = "logged_sessions"

    name: str
    dataset: DatasetSpec
    description: str = ""
    sessions: SessionSettings = field(default_factory=SessionSettings)
    path: str = field(default="", compare=False)

    def to_mapping(self) -> dict[str, Any]:
        """The spec as the mapping its YAML file holds."""
        return spec_mapping(self, "sessions")


def load_sessions_spec(path: Path, data: dict[str, Any]) -> SessionsSpec:
    """The :class:`SessionsSpec` of a spec file's mapping (the kind's loader).

    Raises:
        InputError: naming the file and the key at fault.
    """
    return load_dataset_spec(SessionsSpec, "sessions", path, data)


# ------------------------------------------------------------------- the data
def session_data_for(env_config: Mapping[str, Any]) -> SessionData:
    """The :class:`SessionData` an ``env_config`` describes, built once per process
    (the log from its Parquet cache).

    Raises:
        InputError: a key is missing or wrong, or a rule the log cannot serve (naming
            the spec file and the key).
    """
    read = read_env_config(env_config, "sessions", SessionSettings)
    note = str(env_config.get("note", ""))
    settings = json.dumps(to_dict(read.settings), sort_keys=True)
    return _session_data(read.dataset, read.path, settings, read.where, note)


@functools.lru_cache(maxsize=4)
def _session_data(name: str, path: str | None, settings: str, where: str, note: str) -> SessionData:
    parsed = from_dict(SessionSettings, json.loads(settings), f"{where}: sessions")
    log = load_dataset(name, path)
    return build_session_data(log, parsed, name=name, where=f"{where}: sessions", note=note)


# ------------------------------------------------------------------ the env
class LoggedSessionsEnv(VectorEnv):
    """B logged sessions replayed together (see module doc).

    Args:
        data: the sessions.
        num_envs: B.
        part: which sessions: ``train``, ``valid`` or ``test``.
        seed: seed of the session order (``reset(seed=...)`` overrides).
    """

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.NEXT_STEP}  # noqa: RUF012

    def __init__(
        self, data: SessionData, num_envs: int, part: str = PART_TRAIN, seed: int = 0
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs: expected >= 1, got {num_envs}")
        self.data = data
        self.num_envs = num_envs
        self.part = part
        self._sessions = data.sessions(part)
        if not len(self._sessions):
            raise InputError(
                f"{data.description.get('dataset', 'sessions')}: the {part!r} part holds no"
                " session: expected at least one (check sessions.fractions)"
            )
        big_l, n_items = data.state_length, data.n_items
        self._n_items = n_items
        self.single_observation_space = spaces.Dict(
            {
                STATE: spaces.Box(0, n_items, shape=(big_l,), dtype=np.int64),
                LEN_STATE: spaces.Box(1, big_l, shape=(1,), dtype=np.int64),
            }
        )
        self.single_action_space = spaces.Discrete(n_items + 1)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._rng = np.random.default_rng(seed)
        self._order = self._sessions
        self._next = 0
        self._session = np.zeros(num_envs, dtype=np.int64)  # (B,) session index
        self._start = np.zeros(num_envs, dtype=np.int64)  # (B,) its first event
        self._end = np.zeros(num_envs, dtype=np.int64)  # (B,) one past its last event
        self._event = np.zeros(num_envs, dtype=np.int64)  # (B,) the next event to replay
        self._needs_reset = np.ones(num_envs, dtype=bool)

    @property
    def sessions(self) -> np.ndarray:
        """(B,) the session index each sub-env replays now."""
        return self._session.copy()

    @property
    def events(self) -> np.ndarray:
        """(B,) the index of the event each sub-env's observation precedes (its
        session's end once it is over)."""
        return self._event.copy()

    def observe(self) -> Obs:
        """The current batched observation (as the last reset/step returned it)."""
        return self._obs()

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Obs, dict[str, Any]]:
        """Start over: a fresh shuffled session order and a new session in every sub-env."""
        if seed is not None:
            self._rng = np.random.default_rng(int(seed if isinstance(seed, int) else seed[0]))
        self._order = self._rng.permutation(self._sessions)
        self._next = 0
        self._assign(np.ones(self.num_envs, dtype=bool))
        return self._obs(), {}

    def step(
        self, actions: np.ndarray
    ) -> tuple[Obs, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Score one item per sub-env against the logged event, then replay it.

        Args:
            actions: (B,) or (B, 1) item ids in ``0 .. N``.

        Raises:
            ValueError: an action of the wrong shape or outside ``0 .. N``.
        """
        a = item_actions(actions, self.num_envs, self._n_items)  # (B,)
        resetting = self._needs_reset.copy()  # (B,)
        live = ~resetting  # (B,) sub-envs whose action counts
        event = np.where(live, self._event, 0)  # (B,)
        logged = np.where(live, self.data.items[event], 0)  # (B,)
        hit = live & (a == logged)  # (B,)
        reward = np.where(hit, self.data.rewards(event), 0.0).astype(np.float32)  # (B,)
        self._event = self._event + live
        terminated = live & (self._event >= self._end)  # (B,)
        if resetting.any():
            self._assign(resetting)
        self._needs_reset = terminated.copy()  # _assign edits it in place
        infos = {INFO_HIT: hit, INFO_LOGGED_ITEM: logged}
        return self._obs(), reward, terminated, np.zeros(self.num_envs, dtype=bool), infos

    def _take(self, k: int) -> np.ndarray:
        """The next ``k`` sessions of the order, reshuffled at the end of each pass."""
        taken: list[np.ndarray] = []
        while k > 0:
            if self._next >= len(self._order):
                self._order = self._rng.permutation(self._sessions)
                self._next = 0
            chunk = self._order[self._next : self._next + k]
            taken.append(chunk)
            self._next += len(chunk)
            k -= len(chunk)
        return np.concatenate(taken) if taken else np.zeros(0, dtype=np.int64)

    def _assign(self, mask: np.ndarray) -> None:
        """Give each sub-env in ``mask`` the next session, at its first event."""
        slots = np.flatnonzero(mask)
        sessions = self._take(len(slots))
        self._session[slots] = sessions
        self._start[slots] = self.data.session_start[sessions]
        self._end[slots] = self.data.session_start[sessions + 1]
        self._event[slots] = self._start[slots]
        self._needs_reset[slots] = False

    def _obs(self) -> Obs:
        state, len_state = self.data.states_at(self._start, self._event)  # (B, L), (B,)
        return {STATE: state, LEN_STATE: len_state[:, None]}


class SingleSessionEnv(gym.Env[Obs, np.int64]):
    """One logged session at a time as a plain ``gymnasium.Env`` (no auto-reset): each
    ``reset`` takes the next session of the order; ``reset(seed=...)`` starts it over."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012

    def __init__(self, data: SessionData, part: str = PART_TRAIN, seed: int = 0) -> None:
        self._env = LoggedSessionsEnv(data, 1, part, seed=seed)
        self.observation_space = self._env.single_observation_space
        self.action_space = self._env.single_action_space
        self._started = False
        self._done = True

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Obs, dict[str, Any]]:
        super().reset(seed=seed)
        env = self._env
        if seed is not None or not self._started:
            obs, _ = env.reset(seed=seed)
            self._started = True
        else:
            env._assign(np.ones(1, dtype=bool))
            obs = env.observe()
        self._done = False
        return {k: v[0] for k, v in obs.items()}, {}

    def step(self, action: np.int64) -> tuple[Obs, float, bool, bool, dict[str, Any]]:
        if self._done:
            raise RuntimeError("step() called on a finished episode: call reset() first")
        obs, reward, terminated, truncated, infos = self._env.step(np.reshape(action, (1,)))
        self._done = bool(terminated[0])
        info = {k: v[0].item() for k, v in infos.items()}
        return (
            {k: v[0] for k, v in obs.items()},
            float(reward[0]),
            bool(terminated[0]),
            bool(truncated[0]),
            info,
        )


# ---------------------------------------------------------------- RLlib side
def sessions_env_config(
    spec: SessionsSpec, data_dir: str | None, part: str, seed: int | None, option: str
) -> dict[str, Any]:
    """The ``env_config`` of a loaded spec (the kind's builder): the data folder
    resolved and the sessions built once, so a rule the log cannot serve is refused
    here, before Ray starts.

    Raises:
        InputError: naming the spec file and the key at fault.
    """
    env_config = dataset_env_config(spec, "sessions", data_dir, part, seed, option)
    if spec.dataset.note:
        env_config["note"] = spec.dataset.note
    session_data_for(env_config)  # builds the data: refuses what the env cannot use
    return env_config


def make_env(env_config: Mapping[str, Any]) -> LoggedSessionsEnv | SingleSessionEnv:
    """Creator for RLlib (and plain gymnasium): batched if ``num_envs`` is given."""
    data = session_data_for(env_config)
    read = read_env_config(env_config, "sessions", SessionSettings)
    base_seed = env_config.get("seed")
    worker = int(getattr(env_config, "worker_index", 0))
    seed = (read.settings.seed if base_seed is None else int(base_seed)) + (
        WORKER_SEED_STRIDE * worker
    )
    part = ENV_PARTS[read.part]
    num_envs = env_config.get("num_envs")
    if num_envs is None:
        return SingleSessionEnv(data, part, seed=seed)
    return LoggedSessionsEnv(data, int(num_envs), part, seed=seed)


register_env_kind(
    SessionsSpec.kind,
    spec_class=SessionsSpec,
    load=load_sessions_spec,
    env_config=sessions_env_config,
    make_env=make_env,
    creator_name=ENV_NAME,
)
