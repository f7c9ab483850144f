"""The ``logged_sessions`` env kind: spec loading, the env against a slow per-session
replay, auto-reset, seeding and gymnasium's checker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from gymnasium.utils.env_checker import check_env

from rayrec.data.sessions import LEN_STATE, PART_TRAIN, STATE, SessionData
from rayrec.environments import env_config_for, load_env_spec, registered_kinds
from rayrec.environments.sessions import (
    INFO_LOGGED_ITEM,
    LoggedSessionsEnv,
    SessionsSpec,
    SingleSessionEnv,
    make_env,
    session_data_for,
)
from rayrec.errors import InputError
from tests.conftest import REPO

# view sessions in COTREC's text format (one per line), the 5th too short to keep
SESSIONS = "1 2 3\n2 3 4 2 1\n3 1 1 2\n4 4 2\n1 2\n2 1 3 4 1 2 3 4 1 2 3 4\n3 2 1\n"


def write_spec(tmp_path: Path, **sessions: object) -> Path:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "all_train_seq.sessions.txt").write_text(SESSIONS)
    spec = yaml.safe_load((REPO / "envs" / "retailrocket_sessions.yaml").read_text())
    spec["dataset"]["path"] = str(data)
    spec["sessions"].update({"min_item_events": 0, "state_length": 3, **sessions})
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def reference_steps(
    data: SessionData, session: int, actions: list[int]
) -> list[tuple[list[int], int, float, bool]]:
    """Slow replay of one session: (state before, len_state, reward, terminated) per step."""
    start, end = int(data.session_start[session]), int(data.session_start[session + 1])
    items = data.items[start:end].tolist()
    big_l = data.state_length
    out = []
    for t, a in enumerate(actions):
        previous = items[max(0, t - big_l) : t]
        state = previous + [0] * (big_l - len(previous))
        reward = (data.purchase_reward if data.is_buy[start + t] else data.click_reward) * (
            a == items[t]
        )
        out.append((state, max(1, len(previous)), float(np.float32(reward)), t == len(items) - 1))
    return out


def test_kind_is_registered_and_the_spec_loads(tmp_path: Path) -> None:
    assert "logged_sessions" in registered_kinds()
    for name in (
        "ml1m_sessions",
        "retailrocket_sessions",
        "retailrocket_sqn_sessions",
        "yoochoose_sessions",
        "yoochoose_padded_sessions",
        "synthetic_sessions",
    ):
        assert isinstance(load_env_spec(name), SessionsSpec)
    spec = load_env_spec(write_spec(tmp_path))
    assert spec.sessions.state_length == 3


def test_env_config_builds_the_data_once_and_refuses_bad_keys(tmp_path: Path) -> None:
    env_config = env_config_for(write_spec(tmp_path))
    assert env_config["kind"] == "logged_sessions"
    data = session_data_for(env_config)
    assert session_data_for(dict(env_config)) is data  # cached per process
    assert data.n_sessions == 6 and data.state_length == 3
    with pytest.raises(InputError, match=r"spec\.yaml: sessions\.purchase: .* no column 'rat"):
        env_config_for(write_spec(tmp_path, purchase="rating>=4"))
    with pytest.raises(InputError, match=r"spec\.yaml: sessions: unknown key 'gap'"):
        env_config_for(write_spec(tmp_path, gap=3))


def test_env_replays_sessions_as_the_reference(tmp_path: Path) -> None:
    env_config = env_config_for(write_spec(tmp_path))
    data = session_data_for(env_config)
    env = make_env({**env_config, "num_envs": 3})
    assert isinstance(env, LoggedSessionsEnv)
    n = data.n_items
    assert env.single_action_space.n == n + 1
    obs, _ = env.reset(seed=5)
    rng = np.random.default_rng(0)
    # per slot: the session it plays and the steps taken in it
    played: list[list[tuple[int, list[int], list[tuple[list[int], int, float, bool]]]]] = [
        [] for _ in range(3)
    ]
    for slot in range(3):
        played[slot].append((int(env.sessions[slot]), [], []))
    resetting = np.zeros(3, dtype=bool)
    for _ in range(40):
        logged = data.items[np.minimum(env.events, data.n_events - 1)]
        guess = rng.random(3) < 0.5
        actions = np.where(guess, logged, rng.integers(0, n + 1, size=3))
        sessions_before = env.sessions
        obs_before = obs
        obs, reward, terminated, truncated, infos = env.step(actions)
        assert not truncated.any()
        for slot in range(3):
            if resetting[slot]:  # the action was ignored: a new session starts
                assert reward[slot] == 0.0 and infos[INFO_LOGGED_ITEM][slot] == 0
                played[slot].append((int(env.sessions[slot]), [], []))
                continue
            assert env.sessions[slot] == sessions_before[slot]
            _, acts, seen = played[slot][-1]
            acts.append(int(actions[slot]))
            seen.append(
                (
                    obs_before[STATE][slot].tolist(),
                    int(obs_before[LEN_STATE][slot, 0]),
                    float(reward[slot]),
                    bool(terminated[slot]),
                )
            )
        resetting = terminated
    sessions_seen = set()
    for slot in range(3):
        for session, acts, seen in played[slot]:
            sessions_seen.add(session)
            assert seen == reference_steps(data, session, acts)
    assert sessions_seen <= set(data.sessions(PART_TRAIN).tolist())
    assert len(sessions_seen) == len(data.sessions(PART_TRAIN))  # 40 steps: a full pass


def test_final_observation_is_the_state_after_the_last_event(tmp_path: Path) -> None:
    data = session_data_for(env_config_for(write_spec(tmp_path)))
    env = LoggedSessionsEnv(data, 1, PART_TRAIN, seed=0)
    env.reset()
    session = int(env.sessions[0])
    start, end = data.session_start[session], data.session_start[session + 1]
    for _ in range(end - start):
        obs, _, terminated, _, _ = env.step(np.zeros(1, dtype=np.int64))
    assert terminated[0]
    state, n = data.states(np.array([end - 1]), after=True)
    assert obs[STATE].tolist() == state.tolist() and obs[LEN_STATE][:, 0].tolist() == n.tolist()


def test_session_order_is_seeded(tmp_path: Path) -> None:
    data = session_data_for(env_config_for(write_spec(tmp_path)))

    def order(seed: int) -> list[int]:
        env = LoggedSessionsEnv(data, 2, PART_TRAIN, seed=seed)
        env.reset()
        seen = []
        for _ in range(30):
            seen.append(env.sessions.tolist())
            env.step(np.zeros(2, dtype=np.int64))
        return seen

    assert order(1) == order(1)
    assert order(1) != order(2)


def test_single_session_env_passes_check_env(tmp_path: Path) -> None:
    env = make_env(env_config_for(write_spec(tmp_path)))
    assert isinstance(env, SingleSessionEnv)
    check_env(env, skip_render_check=True)
    with pytest.raises(ValueError, match="item ids"):
        vec = make_env({**env_config_for(write_spec(tmp_path)), "num_envs": 2})
        vec.reset()
        vec.step(np.array([0, 999]))
