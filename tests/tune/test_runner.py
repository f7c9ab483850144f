"""The trial function's own logic, without Ray: stop criteria, rows and restarts."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from ray import tune

from rayrec.checkpoints import write_checkpoint
from rayrec.evaluation import EvalResult, get_protocol
from rayrec.train import TRIAL_STATE, StopCriteria, iteration_row
from rayrec.tune import runner


def test_stop_reached_by_any_criterion() -> None:
    stop = StopCriteria(iterations=10)
    assert not stop.reached(9, 10**9, 10**9)
    assert stop.reached(10, 0, 0.0)
    assert StopCriteria(10, env_steps=500).reached(3, 500, 0.0)
    assert not StopCriteria(10, env_steps=500).reached(3, 499, 0.0)
    assert StopCriteria(10, seconds=60.0).reached(3, 0, 60.5)


def test_iteration_rows_have_the_same_keys_before_learning_starts() -> None:
    early = iteration_row(
        {"env_runners": {"num_env_steps_sampled_lifetime": 256}}, iteration=1, seconds=0.5
    )
    assert early["env_steps"] == 256 and early["iteration"] == 1
    assert early["episode_return_mean"] != early["episode_return_mean"]  # NaN, not missing
    later = iteration_row(
        {
            "env_runners": {"num_env_steps_sampled_lifetime": 512, "episode_return_mean": 1.5},
            "learners": {"default_policy": {"L_TD": 0.25, "num_module_steps_trained": 8}},
        },
        iteration=2,
        seconds=1.0,
    )
    assert later["L_TD"] == 0.25 and "num_module_steps_trained" not in later


def test_eval_columns_are_nan_until_the_final_evaluation() -> None:
    protocol = get_protocol("slate_rollout")
    pending = protocol.columns(None)
    assert set(pending) == {f"{p}_{m}" for p in ("eval", "random") for m in protocol.metrics}
    assert all(math.isnan(v) for v in pending.values())
    result = EvalResult(
        "slate_rollout",
        {m: 1.0 for m in protocol.metrics},
        {"random": {m: 0.5 for m in protocol.metrics}},
    )
    final = protocol.columns(result)
    assert set(final) == set(pending)
    assert final["eval_total_reward"] == 1.0 and final["random_depth"] == 0.5


def test_a_trial_restored_from_its_final_checkpoint_does_not_train_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = {"iteration": 4, "seconds": 1.0, "done": True}
    folder = write_checkpoint(
        tmp_path / "checkpoint",
        lambda tmp: (tmp / TRIAL_STATE).write_text(json.dumps(state)),
        {"state": state},
    )
    monkeypatch.setattr(tune, "get_checkpoint", lambda: tune.Checkpoint.from_directory(folder))

    def no_build(config: dict[str, Any]) -> Any:
        raise AssertionError("the finished trial was built and trained again")

    monkeypatch.setattr(runner, "algorithm_config", no_build)
    reports: list[Any] = []
    monkeypatch.setattr(tune, "report", lambda *a, **k: reports.append(a))
    runner.rayrec_trial({"rayrec": {"stop": {"training_iteration": 4}}})
    assert reports == []
