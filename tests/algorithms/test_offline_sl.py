"""Offline SL: logged slates -> env-format transitions, and the offline algorithm on them.

Data level (no Ray): a hand-made log of six slates, two of them after the 80% time cut,
checked position by position (history window, padding, feedback, reward, termination,
no eval-only slate anywhere); slates wider than K; the synthetic spec's train part
against its train simulator; a simulator whose log differs is refused.
Algorithm level (Ray, slow): finite named losses on one logged minibatch, weights that
move and reach the env runner, save → restore with the same greedy slate.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch

from rayrec.algorithms.ddpg.ddpg_learner import BCE_LOSS, HYPER_LOSS, QMAX_LOSS, TD_LOSS
from rayrec.algorithms.keys import RESPONSE, SLATE_VALID
from rayrec.algorithms.registry import make_config
from rayrec.algorithms.supervised.offline_sl import OfflineSL
from rayrec.config import to_dict
from rayrec.data.datasets import SYNTHETIC as SYNTHETIC_NAME
from rayrec.environments.keys import (
    OBS_HISTORY_FEEDBACK,
    OBS_HISTORY_ITEMS,
    OBS_USER,
    OBS_USER_FEATURES,
)
from rayrec.environments.logged import logged_transitions, train_part_transitions
from rayrec.environments.rllib_env import env_config_of
from rayrec.environments.slate import EnvConfig, SlateEnv
from rayrec.errors import InputError
from rayrec.simulator.build import part_slates, train_simulators
from rayrec.simulator.keys import PART_EVAL, PART_TRAIN
from rayrec.simulator.slates import SlateData, build_slates
from rayrec.simulator.spec import DatasetSpec, SimulatorSpec, load_simulator_spec
from rayrec.train import TrainOptions, build_config
from tests.algorithms.conftest import SYNTHETIC

# ------------------------------------------------------------------ hand log
# user 1: slates at t = 10, 20, 30 (train) and 90 (eval only); user 2: t = 15 (train) and
# 95 (eval only). The 80% quantile of the six times is 90, so the train part is the four
# slates before t = 90. Items 9-11 and 15-17 are shown only in eval-only slates.
# Feedback (click, like); slate t=20 has a padded third position with (bogus) feedback 1.
HAND_ITEMS = [[1, 2, 3], [4, 5, 0], [6, 7, 8], [9, 10, 11], [12, 13, 14], [15, 16, 17]]
HAND_CLICK = [[1, 0, 0], [0, 1, 1], [0, 0, 1], [1, 1, 1], [1, 1, 0], [1, 1, 1]]
HAND_LIKE = [[1, 0, 0], [0, 0, 1], [0, 0, 0], [1, 1, 1], [0, 0, 0], [1, 1, 1]]
HAND_USER = [1, 1, 1, 1, 2, 2]
HAND_TIME = [10.0, 20.0, 30.0, 90.0, 15.0, 95.0]
EVAL_ONLY_ITEMS = {9, 10, 11, 15, 16, 17}
HAND_ENV = EnvConfig(slate_size=4, history_length=4, reward_weights={"click": 1.0, "like": 0.5})


def hand_slates() -> SlateData:
    return SlateData(
        items=np.array(HAND_ITEMS, dtype=np.int64),
        feedback=np.stack([HAND_CLICK, HAND_LIKE], axis=-1).astype(np.float32),
        user=np.array(HAND_USER, dtype=np.int64),
        time=np.array(HAND_TIME),
        feedback_names=("click", "like"),
        n_users=2,
        n_items=17,
    )


def hand_train_part() -> SlateData:
    spec = SimulatorSpec(name="hand", dataset=DatasetSpec(name=SYNTHETIC_NAME))  # 80/20 protocol
    slates, cut = part_slates(hand_slates(), spec)[PART_TRAIN]
    assert cut == 90.0
    return slates


def test_hand_made_log_becomes_env_format_transitions() -> None:
    features = np.array([[0, 0], [2, 1], [1, 3]])  # (U + 1, 2), row 0 = padding
    t = logged_transitions(hand_train_part(), HAND_ENV, features)
    assert len(t) == 4 and t.n_users == 2
    # actions: W = max(M = 3, K = 4) columns, padding 0 and marked invalid
    np.testing.assert_array_equal(
        t.slates, [[1, 2, 3, 0], [4, 5, 0, 0], [6, 7, 8, 0], [12, 13, 14, 0]]
    )
    np.testing.assert_array_equal(t.valid, t.slates > 0)
    # per-item responses; the padded position's bogus feedback is dropped
    np.testing.assert_array_equal(t.response[1, :, 0], [0, 1, 0, 0])
    np.testing.assert_array_equal(t.response[1, :, 1], [0, 0, 0, 0])
    # reward = mean over shown items of click + 0.5·like
    np.testing.assert_allclose(t.reward, [1.5 / 3, 1.0 / 2, 1.0 / 3, 2.0 / 3])
    np.testing.assert_array_equal(t.terminated, [False, False, True, True])

    batch = t.batch(np.arange(4))
    obs, nxt = batch[Columns.OBS], batch[Columns.NEXT_OBS]
    np.testing.assert_array_equal(obs[OBS_USER], [[1], [1], [1], [2]])
    np.testing.assert_array_equal(obs[OBS_USER_FEATURES], [[2, 1], [2, 1], [2, 1], [1, 3]])
    # H = 4 last shown items before the slate, left-padded; padding positions never enter
    np.testing.assert_array_equal(
        obs[OBS_HISTORY_ITEMS], [[0, 0, 0, 0], [0, 1, 2, 3], [2, 3, 4, 5], [0, 0, 0, 0]]
    )
    np.testing.assert_array_equal(
        obs[OBS_HISTORY_FEEDBACK][..., 0], [[0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0] * 4]
    )
    np.testing.assert_array_equal(
        obs[OBS_HISTORY_FEEDBACK][..., 1], [[0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0] * 4]
    )
    # next obs = the obs of the user's next slate; after the last one, the whole history
    np.testing.assert_array_equal(nxt[OBS_HISTORY_ITEMS][:2], obs[OBS_HISTORY_ITEMS][1:3])
    np.testing.assert_array_equal(nxt[OBS_HISTORY_ITEMS][2:], [[5, 6, 7, 8], [0, 12, 13, 14]])
    np.testing.assert_array_equal(nxt[OBS_HISTORY_FEEDBACK][2:, :, 0], [[1, 0, 0, 1], [0, 1, 1, 0]])
    # no slate of the eval-only part leaks into actions or histories
    seen = set(batch[Columns.ACTIONS].ravel()) | set(obs[OBS_HISTORY_ITEMS].ravel())
    seen |= set(nxt[OBS_HISTORY_ITEMS].ravel())
    assert not seen & EVAL_ONLY_ITEMS
    assert batch[RESPONSE].shape == (4, 4, 2) and batch[SLATE_VALID].dtype == bool


def test_slates_wider_than_k_keep_every_exposure_and_sum_rewards() -> None:
    env = EnvConfig(
        slate_size=2, history_length=2, reward_weights={"like": 2.0}, reward_aggregate="sum"
    )
    t = logged_transitions(hand_train_part(), env)
    assert t.slates.shape == (4, 3)  # M = 3 > K = 2: no exposure is cut
    np.testing.assert_allclose(t.reward, [2.0, 0.0, 0.0, 0.0])  # Σ 2·like, padding ignored
    assert OBS_USER_FEATURES not in t.observations(np.arange(4))


def test_conversion_rejects_unknown_reward_feedback_and_unsorted_slates() -> None:
    with pytest.raises(InputError, match=r"reward_weights.*'purchase'"):
        logged_transitions(hand_slates(), EnvConfig(reward_weights={"purchase": 1.0}))
    shuffled = hand_slates().select(np.array([True] * 6))
    shuffled.time[[0, 1]] = shuffled.time[[1, 0]]
    with pytest.raises(InputError, match=r"sorted by \(user, time\)"):
        logged_transitions(shuffled, HAND_ENV)


# ------------------------------------------------------------ synthetic data
def test_synthetic_train_part_is_what_the_train_simulator_learned_from() -> None:
    env_config = {"simulator": str(SYNTHETIC)}
    t = train_part_transitions(env_config)
    spec = load_simulator_spec(SYNTHETIC)
    from rayrec.simulator.build import load_spec_data

    data, _, _ = load_spec_data(spec)
    all_slates = build_slates(data, spec.slates.to_config())
    cut = all_slates.time_cut(spec.protocol.train_fraction)
    assert len(t) == int((all_slates.time < cut).sum()) < len(all_slates)
    sim, env_cfg = env_config_of({**env_config, "part": PART_TRAIN})
    assert t.slates.shape[1] == max(all_slates.items.shape[1], env_cfg.slate_size)
    # after each user's last logged slate: the history the train simulator starts with
    last = np.flatnonzero(t.terminated)
    after = t.observations(last, after=True)
    users = t.user[last]
    h = env_cfg.history_length
    np.testing.assert_array_equal(after[OBS_HISTORY_ITEMS], sim.history_items(h)[users])
    np.testing.assert_array_equal(after[OBS_HISTORY_FEEDBACK], sim.history_feedback(h)[users])
    # ... but not the one the evaluation simulator (all of the log) starts with
    eval_sim, _ = env_config_of({**env_config, "part": PART_EVAL})
    assert not np.array_equal(after[OBS_HISTORY_ITEMS], eval_sim.history_items(h)[users])
    # every observation is a valid observation of the env
    space = SlateEnv(sim, 1, env_cfg).single_observation_space
    rows = np.random.default_rng(0).integers(0, len(t), size=64)
    for key in (Columns.OBS, Columns.NEXT_OBS):
        obs = t.batch(rows)[key]
        for i in range(len(rows)):
            assert space.contains({k: v[i] for k, v in obs.items()}), (key, rows[i])


def test_a_checkpoint_whose_log_differs_is_refused(tmp_path: Path) -> None:
    spec = load_simulator_spec(SYNTHETIC)
    train_simulators(spec, tmp_path, parts=(PART_TRAIN,))
    env_config = {"simulator": str(tmp_path), "env": {}}  # a folder needs session settings
    assert len(train_part_transitions(env_config)) > 0
    other = to_dict(spec)
    other["synthetic"]["seed"] = 1  # a different log than the simulator learned from
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(other))
    with pytest.raises(InputError, match="not what its train simulator learned from"):
        train_part_transitions(env_config)


# ------------------------------------------------------------------- config
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("updates_per_iteration", 0),
        ("updates_per_iteration", 2.5),
        ("logged_data_dir", 3),
        ("min_sample_timesteps_per_iteration", 256),
    ],
)
def test_validate_names_the_bad_field(field: str, value: Any) -> None:
    config = make_config("offline-sl")
    setattr(config, field, value)
    with pytest.raises(ValueError, match=f"'{field}'.*{value}"):
        config.validate()


def test_preset_is_online_sls_losses() -> None:
    offline, online = make_config("offline-sl"), make_config("online-sl")
    for key in ("actor_q_coef", "hyper_actor_coef", "bce_coef", "actor_lr", "kernel_lr", "gamma"):
        assert getattr(offline, key) == getattr(online, key), key
    config, _ = build_config(TrainOptions(algo="offline-sl", env=str(SYNTHETIC)))
    assert config.min_sample_timesteps_per_iteration == 0


# ---------------------------------------------------------- algorithm (Ray)
BATCH = 16


@pytest.fixture(scope="module")
def offline_algo(ray_session: Any) -> Iterator[OfflineSL]:
    config, _ = build_config(
        TrainOptions(
            algo="offline-sl",
            env=str(SYNTHETIC),
            seed=0,
            overrides={"updates_per_iteration": 2, "train_batch_size_per_learner": BATCH},
        )
    )
    algo = config.build_algo()
    assert isinstance(algo, OfflineSL)
    yield algo
    algo.stop()


def module_state(module: Any) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.ray
@pytest.mark.slow
def test_learner_reports_finite_named_losses_on_one_logged_batch(offline_algo: OfflineSL) -> None:
    batch = offline_algo.logged.batch(np.arange(BATCH))
    results = offline_algo.learner_group.update(
        batch=MultiAgentBatch({DEFAULT_MODULE_ID: SampleBatch(batch)}, env_steps=BATCH)
    )
    learner = results[0][DEFAULT_MODULE_ID]
    for key in (TD_LOSS, QMAX_LOSS, HYPER_LOSS, BCE_LOSS):
        assert math.isfinite(float(learner[key].peek())), key
    assert int(learner["num_module_steps_trained"].peek()) == BATCH


@pytest.mark.ray
@pytest.mark.slow
def test_an_iteration_trains_on_the_log_and_syncs_the_env_runner(offline_algo: OfflineSL) -> None:
    before = module_state(offline_algo.get_module())
    result = offline_algo.train()
    learner = result["learners"][DEFAULT_MODULE_ID]
    assert math.isfinite(float(learner[BCE_LOSS]))
    assert result["num_logged_transitions"] == len(offline_algo.logged)
    assert result.get("env_runners", {}).get("num_env_steps_sampled_lifetime", 0) == 0
    after = module_state(offline_algo.get_module())
    for prefix in ("kernel.", "actor.", "state_encoder.", "critic."):
        keys = [k for k in before if k.startswith(prefix)]
        assert keys and any(not torch.equal(before[k], after[k]) for k in keys), prefix
    learner_weights = offline_algo.learner_group.get_weights()[DEFAULT_MODULE_ID]
    for key, value in after.items():
        torch.testing.assert_close(value, torch.as_tensor(learner_weights[key]), msg=key)


@pytest.mark.ray
@pytest.mark.slow
def test_save_restore_gives_the_same_greedy_slate(offline_algo: OfflineSL, tmp_path: Path) -> None:
    offline_algo.train()
    obs = offline_algo.logged.batch(np.arange(0, len(offline_algo.logged), 97))[Columns.OBS]
    obs = {k: torch.as_tensor(v) for k, v in obs.items()}
    expected = offline_algo.get_module().greedy_action(obs)
    offline_algo.save_to_path(str(tmp_path))
    restored = OfflineSL.from_checkpoint(str(tmp_path))
    try:
        assert torch.equal(restored.get_module().greedy_action(obs), expected)
        restored_state = module_state(restored.get_module())
        for key, value in module_state(offline_algo.get_module()).items():
            assert torch.equal(restored_state[key], value), key
    finally:
        restored.stop()
