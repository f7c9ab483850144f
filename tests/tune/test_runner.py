"""The trial function's own logic, without Ray: stop criteria and restarts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ray import tune

from rayrec.tune import runner
from rayrec.tune.runner import TRIAL_STATE, iteration_metrics, stop_reached


def test_stop_reached_by_any_criterion() -> None:
    stop: dict[str, Any] = {"training_iteration": 10, "env_steps": None, "time_total_s": None}
    assert not stop_reached(stop, 9, 10**9, 10**9)
    assert stop_reached(stop, 10, 0, 0.0)
    assert stop_reached({**stop, "env_steps": 500}, 3, 500, 0.0)
    assert not stop_reached({**stop, "env_steps": 500}, 3, 499, 0.0)
    assert stop_reached({**stop, "time_total_s": 60.0}, 3, 0, 60.5)


def test_iteration_metrics_have_the_same_keys_before_learning_starts() -> None:
    early = iteration_metrics({"env_runners": {"num_env_steps_sampled_lifetime": 256}})
    assert early["env_steps"] == 256
    assert early["episode_return_mean"] != early["episode_return_mean"]  # NaN, not missing
    later = iteration_metrics(
        {
            "env_runners": {"num_env_steps_sampled_lifetime": 512, "episode_return_mean": 1.5},
            "learners": {"default_policy": {"L_TD": 0.25, "num_module_steps_trained": 8}},
        }
    )
    assert later["L_TD"] == 0.25 and "num_module_steps_trained" not in later


def test_a_trial_restored_from_its_final_checkpoint_does_not_train_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / TRIAL_STATE).write_text(json.dumps({"iteration": 4, "seconds": 1.0, "done": True}))
    monkeypatch.setattr(tune, "get_checkpoint", lambda: tune.Checkpoint.from_directory(tmp_path))

    def no_build(config: dict[str, Any]) -> Any:
        raise AssertionError("the finished trial was built and trained again")

    monkeypatch.setattr(runner, "algorithm_config", no_build)
    reports: list[Any] = []
    monkeypatch.setattr(tune, "report", lambda *a, **k: reports.append(a))
    runner.rayrec_trial({"rayrec": {"stop": {"training_iteration": 4}}})
    assert reports == []
