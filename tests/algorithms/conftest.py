"""Shared pieces of the algorithm tests: the synthetic env, its spaces and a real batch.

- ``slate_env``: a batched :class:`~rayrec.environments.slate.SlateEnv` of B users over the
  ground-truth synthetic simulator (``envs/synthetic.yaml``); its ``single_*`` spaces
  are what the env runners give the RLModule.
- :func:`build_module`: an algorithm's RLModule built exactly as its config says
  (default module spec + ``_model_config_auto_includes``), with target networks.
- torch runs single-threaded here: the networks are tiny, and on a shared 2-core box
  the intra-op thread pool spins (a (8, 50) SASRec forward took 0.3 s with 2 threads
  under load, 5 ms with 1). The Ray tests' learner and env runner live in this
  process too (no remote workers), so they gain the same.
- ``slate_batch``: one real transition per user (obs, action, reward, next obs,
  terminated, per-item response and validity), as tensors, in the column names the
  learner connector produces.
- ``sessions_env`` / :func:`sessions_batch`: the ``logged_sessions`` env over the
  synthetic click/purchase sessions (``envs/synthetic_sessions.yaml``) and B of its
  real replay rows (:meth:`SessionData.batch`'s columns plus the acting observation).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import gymnasium as gym
import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns

from rayrec.algorithms.keys import RESPONSE, SLATE_VALID
from rayrec.algorithms.registry import make_config
from rayrec.environments.keys import INFO_RESPONSE, INFO_SLATE_VALID
from rayrec.environments.rllib_env import make_env
from rayrec.environments.slate import SlateEnv

REPO = Path(__file__).resolve().parents[2]
SYNTHETIC = REPO / "envs" / "synthetic.yaml"
SYNTHETIC_SESSIONS = REPO / "envs" / "synthetic_sessions.yaml"
#: users stepped together in the module-level tests
B = 8


def to_tensors(obs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(v) for k, v in obs.items()}


@pytest.fixture(scope="session", autouse=True)
def _single_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def slate_env() -> SlateEnv:
    env = make_env({"simulator": str(SYNTHETIC), "num_envs": B, "seed": 0})
    assert isinstance(env, SlateEnv)
    return env


def slate_sizes(env: SlateEnv) -> tuple[int, int]:
    """(I, K): pool size and slate size, from the action space."""
    space = cast(gym.spaces.MultiDiscrete, env.single_action_space)
    return int(space.nvec[0]), len(space.nvec)


def build_module(name: str, env: SlateEnv, seed: int = 0, **training: Any) -> Any:
    """The RLModule of algorithm ``name`` (``training`` overrides applied) for the env's
    spaces, target nets made."""
    config = make_config(name).training(**training)
    spec = config.get_default_rl_module_spec()
    spec.observation_space = env.single_observation_space
    spec.action_space = env.single_action_space
    spec.model_config = config._model_config_auto_includes
    torch.manual_seed(seed)
    module = spec.build()
    module.make_target_networks()
    return module


@pytest.fixture(scope="session")
def slate_batch(slate_env: SlateEnv) -> dict[str, Any]:
    """(B,) transitions from a reset with random distinct slates."""
    obs, _ = slate_env.reset(seed=0)
    n_items, k = slate_sizes(slate_env)
    gen = torch.Generator().manual_seed(0)
    actions = torch.stack([torch.randperm(n_items, generator=gen)[:k] + 1 for _ in range(B)])
    next_obs, reward, terminated, _, info = slate_env.step(actions.numpy())
    return {
        Columns.OBS: to_tensors(obs),
        Columns.NEXT_OBS: to_tensors(next_obs),
        Columns.ACTIONS: actions,  # (B, K)
        Columns.REWARDS: torch.as_tensor(reward, dtype=torch.float32),  # (B,)
        Columns.TERMINATEDS: torch.as_tensor(terminated),  # (B,)
        RESPONSE: torch.as_tensor(info[INFO_RESPONSE], dtype=torch.float32),  # (B, K, F)
        SLATE_VALID: torch.as_tensor(info[INFO_SLATE_VALID]),  # (B, K)
    }


@pytest.fixture(scope="session")
def rating_env() -> Any:
    """A batched rating walk of B users over a small generated rating log (users of 6 to
    40 records, m = 5, a window of 16 records)."""
    from rayrec.environments.rating_walk import RatingWalkEnv, WalkConfig
    from tests.environments.test_rating_walk import make_records

    records = make_records(m=5, lengths=(40, 12, 30, 25, 9, 18, 33, 21, 6, 15))
    return RatingWalkEnv(records, B, WalkConfig(short_window=5, window=16), seed=0)


def rating_batch(env: Any, config: Any, steps: int = 4) -> dict[str, Any]:
    """(B,) transitions of the rating walk as DDPG-LA's replay holds them: a module of
    ``config`` acts (exploring, its state carried) for ``steps`` steps from a reset, and
    the last step's observation, action, reward, next observation and the stored
    recurrent starts make the batch."""
    from rayrec.algorithms.keys import NEXT_RECURRENT_START, RECURRENT_START

    spec = config.get_default_rl_module_spec()
    spec.observation_space = env.single_observation_space
    spec.action_space = env.single_action_space
    spec.model_config = config.model_config
    torch.manual_seed(0)
    module = spec.build()
    obs, _ = env.reset(seed=0)
    state = module.initial_state_batch(B)
    for _ in range(steps):
        with torch.no_grad():
            out = module.forward_exploration(
                {Columns.OBS: to_tensors(obs), Columns.STATE_IN: state}
            )
        actions = out[Columns.ACTIONS]  # (B, 1)
        next_obs, reward, terminated, _, _ = env.step(actions.numpy())
        batch = {
            Columns.OBS: to_tensors(obs),
            Columns.NEXT_OBS: to_tensors(next_obs),
            Columns.ACTIONS: actions,
            Columns.REWARDS: torch.as_tensor(reward, dtype=torch.float32),  # (B,)
            Columns.TERMINATEDS: torch.as_tensor(terminated),  # (B,)
            RECURRENT_START: out[RECURRENT_START],  # (B, E, 2, H)
            NEXT_RECURRENT_START: out[NEXT_RECURRENT_START],  # (B, E, 2, H)
        }
        obs, state = next_obs, out[Columns.STATE_OUT]
    return batch


@pytest.fixture(scope="session")
def topn_env() -> Any:
    """A batched top-N env of B users over a small generated rating log (14 items; a
    short window of 4, a long window of 3, episodes of 6 steps)."""
    from rayrec.environments.topn import TopNConfig, TopNEnv
    from tests.data.test_topn import topn_data

    config = TopNConfig(short_window=4, long_window=3, initial_items=3, episode_length=6)
    return TopNEnv(topn_data(), B, config, seed=0)


def topn_batch(env: Any, seed: int = 0) -> dict[str, Any]:
    """(B,) transitions of the top-N env from a reset, each user recommended a random
    available item."""
    from rayrec.environments.keys import OBS_ACTION_MASK

    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    actions = np.array([rng.choice(np.flatnonzero(m)) for m in obs[OBS_ACTION_MASK]])
    next_obs, reward, terminated, _, _ = env.step(actions)
    return {
        Columns.OBS: to_tensors(obs),
        Columns.NEXT_OBS: to_tensors(next_obs),
        Columns.ACTIONS: torch.as_tensor(actions),  # (B,)
        Columns.REWARDS: torch.as_tensor(reward, dtype=torch.float32),  # (B,)
        Columns.TERMINATEDS: torch.as_tensor(terminated),  # (B,)
    }


@pytest.fixture(scope="session")
def sessions_env() -> Any:
    """The ``logged_sessions`` env of B slots over the synthetic sessions' train part."""
    from rayrec.environments import env_config_for
    from rayrec.environments.sessions import LoggedSessionsEnv, make_env

    env = make_env({**env_config_for(SYNTHETIC_SESSIONS), "num_envs": B})
    assert isinstance(env, LoggedSessionsEnv)
    return env


def sessions_batch(env: Any, seed: int = 0) -> dict[str, Any]:
    """B replay rows of the env's train sessions as tensors: the
    :data:`~rayrec.data.sessions.BATCH_KEYS` columns the learners read, and
    ``Columns.OBS`` = {state, len_state (B, 1)} for the acting forwards. The rows
    include a purchase, a session's last event and a session's first event (its state
    all padding)."""
    from rayrec.data.sessions import IS_BUY, IS_DONE, LEN_STATE, PART_TRAIN, STATE

    data = env.data
    train = data.rows(PART_TRAIN)
    rows = np.random.default_rng(seed).choice(train, size=B, replace=False)  # (B,)
    rows[0] = train[np.flatnonzero(data.is_buy[train])[0]]
    rows[1] = data.session_start[data.sessions(PART_TRAIN)[0] + 1] - 1  # a last event
    rows[2] = data.session_start[data.sessions(PART_TRAIN)[1]]  # a first event
    batch = {k: torch.as_tensor(v) for k, v in data.batch(rows).items()}
    assert bool(batch[IS_BUY].any()) and bool(batch[IS_DONE].any())
    batch[Columns.OBS] = {STATE: batch[STATE], LEN_STATE: batch[LEN_STATE][:, None]}
    return batch
