"""An env runner killed mid-training: Ray restarts it, RLlib re-syncs it, training goes on.

This is what a preempted spot node or an OOM-killed runner looks like to
``rayrec train`` / ``rayrec tune``: ``build_config`` turns RLlib's fault tolerance on
(``restart_failed_env_runners``), so the runner actor is recreated with the same
worker index, given the current weights before it samples again
(``Algorithm.restore_env_runners``), and the learner, its replay buffer and the
lifetime counters, which live in the algorithm, are never touched.

The runner is killed with SIGKILL on its process id (an abrupt crash, not a polite
``ray.kill``); the process belongs to the test's own Ray session.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from rayrec.train import TrainOptions, build_config

REPO = Path(__file__).resolve().parents[2]
SYNTHETIC = REPO / "envs" / "synthetic.yaml"
VICTIM = 1  # worker index of the runner that is killed
#: iterations allowed for Ray to restart the runner and RLlib to bring it back
RECOVERY_ITERS = 8
#: HAC with two remote runners of 8 users each (both tests)
TWO_RUNNERS = TrainOptions(
    algo="hac", env=str(SYNTHETIC), num_env_runners=2, num_envs_per_env_runner=8
)


def _pid(runner: Any) -> tuple[int, int]:
    return int(runner.worker_index), os.getpid()


def _weights(runner: Any) -> dict[str, np.ndarray]:
    state = runner.module.get_state(inference_only=True)
    return {k: np.asarray(v) for k, v in state.items()}


def _as_numpy(state: dict[str, Any]) -> dict[str, np.ndarray]:
    return {
        k: (v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v))
        for k, v in state.items()
    }


def _assert_same_weights(runner: dict[str, np.ndarray], learner: dict[str, np.ndarray]) -> None:
    assert runner, "the env runner's module has no weights"
    missing = set(runner) - set(learner)
    assert not missing, f"runner weights unknown to the learner: {sorted(missing)[:5]}"
    for key, value in runner.items():
        np.testing.assert_array_equal(value, learner[key], err_msg=key)


@pytest.mark.ray
@pytest.mark.slow
def test_killed_env_runner_is_restarted_with_current_weights(
    ray_session: Any, single_thread: None
) -> None:
    config, _ = build_config(TWO_RUNNERS)
    assert config.restart_failed_env_runners, "build_config must turn fault tolerance on"

    recreated: list[dict[str, Any]] = []

    def on_env_runners_recreated(
        *, algorithm: Any, env_runner_group: Any, env_runner_indices: list[int], **_: Any
    ) -> None:
        """Runs right after RLlib restored the runners, before they sample again."""
        recreated.append(
            {
                "indices": list(env_runner_indices),
                "runner": env_runner_group.foreach_env_runner(
                    _weights, remote_worker_ids=env_runner_indices, local_env_runner=False
                ),
                "learner": _as_numpy(algorithm.learner_group.get_weights()["default_policy"]),
            }
        )

    config.callbacks(on_env_runners_recreated=on_env_runners_recreated)
    config.training(num_steps_sampled_before_learning_starts=64)  # learn from iteration 1
    algo = config.build_algo()
    try:
        group = algo.env_runner_group
        initial = _as_numpy(algo.learner_group.get_weights()["default_policy"])
        steps: list[int] = []
        iterations: list[int] = []

        def train() -> None:
            result = algo.train()
            iterations.append(int(result["training_iteration"]))
            steps.append(int(result["env_runners"]["num_env_steps_sampled_lifetime"]))

        for _ in range(2):
            train()
        pids = dict(group.foreach_env_runner(_pid, local_env_runner=False))
        assert sorted(pids) == [1, 2]
        os.kill(pids[VICTIM], signal.SIGKILL)
        steps_at_kill = steps[-1]

        # Training goes on through the failure and the restart.
        for _ in range(RECOVERY_ITERS):
            train()
            if recreated and group.num_healthy_remote_workers() == 2:
                break
        assert recreated, f"runner {VICTIM} was not restored within {RECOVERY_ITERS} iterations"
        assert group.num_healthy_remote_workers() == 2
        assert recreated[0]["indices"] == [VICTIM]
        train()  # one more full iteration with both runners

        # A new process under the same worker index, the other runner untouched.
        new_pids = dict(group.foreach_env_runner(_pid, local_env_runner=False))
        assert sorted(new_pids) == [1, 2]
        assert new_pids[VICTIM] != pids[VICTIM]
        assert new_pids[3 - VICTIM] == pids[3 - VICTIM]

        # Restored with the weights the learner had at that moment, not a fresh init.
        at_restore = recreated[0]
        _assert_same_weights(at_restore["runner"][0], at_restore["learner"])
        assert any(not np.array_equal(at_restore["learner"][k], initial[k]) for k in initial), (
            "the learner had not trained yet: the weight check would prove nothing"
        )

        # After the next sync every runner holds the learner's current weights.
        learner_now = _as_numpy(algo.learner_group.get_weights()["default_policy"])
        for runner_weights in group.foreach_env_runner(_weights, local_env_runner=False):
            _assert_same_weights(runner_weights, learner_now)

        # No progress lost: iterations and lifetime env steps only move forward.
        assert iterations == list(range(1, len(iterations) + 1))
        assert all(b > a for a, b in itertools.pairwise(steps)), steps
        assert steps[-1] > steps_at_kill
    finally:
        algo.stop()


@pytest.mark.ray
@pytest.mark.slow
def test_restart_gives_up_when_fault_tolerance_is_off(
    ray_session: Any, single_thread: None
) -> None:
    """The control: the same kill without restarts leaves the runner dead."""
    config, _ = build_config(TWO_RUNNERS)
    config.fault_tolerance(restart_failed_env_runners=False, ignore_env_runner_failures=True)
    algo = config.build_algo()
    try:
        group = algo.env_runner_group
        algo.train()
        pids = dict(group.foreach_env_runner(_pid, local_env_runner=False))
        os.kill(pids[VICTIM], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            algo.train()
            if group.num_healthy_remote_workers() < 2:
                break
        assert group.num_healthy_remote_workers() == 1
        algo.train()  # the survivor keeps sampling
        assert group.num_healthy_remote_workers() == 1
    finally:
        algo.stop()
