"""The ``topn`` env kind: LSRWRL's logged-feedback MDP over each user's train ratings.

``../shared/specs/lsrwrl.md`` ("State", "Q-network and training"). One episode serves
one user (:class:`~rayrec.data.topn.TopNData`, user index ``k``): at each step the
agent recommends one item of the whole pool (action ``a ∈ 1 .. I``; 0 is padding and
never allowed). When ``a`` is among the user's **train** ratings and liked (rating ≥
``topn.like_threshold``), the reward is ``rating / rating_scale[1]`` (the spec's (ours)
rating / 5) and the item joins the state: it is appended to the short window and to
the long-term liked sequence. Otherwise the reward is 0 and the state does not change
(the paper's rule). A user's test part is never read: no test rating can be rewarded
or shown.

Choices the paper leaves open (ours, each a :class:`TopNConfig` field):

- **Start state** (``initial_items``): the paper gives none. The first
  ``initial_items`` train records of the user (in time order) seed the state; they
  count as consumed (masked), the liked ones among them start the long-term sequence.
- **Episode length** (``episode_length``): the paper gives none; an episode is
  ``truncated`` after that many recommendations, and ``terminated`` earlier if the
  user has no allowed item left.
- **Which users**: episodes are drawn in a seeded shuffled order (reshuffled after each
  pass) from the users whose train part holds a liked record after the seed — a user
  with nothing left to find gives reward 0 whatever the agent does, a step that teaches
  nothing.
- **Masks**: an item already recommended in the episode, or consumed (in the state), is
  not allowed (observation ``action_mask``), in exploration and in the argmax; a
  recommended item that is not allowed earns 0 and changes nothing.

Observation (:mod:`rayrec.environments.keys`; per sub-env):

=====================  =============  ============================================
key                    shape, dtype   meaning
=====================  =============  ============================================
``user_features``      (F_u,) f32     gender / age / occupation of the user
                                      (:attr:`TopNData.user_features`)
``long_items``         (L,) int64     the liked consumed items, most recent last,
                                      left-padded with 0 (L = ``long_window``; the
                                      most recent L when there are more)
``short_items``        (n,) int64     the last n consumed items, left-padded with 0
``action_mask``        (I + 1,) bool  True where the item may be recommended
=====================  =============  ============================================

Infos (each (B,)): ``recommended`` (the step's action counted; False on the step that
starts a new user), ``hit`` (it earned a reward), ``user`` (dense user id).

Auto-reset follows gymnasium's ``NEXT_STEP`` mode as
:class:`~rayrec.environments.rating_walk.RatingWalkEnv` does: the step after an episode
ended takes the next user (its action is ignored, reward 0, ``recommended`` False).

Every step is array arithmetic over the B sub-envs: the (user, item) → train rating
look-up is one ``searchsorted`` over sorted keys ``k · (I + 1) + item``, the masks are
one (B, I + 1) array; no Python loop runs over users.

:func:`final_observations` gives the observation of each user after its **whole**
train part — what the ``topn`` evaluation scores (:mod:`rayrec.evaluation.topn`).

``env_config`` keys (:func:`topn_env_config` builds it from a spec):

``kind``     ``topn``
``spec``     the env spec file (error messages name it)
``dataset``  ``{name, path}`` with the data folder resolved when the config was built
``part``     ``train`` (default) or ``eval``; both step the train part (the
             evaluation scores :func:`final_observations`, not episodes)
``topn``     the :class:`TopNConfig` fields
``seed``     base seed of the user order (default ``topn.seed``); each runner adds
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
from rayrec.data.topn import RELEVANCES, TopNData, build_topn_data
from rayrec.environments.dataset_spec import (
    DATA_DIR_OPTION,
    dataset_env_config,
    dataset_folder,
    item_actions,
    load_dataset_spec,
    read_env_config,
    spec_mapping,
    spec_of_kind,
)
from rayrec.environments.keys import (
    INFO_HIT,
    INFO_RECOMMENDED,
    INFO_USER,
    OBS_ACTION_MASK,
    OBS_LONG_ITEMS,
    OBS_SHORT_ITEMS,
    OBS_USER_FEATURES,
)
from rayrec.environments.rating_walk import WORKER_SEED_STRIDE
from rayrec.environments.spec import register_env_kind
from rayrec.errors import InputError
from rayrec.simulator.spec import DatasetSpec

ENV_NAME = "rayrec-topn"
Obs = dict[str, np.ndarray]


@dataclass(frozen=True)
class TopNConfig:
    """The ``topn`` section of a ``topn`` spec (module doc).

    Attributes:
        train_fraction: train share of each user's chronological ratings (80 / 20).
        like_threshold: a rating at or above it is liked (the spec's (ours) 4).
        short_window: n, the last consumed items in the short-term state (the spec's 20).
        long_window: L, the cap on the liked items in the long-term state: the most
            recent L (ours; the spec pools all liked items).
        initial_items: the first train records of the user that seed the episode's state
            and count as consumed (ours: the paper gives no start state).
        episode_length: recommendations per episode (ours: the paper gives none).
        relevance: the evaluation's relevant test items, ``rated`` (every test rating,
            the paper's rule) or ``liked``.
        rating_scale: (low, high) of the raw ratings; a reward is ``rating / high``.
        seed: seed of the user order.
    """

    train_fraction: float = 0.8
    like_threshold: float = 4.0
    short_window: int = 20
    long_window: int = 256
    initial_items: int = 10
    episode_length: int = 20
    relevance: Literal["rated", "liked"] = "rated"
    rating_scale: tuple[float, ...] = (1.0, 5.0)
    seed: int = 0

    def check(self, where: str = "topn") -> None:
        """Raise :class:`InputError` naming the field (``<where>.<field>``) out of range."""
        if not 0.0 < self.train_fraction < 1.0:
            raise InputError(
                f"{where}.train_fraction: expected a number in (0, 1), got {self.train_fraction!r}"
            )
        scale = self.rating_scale
        if len(scale) != 2 or not scale[0] < scale[1] or scale[1] <= 0:
            raise InputError(
                f"{where}.rating_scale: expected [low, high] with low < high and high > 0,"
                f" got {list(scale)}"
            )
        if not scale[0] <= self.like_threshold <= scale[1]:
            raise InputError(
                f"{where}.like_threshold: expected a rating in [{scale[0]:g}, {scale[1]:g}],"
                f" got {self.like_threshold!r}"
            )
        for name, low in (
            ("short_window", 1),
            ("long_window", 1),
            ("initial_items", 0),
            ("episode_length", 1),
        ):
            value = getattr(self, name)
            if value < low:
                raise InputError(f"{where}.{name}: expected an integer >= {low}, got {value!r}")
        if self.relevance not in RELEVANCES:
            raise InputError(
                f"{where}.relevance: expected one of {', '.join(map(repr, RELEVANCES))},"
                f" got {self.relevance!r}"
            )


@dataclass(frozen=True)
class TopNSpec:
    """A ``kind: topn`` env spec (``envs/ml1m_topn.yaml``).

    Attributes:
        name: the spec's name.
        dataset: the rated, timestamped dataset; ``path`` default ``--data-dir`` then
            ``$RAYREC_DATA/<folder>``; ``note`` says what exactly is used.
        description: free text.
        topn: how episodes run and what the evaluation counts (:class:`TopNConfig`).
        path: the file it was loaded from (empty when built in code; not compared).
    """

    kind: ClassVar[str] = "topn"

    name: str
    dataset: DatasetSpec
    description: str = ""
    topn: TopNConfig = field(default_factory=TopNConfig)
    path: str = field(default="", compare=False)

    def to_mapping(self) -> dict[str, Any]:
        """The spec as the mapping its YAML file holds."""
        return spec_mapping(self, "topn")


def load_topn_spec(path: Path, data: dict[str, Any]) -> TopNSpec:
    """The :class:`TopNSpec` of a spec file's mapping (the kind's loader).

    Raises:
        InputError: naming the file and the key at fault.
    """
    return load_dataset_spec(TopNSpec, "topn", path, data)


# ------------------------------------------------------------------- the data
@functools.lru_cache(maxsize=4)
def _topn_data(
    name: str,
    path: str | None,
    train_fraction: float,
    like_threshold: float,
    low: float,
    high: float,
    where: str,
) -> TopNData:
    """The top-N split of a dataset folder, once per process (the log from its cache)."""
    log = load_dataset(name, path)
    return build_topn_data(
        log,
        train_fraction=train_fraction,
        like_threshold=like_threshold,
        rating_scale=(low, high),
        where=where,
    )


def _config_data(name: str, path: str | None, config: TopNConfig, where: str) -> TopNData:
    return _topn_data(
        name,
        path,
        config.train_fraction,
        config.like_threshold,
        float(config.rating_scale[0]),
        float(config.rating_scale[1]),
        where,
    )


def load_topn_data(
    spec: TopNSpec | str | Path,
    data_dir: str | Path | None = None,
    *,
    option: str = DATA_DIR_OPTION,
) -> TopNData:
    """The :class:`TopNData` of a ``topn`` spec (or spec file / packaged name), cached
    per process: the one split LSRWRL and every top-N baseline read.

    Args:
        spec: the loaded spec, its file, or a packaged spec's name.
        data_dir: the dataset folder (overrides the spec's ``dataset.path``).
        option: how messages name the way to pass ``data_dir``.

    Raises:
        InputError: the data is missing, has no ratings or no timestamps (naming the
            spec file and ``dataset``).
    """
    if not isinstance(spec, TopNSpec):
        spec = spec_of_kind(spec, TopNSpec)
    path = dataset_folder(spec, data_dir, option)
    return _config_data(spec.dataset.name, path, spec.topn, spec.path)


# ----------------------------------------------------------- the user states
class _UserTables:
    """Flat per-user arrays the env and :func:`final_observations` gather from.

    ``lookup_keys`` (M,) sorted ``k · (I + 1) + item`` of every distinct train
    (user, item) pair, with ``lookup_rating`` the item's latest train rating and
    ``lookup_liked`` whether it is liked; ``liked_rows`` the train rows of liked
    records grouped by user in time order (and a sentinel 0), ``liked_offsets``
    (N_train + 1) the number of liked train rows before each train row.
    """

    def __init__(self, data: TopNData) -> None:
        width = data.n_items + 1
        keys = data.train_users * width + data.train_items  # (N_train,) in user, time order
        # the last occurrence of a key is the item's latest train rating
        rev_keys, rev_first = np.unique(keys[::-1], return_index=True)
        last = len(keys) - 1 - rev_first
        self.lookup_keys = rev_keys  # (M,) sorted
        self.lookup_rating = data.train_ratings[last].astype(np.float32)  # (M,)
        self.lookup_liked = data.train_liked[last]  # (M,)
        # (N_liked + 1,) with a sentinel, so a masked gather at index 0 is always valid
        self.liked_rows = np.r_[np.flatnonzero(data.train_liked), 0].astype(np.int64)
        self.liked_offsets = np.r_[0, np.cumsum(data.train_liked)].astype(np.int64)
        self.width = width

    def rating_of(self, users: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(found in the train ratings, liked) and the rating of each (user, item) pair."""
        key = users * self.width + items  # (B,)
        idx = np.searchsorted(self.lookup_keys, key).clip(max=len(self.lookup_keys) - 1)
        found = self.lookup_keys[idx] == key  # (B,)
        liked = found & self.lookup_liked[idx]
        rating = np.where(found, self.lookup_rating[idx], 0.0).astype(np.float32)
        return liked, rating


def _state_of(
    data: TopNData,
    tables: _UserTables,
    users: np.ndarray,
    consumed: np.ndarray,
    short_window: int,
    long_window: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(short (b, n), long (b, L)) of each user after its first ``consumed`` train
    records, left-padded with 0."""
    train_items = data.train_items
    start = data.train_offsets[users]  # (b,)
    j = np.arange(short_window)  # (n,)
    pos = consumed[:, None] - short_window + j[None, :]  # (b, n) positions in the train part
    ok = pos >= 0
    short = np.where(ok, train_items[np.where(ok, start[:, None] + pos, 0)], 0)  # (b, n)
    first_liked = tables.liked_offsets[start]  # (b,)
    n_liked = tables.liked_offsets[start + consumed] - first_liked  # (b,)
    j = np.arange(long_window)  # (L,)
    q = n_liked[:, None] - long_window + j[None, :]  # (b, L)
    ok = q >= 0
    rows = tables.liked_rows[np.where(ok, first_liked[:, None] + q, 0)]  # (b, L) train rows
    long = np.where(ok, train_items[rows], 0)  # (b, L)
    return short.astype(np.int64), long.astype(np.int64)


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The concatenated ``arange(s, e)`` of each pair, without a Python loop."""
    lengths = ends - starts
    offsets = np.repeat(starts - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
    return np.arange(int(lengths.sum()), dtype=np.int64) + offsets


def final_observations(data: TopNData, config: TopNConfig, users: np.ndarray) -> Obs:
    """The observation of each user index after its **whole** train part: the short
    window holds its last n train items, the long-term sequence its last L liked train
    items, and ``action_mask`` allows every item but padding and its train items —
    what the ``topn`` evaluation scores.

    Args:
        data: the top-N split.
        config: the env settings (n, L).
        users: (b,) user indices ``k``.

    Returns:
        The batched observation (keys as the env's, leading dimension b).
    """
    users = np.asarray(users, dtype=np.int64)
    tables = _tables(data)
    n_train = data.train_offsets[users + 1] - data.train_offsets[users]  # (b,)
    short, long = _state_of(data, tables, users, n_train, config.short_window, config.long_window)
    mask = np.ones((len(users), data.n_items + 1), dtype=bool)  # (b, I + 1)
    mask[:, 0] = False
    rows = _ranges(data.train_offsets[users], data.train_offsets[users + 1])
    mask[np.repeat(np.arange(len(users)), n_train), data.train_items[rows]] = False
    return {
        OBS_USER_FEATURES: data.user_features[users].astype(np.float32),
        OBS_LONG_ITEMS: long,
        OBS_SHORT_ITEMS: short,
        OBS_ACTION_MASK: mask,
    }


@functools.lru_cache(maxsize=4)
def _tables(data: TopNData) -> _UserTables:
    return _UserTables(data)


# ------------------------------------------------------------------ the env
class TopNEnv(VectorEnv):
    """B users' recommendation episodes stepped together (see module doc).

    Args:
        data: the top-N split (built with this config's train_fraction, like_threshold
            and rating_scale).
        num_envs: B.
        config: the episode settings.
        seed: seed of the user order (default ``config.seed``; ``reset(seed=...)``
            overrides).
    """

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.NEXT_STEP}  # noqa: RUF012

    def __init__(
        self,
        data: TopNData,
        num_envs: int,
        config: TopNConfig | None = None,
        seed: int | None = None,
    ) -> None:
        self.config = config or TopNConfig()
        self.config.check()
        if data.like_threshold != self.config.like_threshold:
            raise ValueError(
                f"data was built for like_threshold {data.like_threshold},"
                f" the env has {self.config.like_threshold}"
            )
        if num_envs < 1:
            raise ValueError(f"num_envs: expected >= 1, got {num_envs}")
        self.data = data
        self.num_envs = num_envs
        self._tables = _tables(data)
        n, big_l, n_items = self.config.short_window, self.config.long_window, data.n_items
        self._n, self._l, self._n_items = n, big_l, n_items
        self._high = float(self.config.rating_scale[1])
        n_train = data.records.n_train.astype(np.int64)  # (U,)
        self._seed_len = np.minimum(n_train, self.config.initial_items)  # (U,)
        starts = data.train_offsets[:-1]
        liked_before = self._tables.liked_offsets
        liked_after_seed = liked_before[starts + n_train] - liked_before[starts + self._seed_len]
        self._episode_users = np.flatnonzero(liked_after_seed > 0)
        if not len(self._episode_users):
            raise InputError(
                f"{data.dataset}: no user has a liked train rating after its first"
                f" {self.config.initial_items} (topn.initial_items): no episode can earn a reward"
            )
        f_u = data.user_features.shape[1]
        obs_spaces: dict[str, spaces.Space[Any]] = {
            # one-hot blocks and the min-max age fitted on every user with a record
            OBS_USER_FEATURES: spaces.Box(0.0, 1.0, shape=(f_u,), dtype=np.float32),
            OBS_LONG_ITEMS: spaces.Box(0, n_items, shape=(big_l,), dtype=np.int64),
            OBS_SHORT_ITEMS: spaces.Box(0, n_items, shape=(n,), dtype=np.int64),
            # gymnasium's Box holds bool arrays; its stubs list only numeric dtypes
            OBS_ACTION_MASK: spaces.Box(0, 1, shape=(n_items + 1,), dtype=np.bool_),  # type: ignore[arg-type]
        }
        self.single_observation_space = spaces.Dict(obs_spaces)
        self.single_action_space = spaces.Discrete(n_items + 1)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._seed = self.config.seed if seed is None else seed
        self._rng = np.random.default_rng(self._seed)
        self._order = self._episode_users
        self._next = 0
        self._user = np.zeros(num_envs, dtype=np.int64)  # user index k of each sub-env
        self._t = np.zeros(num_envs, dtype=np.int64)  # recommendations so far
        self._short = np.zeros((num_envs, n), dtype=np.int64)  # (B, n)
        self._long = np.zeros((num_envs, big_l), dtype=np.int64)  # (B, L)
        self._allowed = np.zeros((num_envs, n_items + 1), dtype=bool)  # (B, I + 1)
        self._needs_reset = np.ones(num_envs, dtype=bool)
        self._rows = np.arange(num_envs)

    # ------------------------------------------------------------- properties
    @property
    def episode_users(self) -> np.ndarray:
        """User indices ``k`` episodes are drawn from (a liked train record after the
        seed), increasing."""
        return self._episode_users

    @property
    def users(self) -> np.ndarray:
        """(B,) the user index ``k`` each sub-env serves now."""
        return self._user.copy()

    def observe(self) -> Obs:
        """The current batched observation (as the last reset/step returned it)."""
        return self._obs()

    # ---------------------------------------------------------------- gym API
    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Obs, dict[str, Any]]:
        """Start over: a fresh shuffled user order and a new user in every sub-env."""
        if seed is not None:
            self._rng = np.random.default_rng(int(seed if isinstance(seed, int) else seed[0]))
        self._order = self._rng.permutation(self._episode_users)
        self._next = 0
        self._assign(np.ones(self.num_envs, dtype=bool))
        return self._obs(), {}

    def step(
        self, actions: np.ndarray
    ) -> tuple[Obs, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Recommend one item per sub-env (module doc).

        Args:
            actions: (B,) or (B, 1) item ids in ``0 .. I``.

        Raises:
            ValueError: an action of the wrong shape or outside ``0 .. I``.
        """
        a = item_actions(actions, self.num_envs, self._n_items)  # (B,)
        resetting = self._needs_reset.copy()
        live = ~resetting  # (B,) sub-envs whose action counts
        rows = self._rows
        allowed = live & self._allowed[rows, a]  # (B,)
        liked, rating = self._tables.rating_of(self._user, a)  # (B,), (B,)
        hit = allowed & liked  # (B,)
        reward = np.where(hit, rating / self._high, 0.0).astype(np.float32)  # (B,)
        self._allowed[rows[live], a[live]] = False  # recommended: masked for the episode
        if hit.any():  # the item joins the state
            h = np.flatnonzero(hit)
            self._short[h] = np.concatenate([self._short[h, 1:], a[h, None]], axis=1)
            self._long[h] = np.concatenate([self._long[h, 1:], a[h, None]], axis=1)
        infos = {
            INFO_RECOMMENDED: live.copy(),
            INFO_HIT: hit,
            INFO_USER: np.where(live, self.data.user_ids[self._user], 0),
        }
        self._t = self._t + live
        terminated = live & ~self._allowed.any(axis=1)
        truncated = live & ~terminated & (self._t >= self.config.episode_length)
        if resetting.any():
            self._assign(resetting)
        self._needs_reset = terminated | truncated
        return self._obs(), reward, terminated, truncated, infos

    # -------------------------------------------------------------- internals
    def _take(self, k: int) -> np.ndarray:
        """The next ``k`` users of the order, reshuffled at the end of each pass."""
        taken: list[np.ndarray] = []
        while k > 0:
            if self._next >= len(self._order):
                self._order = self._rng.permutation(self._episode_users)
                self._next = 0
            chunk = self._order[self._next : self._next + k]
            taken.append(chunk)
            self._next += len(chunk)
            k -= len(chunk)
        return np.concatenate(taken) if taken else np.zeros(0, dtype=np.int64)

    def _assign(self, mask: np.ndarray) -> None:
        """Give each sub-env in ``mask`` the next user, its state seeded (module doc)."""
        slots = np.flatnonzero(mask)
        users = self._take(len(slots))
        seed_len = self._seed_len[users]  # (b,)
        self._user[slots] = users
        self._t[slots] = 0
        short, long = _state_of(self.data, self._tables, users, seed_len, self._n, self._l)
        self._short[slots] = short
        self._long[slots] = long
        self._allowed[slots] = True
        self._allowed[slots, 0] = False
        starts = self.data.train_offsets[users]
        consumed = self.data.train_items[_ranges(starts, starts + seed_len)]
        self._allowed[np.repeat(slots, seed_len), consumed] = False
        self._needs_reset[slots] = False

    def _obs(self) -> Obs:
        return {
            OBS_USER_FEATURES: self.data.user_features[self._user].astype(np.float32),
            OBS_LONG_ITEMS: self._long.copy(),
            OBS_SHORT_ITEMS: self._short.copy(),
            OBS_ACTION_MASK: self._allowed.copy(),
        }


class SingleUserTopNEnv(gym.Env[Obs, np.int64]):
    """One user's episode at a time as a plain ``gymnasium.Env`` (no auto-reset): each
    ``reset`` takes the next user of the order; ``reset(seed=...)`` starts it over."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012

    def __init__(
        self, data: TopNData, config: TopNConfig | None = None, seed: int | None = None
    ) -> None:
        self._env = TopNEnv(data, 1, config, seed=seed)
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
        self._done = bool(terminated[0] or truncated[0])
        info = {k: v[0].item() for k, v in infos.items()}
        return (
            {k: v[0] for k, v in obs.items()},
            float(reward[0]),
            bool(terminated[0]),
            bool(truncated[0]),
            info,
        )


# ---------------------------------------------------------------- RLlib side
def topn_env_config(
    spec: TopNSpec,
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
    env_config = dataset_env_config(spec, "topn", data_dir, part, seed, option)
    env_config_of(env_config)  # loads the data: refuses what the env cannot use
    return env_config


def env_config_of(env_config: Mapping[str, Any]) -> tuple[TopNData, TopNConfig]:
    """The top-N split and the settings an ``env_config`` describes (module doc); the
    data is loaded once per process.

    Raises:
        InputError: a key is missing or wrong (naming the spec file and the key).
    """
    read = read_env_config(env_config, "topn", TopNConfig)
    return _config_data(read.dataset, read.path, read.settings, read.where), read.settings


def make_env(env_config: Mapping[str, Any]) -> TopNEnv | SingleUserTopNEnv:
    """Creator for RLlib (and plain gymnasium): batched if ``num_envs`` is given."""
    data, config = env_config_of(env_config)
    base_seed = env_config.get("seed")
    worker = int(getattr(env_config, "worker_index", 0))
    seed = (config.seed if base_seed is None else int(base_seed)) + WORKER_SEED_STRIDE * worker
    num_envs = env_config.get("num_envs")
    if num_envs is None:
        return SingleUserTopNEnv(data, config, seed=seed)
    return TopNEnv(data, int(num_envs), config, seed=seed)


register_env_kind(
    TopNSpec.kind,
    spec_class=TopNSpec,
    load=load_topn_spec,
    env_config=topn_env_config,
    make_env=make_env,
    creator_name=ENV_NAME,
)
