"""``rayrec train`` and ``rayrec evaluate`` end to end, and their input errors.

The train → evaluate round trip starts Ray (marked ``ray`` + ``slow``); the error
paths fail before Ray is touched, so they stay in the fast suite.
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import struct
from pathlib import Path
from typing import Any

import pytest

from rayrec.cli import main
from tests.algorithms.conftest import REPO, SYNTHETIC

METRICS = ("total_reward", "depth", "reward_variance", "coverage", "intra_list_diversity")


def last_json(text: str) -> dict[str, Any]:
    """The ``--json`` contract: the last line of stdout is one JSON object."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "no output"
    out: dict[str, Any] = json.loads(lines[-1])
    return out


def assert_metrics(metrics: dict[str, Any]) -> None:
    for key in METRICS:
        assert math.isfinite(float(metrics[key])), (key, metrics[key])
    assert metrics["depth"] >= 1


def assert_tensorboard_has(logdir: Path, tags: set[str]) -> None:
    """The event files in ``logdir`` hold every tag in ``tags`` with finite values."""
    from tensorboardX.proto import event_pb2

    seen: dict[str, float] = {}
    for path in logdir.glob("events.out.tfevents.*"):
        data = path.read_bytes()
        pos = 0
        while pos < len(data):  # TFRecord: u64 length, u32 crc, payload, u32 crc
            (length,) = struct.unpack("<Q", data[pos : pos + 8])
            event = event_pb2.Event.FromString(data[pos + 12 : pos + 12 + length])
            pos += 12 + length + 4
            for value in event.summary.value:
                seen[value.tag] = value.simple_value
    missing = tags - set(seen)
    assert not missing, (missing, sorted(seen))
    assert all(math.isfinite(seen[t]) for t in tags), seen


@pytest.mark.ray
@pytest.mark.slow
def test_train_then_evaluate_round_trip(
    ray_session: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "hac"
    code = main(
        [
            "train",
            "hac",
            "--env",
            str(SYNTHETIC),
            "--stop-iters",
            "2",
            "--eval-users",
            "50",
            "--out",
            str(out),
            # learn from the first iteration on, so the checkpoint is not the init
            "--config",
            "num_steps_sampled_before_learning_starts=256",
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    printed = last_json(captured.out)

    assert (out / "checkpoint").is_dir()
    with (out / "progress.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["iteration"]) for r in rows] == [1, 2]
    assert math.isfinite(float(rows[-1]["L_TD"])), rows[-1]
    result = json.loads((out / "result.json").read_text())
    assert result == printed
    assert result["algorithm"] == "hac" and result["iterations"] == 2
    assert set(result["evaluation"]) == {"hac", "random"}
    for metrics in result["evaluation"].values():
        assert_metrics(metrics)
    assert_tensorboard_has(out / "tensorboard", {"train/L_TD", "eval/hac/total_reward"})
    status = json.loads((out / "status.json").read_text())
    assert status["status"] == "finished" and status["iteration"] == 2
    assert status["checkpoint"]["iteration"] == 2 and status["options"]["stop_iters"] == 2

    # a second run into the same folder is refused, the first one's files untouched
    assert main(["train", "hac", "--env", str(SYNTHETIC), "--seed", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "--resume" in err and "--overwrite" in err
    assert json.loads((out / "result.json").read_text()) == result

    code = main(
        [
            "evaluate",
            str(out / "checkpoint"),
            "--env",
            str(SYNTHETIC),
            "--episodes",
            "50",
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    evaluated = last_json(captured.out)
    random = evaluated.pop("random")
    assert_metrics(evaluated)
    # Both evaluate the same 50 users with seed 1 (train's eval and evaluate's
    # --seed default), and the random policy with its own seed 0: the restored
    # checkpoint must act exactly as the trained module did.
    for key in METRICS:
        assert evaluated[key] == pytest.approx(result["evaluation"]["hac"][key]), key
        assert random[key] == pytest.approx(result["evaluation"]["random"][key]), key


@pytest.mark.ray
@pytest.mark.slow
def test_sigterm_checkpoints_the_last_iteration_and_overwrite_replaces_the_run(
    ray_session: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """SIGTERM while iteration 2 trains: it completes, is checkpointed, the folder says
    interrupted at 2 and the command exits 143. ``--overwrite`` then replaces the run."""
    from rayrec.train import TrainingRun

    step = TrainingRun.step

    def step_then_signal(self: TrainingRun) -> Any:
        if self.state.iteration == 1:  # iteration 2 is about to train
            os.kill(os.getpid(), signal.SIGTERM)
        return step(self)

    monkeypatch.setattr(TrainingRun, "step", step_then_signal)
    out = tmp_path / "run"
    budget = ["--env", str(SYNTHETIC), "--eval-users", "20", "--out", str(out)]
    budget += ["--config", "num_steps_sampled_before_learning_starts=64"]
    assert main(["train", "hac", *budget, "--stop-iters", "4"]) == 143
    err = capsys.readouterr().err
    assert "interrupted (SIGTERM) after iteration 2; checkpoint at iteration 2" in err
    assert f"resume with: rayrec train --resume {out}" in err
    status = json.loads((out / "status.json").read_text())
    assert status["status"] == "interrupted" and status["iteration"] == 2
    assert status["checkpoint"]["iteration"] == 2
    assert status["resume"] == f"rayrec train --resume {out}"
    with (out / "progress.csv").open(newline="") as fh:
        assert [int(r["iteration"]) for r in csv.DictReader(fh)] == [1, 2]
    assert not (out / "result.json").exists()

    monkeypatch.setattr(TrainingRun, "step", step)
    assert main(["train", "hac", *budget, "--stop-iters", "1", "--seed", "1", "--overwrite"]) == 0
    status = json.loads((out / "status.json").read_text())
    assert status["status"] == "finished" and status["options"]["seed"] == 1
    with (out / "progress.csv").open(newline="") as fh:
        assert [int(r["iteration"]) for r in csv.DictReader(fh)] == [1]
    assert json.loads((out / "result.json").read_text())["seed"] == 1
    assert len(list((out / "tensorboard").glob("events.out.tfevents.*"))) == 1


def test_train_rejects_an_unknown_config_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "never"
    code = main(
        ["train", "hac", "--env", str(SYNTHETIC), "--config", "nosuchfield=1", "--out", str(out)]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "nosuchfield" in err
    assert not out.exists()


def test_train_rejects_a_bad_config_value(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "td3", "--env", str(SYNTHETIC), "--config", "policy_delay=0"])
    assert code == 2
    assert "policy_delay" in capsys.readouterr().err


def test_learned_simulator_missing_says_to_train_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no runs/simulators/ here
    spec = REPO / "envs" / "ml1m.yaml"
    assert main(["train", "hac", "--env", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "rayrec simulator train" in err
    assert not (tmp_path / "runs").exists(), "nothing may be written before the check"

    assert main(["evaluate", str(tmp_path), "--env", str(spec)]) == 2
    assert "rayrec simulator train" in capsys.readouterr().err


def test_evaluate_rejects_a_folder_without_a_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", str(tmp_path), "--env", str(SYNTHETIC), "--episodes", "5"]) == 2
    assert "checkpoint" in capsys.readouterr().err
