"""The columnar replay: transitions, terminations, ring overwrite, seeded sampling; the
slate env's Dict observations and per-item responses, and a flat Box env's transitions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ray.rllib.core.columns import Columns
from ray.rllib.env.single_agent_episode import SingleAgentEpisode

from rayrec.algorithms.ddpg.replay import TransitionBuffer
from rayrec.algorithms.keys import HYPER_ACTION, RESPONSE, SLATE_VALID
from rayrec.environments.keys import INFO_RESPONSE, INFO_SLATE_VALID, OBS_HISTORY_ITEMS, OBS_USER

SYNTHETIC = Path(__file__).resolve().parents[2] / "envs" / "synthetic.yaml"

K, F = 2, 1


def episode(user: int, steps: int, terminated: bool, first_item: int = 1) -> SingleAgentEpisode:
    """A hand-made episode: obs t has history item ``first_item + t``; action t is the
    slate (10t+1, 10t+2); reward t is t; response t is [t % 2, 1]."""
    ep = SingleAgentEpisode(
        observations=[{OBS_USER: np.array([user]), OBS_HISTORY_ITEMS: np.array([first_item])}],
        infos=[{}],
    )
    for t in range(steps):
        ep.add_env_step(
            observation={
                OBS_USER: np.array([user]),
                OBS_HISTORY_ITEMS: np.array([first_item + t + 1]),
            },
            action=np.array([10 * t + 1, 10 * t + 2]),
            reward=float(t),
            infos={
                INFO_RESPONSE: np.array([[t % 2], [1]], np.float32),
                INFO_SLATE_VALID: np.array([True, t < 1]),
            },
            terminated=terminated and t == steps - 1,
            extra_model_outputs={HYPER_ACTION: np.full(3, t, np.float32)},
        )
    return ep.to_numpy()


def test_each_step_becomes_one_transition_with_the_next_obs_and_the_next_info() -> None:
    buf = TransitionBuffer(capacity=10, rng_seed=0)
    assert buf.add([episode(7, 3, terminated=True), episode(8, 2, terminated=False)]) == 5
    assert len(buf) == 5
    cols = buf.columns
    np.testing.assert_array_equal(cols[(Columns.OBS, OBS_HISTORY_ITEMS)][:5, 0], [1, 2, 3, 1, 2])
    np.testing.assert_array_equal(
        cols[(Columns.NEXT_OBS, OBS_HISTORY_ITEMS)][:5, 0], [2, 3, 4, 2, 3]
    )
    np.testing.assert_array_equal(cols[(Columns.OBS, OBS_USER)][:5, 0], [7, 7, 7, 8, 8])
    np.testing.assert_array_equal(cols[(Columns.ACTIONS,)][:3], [[1, 2], [11, 12], [21, 22]])
    np.testing.assert_array_equal(cols[(Columns.REWARDS,)][:5], [0, 1, 2, 0, 1])
    # only the last step of an episode that ended by the user leaving is terminal;
    # a truncated chunk bootstraps
    np.testing.assert_array_equal(
        cols[(Columns.TERMINATEDS,)][:5], [False, False, True, False, False]
    )
    np.testing.assert_array_equal(cols[(RESPONSE,)][:3, :, 0], [[0, 1], [1, 1], [0, 1]])
    np.testing.assert_array_equal(cols[(SLATE_VALID,)][:2], [[True, True], [True, False]])
    np.testing.assert_array_equal(cols[(HYPER_ACTION,)][:3, 0], [0, 1, 2])
    assert cols[(Columns.OBS, OBS_HISTORY_ITEMS)].dtype == np.int32  # ids narrowed


def test_flat_observations_and_box_actions_without_slate_infos() -> None:
    """DDPG with a Box action (DDPG-LA): flat obs, float actions, no response columns."""
    ep = SingleAgentEpisode(observations=[np.zeros(3, np.float32)], infos=[{}])
    for t in range(4):
        ep.add_env_step(
            observation=np.full(3, t + 1, np.float32),
            action=np.array([0.25 * t], np.float32),
            reward=1.0,
            infos={},
            terminated=t == 3,
        )
    buf = TransitionBuffer(capacity=8, rng_seed=0)
    assert buf.add([ep.to_numpy()]) == 4
    assert set(buf.columns) == {
        (Columns.OBS,),
        (Columns.NEXT_OBS,),
        (Columns.ACTIONS,),
        (Columns.REWARDS,),
        (Columns.TERMINATEDS,),
    }
    np.testing.assert_array_equal(buf.columns[(Columns.NEXT_OBS,)][:4, 0], [1, 2, 3, 4])
    batch = buf.sample(5)
    assert batch[Columns.OBS].shape == (5, 3) and batch[Columns.ACTIONS].shape == (5, 1)
    assert batch[Columns.ACTIONS].dtype == np.float32


def test_the_ring_overwrites_the_oldest_and_sampling_is_seeded() -> None:
    buf = TransitionBuffer(capacity=4, rng_seed=3)
    buf.add([episode(1, 3, terminated=False), episode(2, 3, terminated=False)])
    assert len(buf) == 4 and buf.num_added == 6
    # rows 0, 1 were overwritten by the second episode's last two steps
    np.testing.assert_array_equal(buf.columns[(Columns.OBS, OBS_USER)][:, 0], [2, 2, 1, 2])
    a = buf.sample(16)
    b = TransitionBuffer(capacity=4, rng_seed=3)
    b.add([episode(1, 3, terminated=False), episode(2, 3, terminated=False)])
    c = b.sample(16)
    np.testing.assert_array_equal(a[Columns.OBS][OBS_USER], c[Columns.OBS][OBS_USER])
    assert a[Columns.OBS][OBS_HISTORY_ITEMS].dtype == np.int64  # back to the space's dtype
    assert set(a) == {
        Columns.OBS,
        Columns.NEXT_OBS,
        Columns.ACTIONS,
        Columns.REWARDS,
        Columns.TERMINATEDS,
        RESPONSE,
        SLATE_VALID,
        HYPER_ACTION,
    }


def test_state_round_trip_continues_the_same_sample_stream() -> None:
    buf = TransitionBuffer(capacity=8, rng_seed=5)
    buf.add([episode(1, 5, terminated=True)])
    copy = TransitionBuffer(capacity=8)
    copy.set_state({**buf.get_state(), "rng": dict(buf.get_state()["rng"])})
    np.testing.assert_array_equal(
        copy.sample(8)[Columns.OBS][OBS_HISTORY_ITEMS],
        buf.sample(8)[Columns.OBS][OBS_HISTORY_ITEMS],
    )


def test_empty_buffer_and_bad_capacity_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="empty"):
        TransitionBuffer(capacity=2).sample(1)
    with pytest.raises(ValueError, match="capacity"):
        TransitionBuffer(capacity=0)


def test_restoring_into_a_buffer_of_another_capacity_is_a_clear_error() -> None:
    buf = TransitionBuffer(capacity=8, rng_seed=5)
    buf.add([episode(1, 5, terminated=True)])
    with pytest.raises(ValueError, match="capacity is 16"):
        TransitionBuffer(capacity=16).set_state(buf.get_state())


def test_runner_side_columns_equal_adding_the_episodes() -> None:
    """What env runners send (``transitions_of``) stores the same rows as ``add``."""
    episodes = [episode(1, 3, terminated=False), episode(2, 4, terminated=True)]
    direct = TransitionBuffer(capacity=16)
    direct.add(episodes)
    cols, n = TransitionBuffer.transitions_of(episodes)
    assert n == 7
    via_columns = TransitionBuffer(capacity=16)
    assert via_columns.add_columns(cols, n) == 7
    assert set(direct.columns) == set(via_columns.columns)
    for name, col in direct.columns.items():
        np.testing.assert_array_equal(col, via_columns.columns[name], err_msg=str(name))
    assert TransitionBuffer.transitions_of([]) == ({}, 0)


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.parametrize("store", [True, False])
def test_checkpoints_carry_the_replay_buffer(
    store: bool, ray_session: object, tmp_path: Path
) -> None:
    """save → restore continues with the same transitions, replay draws and update
    credit; ``store_buffer_in_checkpoints=False`` restores an empty buffer."""
    from rayrec.train import TrainOptions, build_config

    config, _ = build_config(
        TrainOptions(
            algo="hac",
            env=str(SYNTHETIC),
            num_envs_per_env_runner=8,
            overrides={
                "num_steps_sampled_before_learning_starts": 64,
                "store_buffer_in_checkpoints": store,
                "training_intensity": 0.3,  # leaves a fractional update credit
            },
        )
    )
    algo = config.build_algo()
    try:
        algo.train()
        algo.save_to_path(str(tmp_path))
        saved = algo.transition_buffer
        credit = algo._update_credit
        assert len(saved) > 0 and 0 < credit < 1
        expected = saved.sample(32)
    finally:
        algo.stop()
    restored = config.build_algo()
    try:
        restored.restore_from_path(str(tmp_path))
        buf = restored.transition_buffer
        if not store:
            assert len(buf) == 0 and restored._update_credit == 0.0
            return
        assert len(buf) == len(saved) and buf.num_added == saved.num_added
        assert restored._update_credit == credit
        got = buf.sample(32)
        for key in (Columns.ACTIONS, Columns.REWARDS):
            np.testing.assert_array_equal(got[key], expected[key])
        np.testing.assert_array_equal(
            got[Columns.OBS][OBS_HISTORY_ITEMS], expected[Columns.OBS][OBS_HISTORY_ITEMS]
        )
        restored.train()  # and training goes on from there
        assert buf.num_added > saved.num_added
    finally:
        restored.stop()
