"""Reference policies of :mod:`rayrec.environments.rollout`: the personalised reference
(the train simulator's greedy slate played in the evaluation simulator)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from rayrec.config import to_dict
from rayrec.environments.rollout import (
    NEEDS_TRAIN,
    PERSONALISED,
    POLICIES,
    rollout,
    train_simulator,
)
from rayrec.environments.slate import SlateEnv
from rayrec.errors import InputError
from rayrec.simulator.build import in_memory_simulator
from rayrec.simulator.keys import PART_EVAL, PART_TRAIN
from rayrec.simulator.simulator import Simulator
from tests.simulator.conftest import LearnedRun, tiny_ground_truth_spec


def test_policies_in_table_order_and_personalised_needs_train() -> None:
    assert list(POLICIES) == ["random", "popular", PERSONALISED, "oracle"]
    assert set(NEEDS_TRAIN) == {PERSONALISED}
    with pytest.raises(InputError, match="needs the train simulator"):
        POLICIES[PERSONALISED]()
    for name in ("random", "popular", "oracle"):
        assert callable(POLICIES[name]())


def test_personalised_with_the_eval_model_is_the_oracle_step_by_step(
    learned_run: LearnedRun,
) -> None:
    """Given the evaluation simulator as its "train" simulator, the personalised policy's
    state must follow the env's own state exactly: its slates equal the oracle's at
    every step, through leaves and the env's auto-resets (a new user restarts it)."""
    sim = learned_run.load(PART_EVAL)
    env = SlateEnv(sim, 16, learned_run.spec.env, seed=3)
    personalised, oracle = POLICIES[PERSONALISED](sim), POLICIES["oracle"]()
    obs, _ = env.reset(seed=3)
    resets = 0
    for _ in range(40):
        chosen = personalised(env, obs)
        np.testing.assert_array_equal(chosen, oracle(env, obs))
        obs, _, terminated, truncated, _ = env.step(chosen)
        resets += int((terminated | truncated).sum())
    assert resets > 16  # the run went through auto-resets


def test_personalised_with_the_train_part(learned_run: LearnedRun) -> None:
    """The train model's greedy slates in the evaluation simulator: a real policy
    (above random), not the oracle's slates, and seeded."""
    sim, train = learned_run.load(PART_EVAL), learned_run.load(PART_TRAIN)
    config = learned_run.spec.env
    run = [rollout(sim, POLICIES[PERSONALISED](train), 200, config, seed=1) for _ in range(2)]
    np.testing.assert_array_equal(run[0].total_reward, run[1].total_reward)
    oracle = rollout(sim, POLICIES["oracle"](), 200, config, seed=1)
    random = rollout(sim, POLICIES["random"](), 200, config, seed=1)
    assert run[0].total_reward.mean() > random.total_reward.mean()
    assert not np.array_equal(run[0].slates, oracle.slates)


def test_personalised_refuses_other_feedback(learned_run: LearnedRun, gt_sim: Simulator) -> None:
    env = SlateEnv(gt_sim, 4, tiny_ground_truth_spec().env, seed=0)
    obs, _ = env.reset()
    with pytest.raises(InputError, match="train simulator scores click, purchase"):
        POLICIES[PERSONALISED](learned_run.load(PART_TRAIN))(env, obs)


def test_personalised_on_the_ground_truth_is_the_exact_best_slate() -> None:
    spec = tiny_ground_truth_spec()
    sim = in_memory_simulator(spec.simulator)
    train = in_memory_simulator(spec.simulator, PART_TRAIN)
    a = rollout(sim, POLICIES[PERSONALISED](train), 50, spec.env, seed=0)
    b = rollout(sim, POLICIES["oracle"](), 50, spec.env, seed=0)
    np.testing.assert_array_equal(a.slates, b.slates)


def test_train_simulator_of_an_env_config(learned_run: LearnedRun, tmp_path: Path) -> None:
    env = to_dict(learned_run.spec.env)
    config = {"simulator": str(learned_run.out), "part": PART_EVAL, "env": env}
    train = train_simulator(config)
    assert train is not None and train.meta["part"] == PART_TRAIN
    only_eval = tmp_path / "only-eval"
    shutil.copytree(learned_run.out / PART_EVAL, only_eval / PART_EVAL)
    assert train_simulator({**config, "simulator": str(only_eval)}) is None
    assert train_simulator({**config, "simulator": str(only_eval / PART_EVAL)}) is None
