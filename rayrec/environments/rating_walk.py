"""The ``rating_walk`` env kind: rating prediction as a walk through each user's records.

One episode walks one user's records (:class:`~rayrec.data.rating_walk.RatingRecords`)
in time order. At each step the agent predicts the normalised rating of the current
record, at position ``t``, starting at ``t = m`` (``walk.short_window``: a prediction
needs m earlier records); the reward is ``1 − |pred − real|`` (``walk.reward: abs``,
ours), ``−|pred − real|`` (``neg_abs``) or ``−(pred − real)²`` (``neg_square``) on the
normalised scale.

Parts (``part`` of the ``env_config``):

- ``train``: an episode covers the user's train records at positions
  ``m .. n_train − 1`` and is ``terminated`` after the last. Users (those with more than
  m train records) are visited in a seeded shuffled order, reshuffled each pass, each
  sub-env taking the next user when its episode ended. The train env holds no test-part
  rating at all: its rating array is zero on test rows, and no observation or reward of
  the train part reaches a test row.
- ``eval`` (the test walk): an episode covers ALL the user's records from position m to
  ``n − 1``, so a recurrent state carries the train records into the test part; only
  the test-part records at positions ``>= m`` are scored (``info["scored"]``). Users
  with a scored record are walked once each in increasing id (:attr:`RatingWalkEnv.walk_users`);
  a sub-env with no user left steps as an idle no-op (``predicted`` and ``scored``
  False, zero observation) and :attr:`RatingWalkEnv.done` says when every user has
  finished. With ``walk.test_history: predicted`` (ours), once a test-part record has
  been predicted, later observations show the agent's prediction in its rating slot
  instead of the true rating; ``observed`` (default) shows the true rating — the
  protocol asymmetry to state next to rating models that never see test ratings.

Observation (:mod:`rayrec.environments.keys`; per sub-env):

==================  =============  ============================================
key                 shape, dtype   meaning
==================  =============  ============================================
``user``            (1,) int64     dense user id (0 = idle)
``records``         (W, F+1) f32   the last W records before t, oldest first,
                                   left-padded with zeros; last column = rating
``record_items``    (W,) int64     their item ids (0 = padding)
``record_mask``     (W,) f32       1.0 for a real record
``new_records``     (1,) int64     window records no earlier observation of the
                                   episode held: min(t, W) at the start, then 1
``current``         (F,) f32       features of the record to predict (no rating)
``current_item``    (1,) int64     its item id
==================  =============  ============================================

The current record's rating is never in the observation. The observation a step
returns when an episode ends (``terminated``) holds the full window and a zero
``current`` (no record left). Auto-reset follows gymnasium's ``NEXT_STEP`` mode as
:class:`~rayrec.environments.slate.SlateEnv` does: the step after an episode ended
takes the next user (its action is ignored, reward 0, ``predicted`` False).

Infos (each (B,)): ``rating`` (normalised real rating of the predicted record),
``scored``, ``predicted``, ``user``, ``position`` (of the predicted record; 0 / −1 when
the step predicted none).

Every step is array arithmetic over the B sub-envs: window rows are gathered from the
flat record arrays by ``offset + t − W + j``; no Python loop runs over users.

``env_config`` keys (:func:`rating_walk_env_config` builds it from a spec):

``kind``     ``rating_walk``
``spec``     the env spec file (error messages name it)
``dataset``  ``{name, path}`` with the data folder resolved when the config was built
``part``     ``train`` (default) or ``eval``
``walk``     the :class:`WalkConfig` fields
``seed``     base seed of the train order (default ``walk.seed``); each runner adds
             ``10007 × worker_index``
``num_envs`` B (RLlib's ``vector_entry_point`` adds it); absent: the single-user view
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from rayrec.data.datasets import load_dataset
from rayrec.data.rating_walk import RatingRecords, build_rating_records
from rayrec.environments.dataset_spec import (
    DATA_DIR_OPTION,
    dataset_env_config,
    dataset_folder,
    load_dataset_spec,
    read_env_config,
    spec_mapping,
    spec_of_kind,
)
from rayrec.environments.keys import (
    INFO_POSITION,
    INFO_PREDICTED,
    INFO_RATING,
    INFO_SCORED,
    INFO_USER,
    OBS_CURRENT,
    OBS_CURRENT_ITEM,
    OBS_NEW_RECORDS,
    OBS_RECORD_ITEMS,
    OBS_RECORD_MASK,
    OBS_RECORDS,
    OBS_USER,
)
from rayrec.environments.spec import register_env_kind
from rayrec.errors import InputError
from rayrec.simulator.keys import PART_EVAL, PART_TRAIN
from rayrec.simulator.spec import DatasetSpec

ENV_NAME = "rayrec-rating_walk"
REWARDS: tuple[str, ...] = ("abs", "neg_abs", "neg_square")
TEST_HISTORIES: tuple[str, ...] = ("observed", "predicted")
#: seed offset between env runners (as the slate env)
WORKER_SEED_STRIDE = 10_007


@dataclass(frozen=True)
class WalkConfig:
    """The ``walk`` section of a ``rating_walk`` spec.

    Attributes:
        train_fraction: train share of each user's chronological records (per-user split).
        short_window: m; a walk predicts the records at positions ``>= m``.
        window: W past records in each observation (``>= m``).
        reward: ``abs`` (1 − |pred − real|, ours, default), ``neg_abs`` (−|pred − real|)
            or ``neg_square`` (−(pred − real)²), on the normalised scale.
        rating_scale: (low, high) of the raw ratings; normalised = (r − low)/(high − low).
        test_history: in the test walk, earlier test records carry their true ratings
            (``observed``) or the agent's own predictions (``predicted``, ours).
        seed: seed of the train part's user order.
    """

    train_fraction: float = 0.8
    short_window: int = 5
    window: int = 16
    reward: Literal["abs", "neg_abs", "neg_square"] = "abs"
    rating_scale: tuple[float, ...] = (1.0, 5.0)
    test_history: Literal["observed", "predicted"] = "observed"
    seed: int = 0

    def check(self, where: str = "walk") -> None:
        """Raise :class:`InputError` naming the field (``<where>.<field>``) out of range."""
        if not 0.0 < self.train_fraction < 1.0:
            raise InputError(
                f"{where}.train_fraction: expected a number in (0, 1), got {self.train_fraction!r}"
            )
        if self.short_window < 1:
            raise InputError(
                f"{where}.short_window: expected an integer >= 1, got {self.short_window!r}"
            )
        if self.window < self.short_window:
            raise InputError(
                f"{where}.window: expected an integer >= short_window ({self.short_window}),"
                f" got {self.window!r}"
            )
        scale = self.rating_scale
        if len(scale) != 2 or not scale[0] < scale[1]:
            raise InputError(
                f"{where}.rating_scale: expected [low, high] with low < high, got {list(scale)}"
            )
        if self.reward not in REWARDS:
            raise InputError(
                f"{where}.reward: expected one of {', '.join(map(repr, REWARDS))},"
                f" got {self.reward!r}"
            )
        if self.test_history not in TEST_HISTORIES:
            raise InputError(
                f"{where}.test_history: expected one of {', '.join(map(repr, TEST_HISTORIES))},"
                f" got {self.test_history!r}"
            )


@dataclass(frozen=True)
class RatingWalkSpec:
    """A ``kind: rating_walk`` env spec (``envs/ml1m_rating.yaml``).

    Attributes:
        name: the spec's name.
        dataset: the rated, timestamped dataset; ``path`` default ``--data-dir`` then
            ``$RAYREC_DATA/<folder>``; ``note`` says what exactly is used.
        description: free text.
        walk: how the walk runs (:class:`WalkConfig`).
        path: the file it was loaded from (empty when built in code; not compared).
    """

    kind: ClassVar[str] = "rating_walk"

    name: str
    dataset: DatasetSpec
    description: str = ""
    walk: WalkConfig = field(default_factory=WalkConfig)
    path: str = field(default="", compare=False)

    def to_mapping(self) -> dict[str, Any]:
        """The spec as the mapping its YAML file holds."""
        return spec_mapping(self, "walk")


def load_rating_walk_spec(path: Path, data: dict[str, Any]) -> RatingWalkSpec:
    """The :class:`RatingWalkSpec` of a spec file's mapping (the kind's loader).

    Raises:
        InputError: naming the file and the key at fault.
    """
    return load_dataset_spec(RatingWalkSpec, "walk", path, data)


# ------------------------------------------------------------------- the data
@functools.lru_cache(maxsize=4)
def _records(
    name: str,
    path: str | None,
    train_fraction: float,
    short_window: int,
    low: float,
    high: float,
    where: str,
) -> RatingRecords:
    """The records of a dataset folder, once per process (the log from its Parquet cache)."""
    log = load_dataset(name, path)
    return build_rating_records(
        log,
        train_fraction=train_fraction,
        short_window=short_window,
        rating_scale=(low, high),
        where=where,
    )


def load_walk_records(
    spec: RatingWalkSpec | str | Path,
    data_dir: str | Path | None = None,
    *,
    option: str = DATA_DIR_OPTION,
) -> RatingRecords:
    """The :class:`RatingRecords` of a ``rating_walk`` spec (or spec file / packaged
    name), cached per process. Rating models outside the walk take their split from here
    (``records.triples("train")`` / ``records.triples("test")``).

    Args:
        spec: the loaded spec, its file, or a packaged spec's name.
        data_dir: the dataset folder (overrides the spec's ``dataset.path``).
        option: how messages name the way to pass ``data_dir``.

    Raises:
        InputError: the data is missing, has no ratings or no timestamps (naming the
            spec file and ``dataset``).
    """
    if not isinstance(spec, RatingWalkSpec):
        spec = spec_of_kind(spec, RatingWalkSpec)
    path = dataset_folder(spec, data_dir, option)
    walk = spec.walk
    return _records(
        spec.dataset.name,
        path,
        walk.train_fraction,
        walk.short_window,
        float(walk.rating_scale[0]),
        float(walk.rating_scale[1]),
        spec.path,
    )


# ------------------------------------------------------------------ the env
class RatingWalkEnv(VectorEnv):
    """B users' rating walks stepped together (see module doc).

    Args:
        records: the per-user records (built with this config's train_fraction,
            short_window and rating_scale).
        num_envs: B.
        config: the walk settings.
        part: ``train`` or ``eval``.
        seed: seed of the train order (default ``config.seed``; ``reset(seed=...)``
            overrides).
    """

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.NEXT_STEP}  # noqa: RUF012

    def __init__(
        self,
        records: RatingRecords,
        num_envs: int,
        config: WalkConfig | None = None,
        part: str = PART_TRAIN,
        seed: int | None = None,
    ) -> None:
        self.config = config or WalkConfig()
        self.config.check()
        if part not in (PART_TRAIN, PART_EVAL):
            raise ValueError(f"part: expected 'train' or 'eval', got {part!r}")
        if records.short_window != self.config.short_window:
            raise ValueError(
                f"records were built for short_window {records.short_window},"
                f" the walk has {self.config.short_window}"
            )
        if num_envs < 1:
            raise ValueError(f"num_envs: expected >= 1, got {num_envs}")
        self.records = records
        self.part = part
        self.num_envs = num_envs
        m, w, f = self.config.short_window, self.config.window, records.n_features
        self._m, self._w, self._f = m, w, f
        self._features = records.features  # (N, F), shared read-only
        self._items = records.items  # (N,)
        self._offsets = records.offsets[:-1]  # (U,)
        if part == PART_TRAIN:
            # the train env never holds a test-part rating
            self._ratings = np.where(records.is_test, 0.0, records.normalised).astype(np.float32)
            self._scored = np.ones(records.n_records, dtype=bool)
            self._ends = records.n_train  # (U,)
            self._walk_users = np.flatnonzero(records.n_train > m)
        else:
            self._ratings = records.normalised
            self._scored = records.scored
            self._ends = records.lengths
            per_user = np.add.reduceat(self._scored.astype(np.int64), records.offsets[:-1])
            self._walk_users = np.flatnonzero(per_user > 0)
        self._ratings.setflags(write=False)
        if not len(self._walk_users):
            raise InputError(
                f"{records.dataset}: no user has a record to predict in the {part} part"
                f" (each needs more than short_window = {m} records there)"
            )
        self._predicted_history = part == PART_EVAL and self.config.test_history == "predicted"
        self._shown = self._ratings.copy()  # (N,) the rating column observations show
        obs_spaces: dict[str, spaces.Space[Any]] = {
            OBS_USER: spaces.Box(0, records.n_users, shape=(1,), dtype=np.int64),
            OBS_RECORDS: spaces.Box(-np.inf, np.inf, shape=(w, f + 1), dtype=np.float32),
            OBS_RECORD_ITEMS: spaces.Box(0, records.n_items, shape=(w,), dtype=np.int64),
            OBS_RECORD_MASK: spaces.Box(0.0, 1.0, shape=(w,), dtype=np.float32),
            OBS_NEW_RECORDS: spaces.Box(0, w, shape=(1,), dtype=np.int64),
            OBS_CURRENT: spaces.Box(-np.inf, np.inf, shape=(f,), dtype=np.float32),
            OBS_CURRENT_ITEM: spaces.Box(0, records.n_items, shape=(1,), dtype=np.int64),
        }
        self.single_observation_space = spaces.Dict(obs_spaces)
        self.single_action_space = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._seed = self.config.seed if seed is None else seed
        self._rng = np.random.default_rng(self._seed)
        self._order = self._walk_users
        self._next = 0
        self._slot_user = np.full(num_envs, -1, dtype=np.int64)  # user index, -1 = idle
        self._base = np.zeros(num_envs, dtype=np.int64)  # first row of the slot's user
        self._t = np.zeros(num_envs, dtype=np.int64)  # position of the record to predict
        self._end = np.zeros(num_envs, dtype=np.int64)  # episode ends when t reaches it
        self._first = np.zeros(num_envs, dtype=bool)  # next observation starts the episode
        self._needs_reset = np.ones(num_envs, dtype=bool)
        self._j = np.arange(w, dtype=np.int64)  # (W,)

    # ------------------------------------------------------------- properties
    @property
    def walk_users(self) -> np.ndarray:
        """Dense ids of the users this part walks (train: more than m train records;
        eval: a scored record), increasing."""
        return self.records.user_ids[self._walk_users]

    @property
    def users(self) -> np.ndarray:
        """(B,) the dense user id each sub-env walks now (0 = idle)."""
        return np.where(self._slot_user >= 0, self.records.user_ids[self._slot_user.clip(0)], 0)

    @property
    def done(self) -> bool:
        """Eval part: every user has been walked to the end (the train part never is)."""
        if self.part == PART_TRAIN or self._next < len(self._order):
            return False
        live = (self._slot_user >= 0) & ~self._needs_reset
        return not bool(live.any())

    def observe(self) -> dict[str, np.ndarray]:
        """The current batched observation (as the last reset/step returned it)."""
        return self._obs()

    # ---------------------------------------------------------------- gym API
    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start over: a fresh user order (train: reshuffled; eval: from the first user)
        and a new user in every sub-env."""
        if seed is not None:
            self._rng = np.random.default_rng(int(seed if isinstance(seed, int) else seed[0]))
        if self._predicted_history:
            self._shown = self._ratings.copy()
        self._order = (
            self._rng.permutation(self._walk_users) if self.part == PART_TRAIN else self._walk_users
        )
        self._next = 0
        self._assign(np.ones(self.num_envs, dtype=bool))
        return self._obs(), {}

    def step(
        self, actions: np.ndarray
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Score each sub-env's prediction of its current record and move on (module doc).

        Args:
            actions: (B, 1) or (B,) predicted normalised ratings (clipped to [0, 1]).
        """
        pred = np.asarray(actions, dtype=np.float32).reshape(self.num_envs, -1)
        if pred.shape[1] != 1:
            raise ValueError(
                f"expected actions of shape ({self.num_envs}, 1), got {np.shape(actions)}"
            )
        pred = np.clip(pred[:, 0], 0.0, 1.0)  # (B,)
        resetting = self._needs_reset.copy()
        live = (self._slot_user >= 0) & ~resetting  # (B,) sub-envs that predict now
        rows = np.where(live, self._base + self._t, 0)  # (B,)
        real = np.where(live, self._ratings[rows], 0.0).astype(np.float32)  # (B,)
        reward = np.where(live, self._reward(pred, real), 0.0).astype(np.float32)  # (B,)
        scored = live & self._scored[rows]
        if self._predicted_history:
            shown = live & self.records.is_test[rows]
            self._shown[rows[shown]] = pred[shown]
        infos = {
            INFO_RATING: real,
            INFO_SCORED: scored,
            INFO_PREDICTED: live.copy(),
            INFO_USER: np.where(live, self.users, 0),
            INFO_POSITION: np.where(live, self._t, -1),
        }
        self._t = self._t + live
        self._first &= ~live
        terminated = live & (self._t >= self._end)
        if resetting.any():
            self._assign(resetting)
        self._needs_reset = terminated
        truncated = np.zeros(self.num_envs, dtype=bool)
        return self._obs(), reward, terminated, truncated, infos

    # -------------------------------------------------------------- internals
    def _reward(self, pred: np.ndarray, real: np.ndarray) -> np.ndarray:
        diff = pred - real  # (B,)
        if self.config.reward == "abs":
            return 1.0 - np.abs(diff)
        if self.config.reward == "neg_abs":
            return -np.abs(diff)
        return -(diff**2)

    def _take(self, k: int) -> np.ndarray:
        """The next ``k`` users of the order (train: reshuffled at the end of each pass;
        eval: fewer when the walk is over)."""
        taken: list[np.ndarray] = []
        while k > 0:
            if self._next >= len(self._order):
                if self.part != PART_TRAIN:
                    break
                self._order = self._rng.permutation(self._walk_users)
                self._next = 0
            chunk = self._order[self._next : self._next + k]
            taken.append(chunk)
            self._next += len(chunk)
            k -= len(chunk)
        return np.concatenate(taken) if taken else np.zeros(0, dtype=np.int64)

    def _assign(self, mask: np.ndarray) -> None:
        """Give each sub-env in ``mask`` the next user (idle when none is left)."""
        slots = np.flatnonzero(mask)
        users = self._take(len(slots))
        got, idle = slots[: len(users)], slots[len(users) :]
        self._slot_user[idle] = -1
        self._first[idle] = False
        self._slot_user[got] = users
        self._base[got] = self.records.offsets[users]
        self._t[got] = self._m
        self._end[got] = self._ends[users]
        self._first[got] = True
        if self._predicted_history and len(users):
            rows = _ranges(self.records.offsets[users], self.records.offsets[users + 1])
            self._shown[rows] = self._ratings[rows]
        self._needs_reset[slots] = False

    def _obs(self) -> dict[str, np.ndarray]:
        has_user = self._slot_user >= 0  # (B,)
        t, w = self._t, self._w
        pos = t[:, None] - w + self._j[None, :]  # (B, W) positions in the user's history
        valid = (pos >= 0) & has_user[:, None]  # (B, W)
        idx = np.where(valid, self._base[:, None] + pos, 0)  # (B, W) rows
        records = np.empty((self.num_envs, w, self._f + 1), dtype=np.float32)  # (B, W, F + 1)
        records[..., : self._f] = self._features[idx]
        records[..., self._f] = self._shown[idx]
        records *= valid[..., None]
        has_current = has_user & (t < self._end)  # (B,)
        cur = np.where(has_current, self._base + t, 0)  # (B,)
        current = self._features[cur] * has_current[:, None]  # (B, F)
        new = np.where(self._first, np.minimum(t, w), 1) * has_user  # (B,)
        return {
            OBS_USER: self.users[:, None].astype(np.int64),
            OBS_RECORDS: records,
            OBS_RECORD_ITEMS: np.where(valid, self._items[idx], 0),
            OBS_RECORD_MASK: valid.astype(np.float32),
            OBS_NEW_RECORDS: new[:, None].astype(np.int64),
            OBS_CURRENT: current.astype(np.float32),
            OBS_CURRENT_ITEM: np.where(has_current, self._items[cur], 0)[:, None],
        }


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The concatenated ``arange(s, e)`` of each pair, without a Python loop."""
    lengths = ends - starts
    total = int(lengths.sum())
    offsets = np.repeat(starts - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
    return np.arange(total, dtype=np.int64) + offsets


class SingleUserRatingWalkEnv(gym.Env[dict[str, np.ndarray], np.ndarray]):
    """One user's walk at a time as a plain ``gymnasium.Env`` (no auto-reset): each
    ``reset`` takes the next user of the part's order (the eval order starts over after
    the last user); ``reset(seed=...)`` starts the order over."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012

    def __init__(
        self,
        records: RatingRecords,
        config: WalkConfig | None = None,
        part: str = PART_TRAIN,
        seed: int | None = None,
    ) -> None:
        self._env = RatingWalkEnv(records, 1, config, part=part, seed=seed)
        self.observation_space = self._env.single_observation_space
        self.action_space = self._env.single_action_space
        self._started = False
        self._done = True

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        env = self._env
        if seed is not None or not self._started:
            obs, _ = env.reset(seed=seed)
            self._started = True
        else:
            if env.part != PART_TRAIN and env._next >= len(env._order):
                env._next = 0
            env._assign(np.ones(1, dtype=bool))
            obs = env.observe()
        self._done = False
        return {k: v[0] for k, v in obs.items()}, {}

    def step(
        self, action: np.ndarray
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        if self._done:
            raise RuntimeError("step() called on a finished episode: call reset() first")
        obs, reward, terminated, _, infos = self._env.step(np.reshape(action, (1, 1)))
        self._done = bool(terminated[0])
        info = {k: v[0].item() for k, v in infos.items()}
        return {k: v[0] for k, v in obs.items()}, float(reward[0]), self._done, False, info


# ---------------------------------------------------------------- RLlib side
def rating_walk_env_config(
    spec: RatingWalkSpec,
    data_dir: str | None,
    part: str,
    seed: int | None,
    option: str,
) -> dict[str, Any]:
    """The ``env_config`` of a loaded spec (the kind's builder): the data folder resolved
    and the data loaded once, so a dataset without ratings or timestamps is refused
    here, before Ray starts.

    Raises:
        InputError: naming the spec file and the key at fault.
    """
    env_config = dataset_env_config(spec, "walk", data_dir, part, seed, option)
    env_config_of(env_config)  # loads the data: refuses what a walk cannot use
    return env_config


def env_config_of(env_config: Mapping[str, Any]) -> tuple[RatingRecords, WalkConfig, str]:
    """The records, walk settings and part an ``env_config`` describes (module doc);
    the records are loaded once per process.

    Raises:
        InputError: a key is missing or wrong (naming the spec file and the key).
    """
    read = read_env_config(env_config, "walk", WalkConfig)
    walk, where = read.settings, read.where
    records = _records(
        read.dataset,
        read.path,
        walk.train_fraction,
        walk.short_window,
        float(walk.rating_scale[0]),
        float(walk.rating_scale[1]),
        where,
    )
    return records, walk, read.part


def make_env(env_config: Mapping[str, Any]) -> RatingWalkEnv | SingleUserRatingWalkEnv:
    """Creator for RLlib (and plain gymnasium): batched if ``num_envs`` is given."""
    records, walk, part = env_config_of(env_config)
    base_seed = env_config.get("seed")
    worker = int(getattr(env_config, "worker_index", 0))
    seed = (walk.seed if base_seed is None else int(base_seed)) + WORKER_SEED_STRIDE * worker
    num_envs = env_config.get("num_envs")
    if num_envs is None:
        return SingleUserRatingWalkEnv(records, walk, part=part, seed=seed)
    return RatingWalkEnv(records, int(num_envs), walk, part=part, seed=seed)


register_env_kind(
    RatingWalkSpec.kind,
    spec_class=RatingWalkSpec,
    load=load_rating_walk_spec,
    env_config=rating_walk_env_config,
    make_env=make_env,
    creator_name=ENV_NAME,
)
