"""The sweep's trial logs stay one forward-only history across restarts, and the
progress table shows chosen columns only (no Ray cluster needed)."""

from __future__ import annotations

import csv
import json
import logging
import math
from pathlib import Path
from typing import Any

import pytest

from rayrec.tune.progress import (
    PROGRESS_LOGGER,
    ProgressTable,
    ResumableCSVLogger,
    ResumableJsonLogger,
    keep_csv_rows_before,
    metric_columns,
)


class FakeTrial:
    """What Tune's logger callbacks touch on a ``Trial``."""

    def __init__(self, folder: Path, trial_id: str = "t_00000") -> None:
        self.local_path = str(folder)
        self.trial_id = trial_id
        self.checkpoint = None  # nothing to fetch from remote storage
        self.config = {"seed": 0, "config": {"gamma": 0.9}, "rayrec": {"env": "x"}}
        self.status = "RUNNING"
        self.last_result: dict[str, Any] = {}

    def init_local_path(self) -> None:
        Path(self.local_path).mkdir(parents=True, exist_ok=True)

    def __str__(self) -> str:
        return f"trial_{self.trial_id}"


def row(iteration: int, **extra: Any) -> dict[str, Any]:
    return {"training_iteration": iteration, "env_steps": 100 * iteration, **extra}


def run_logger(logger: Any, trial: FakeTrial, iterations: list[int], **extra: Any) -> None:
    logger.log_trial_start(trial)
    for it in iterations:
        logger.log_trial_result(it, trial, row(it, **extra))


def csv_iterations(path: Path) -> list[int]:
    with path.open(newline="") as fh:
        return [int(r["training_iteration"]) for r in csv.DictReader(fh)]


def json_iterations(path: Path) -> list[int]:
    return [json.loads(line)["training_iteration"] for line in path.read_text().splitlines()]


def test_a_trial_restarted_from_its_checkpoint_logs_forward_only(tmp_path: Path) -> None:
    trial = FakeTrial(tmp_path / "trial")
    csv_logger, json_logger = ResumableCSVLogger(), ResumableJsonLogger()
    for logger in (csv_logger, json_logger):
        # iterations 1..4 logged; the trial fails; its last checkpoint was iteration 2
        run_logger(logger, trial, [1, 2, 3, 4], pid=1)
        logger.log_trial_end(trial, failed=True)
        run_logger(logger, trial, [3, 4, 5], pid=2)
        logger.log_trial_end(trial)
    assert csv_iterations(tmp_path / "trial" / "progress.csv") == [1, 2, 3, 4, 5]
    assert json_iterations(tmp_path / "trial" / "result.json") == [1, 2, 3, 4, 5]
    pids = [json.loads(x)["pid"] for x in (tmp_path / "trial" / "result.json").open()]
    assert pids == [1, 1, 2, 2, 2]  # the redone iterations are the new process's


def test_a_new_logger_after_a_driver_restart_drops_redone_rows(tmp_path: Path) -> None:
    trial = FakeTrial(tmp_path / "trial")
    run_logger(ResumableCSVLogger(), trial, [1, 2, 3], extra_col=1.0)
    # a new driver (fresh callbacks) resumes from checkpoint 1; rows carry keys in a
    # different order: the CSV keeps its header and writes under it
    logger = ResumableCSVLogger()
    logger.log_trial_start(trial)
    logger.log_trial_result(2, trial, {"extra_col": 2.0, "env_steps": 222, "training_iteration": 2})
    logger.log_trial_end(trial)
    with (tmp_path / "trial" / "progress.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["training_iteration"], r["env_steps"], r["extra_col"]) for r in rows] == [
        ("1", "100", "1.0"),
        ("2", "222", "2.0"),
    ]


def test_restart_from_scratch_starts_a_new_log(tmp_path: Path) -> None:
    trial = FakeTrial(tmp_path / "trial")
    for logger_cls in (ResumableCSVLogger, ResumableJsonLogger):
        run_logger(logger_cls(), trial, [1, 2])
        run_logger(logger_cls(), trial, [1])  # no checkpoint: iteration 1 again
    assert csv_iterations(tmp_path / "trial" / "progress.csv") == [1]
    assert json_iterations(tmp_path / "trial" / "result.json") == [1]


def test_keep_csv_rows_before_drops_a_torn_file(tmp_path: Path) -> None:
    path = tmp_path / "progress.csv"
    path.write_text("training_iteration,x\n1,a\n2,b\n3,c\n")
    assert keep_csv_rows_before(path, 3) == ["training_iteration", "x"]
    assert path.read_text().splitlines() == ["training_iteration,x", "1,a", "2,b"]
    assert keep_csv_rows_before(path, 1) is None and not path.exists()


def test_progress_table_shows_swept_values_and_chosen_metrics(tmp_path: Path) -> None:
    done, running = FakeTrial(tmp_path / "a", "a_00000"), FakeTrial(tmp_path / "b", "a_00001")
    done.status = "TERMINATED"
    done.last_result = row(2, episode_return_mean=1.5, eval_total_reward=2.25, eval_depth=7.0)
    running.last_result = row(1, episode_return_mean=1.25, eval_total_reward=math.nan)
    table = ProgressTable(["config/gamma", "seed"]).table([done, running])
    lines = table.splitlines()
    assert lines[0] == "trials: 1 RUNNING, 1 TERMINATED"
    assert lines[1].split() == [
        "trial", "status", "gamma", "seed", "iter", "env", "steps", "return", "eval",
        "reward", "eval", "depth",
    ]  # fmt: skip
    assert lines[2].split() == ["trial_a_00000", "TERMINATED", "0.9", "0", "2", "200", "1.500",
                                "2.250", "7.00"]  # fmt: skip
    assert lines[3].split()[-2:] == ["-", "-"]  # not evaluated yet
    assert "rayrec" not in table and "env" not in lines[2]  # no run settings / config dump


def test_progress_table_of_a_rating_sweep_shows_its_protocols_metrics(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    done = FakeTrial(tmp_path / "a", "a_00000")
    done.status = "TERMINATED"
    done.last_result = row(2, eval_rmse=1.25, eval_mae=0.75, global_mean_rmse=1.125)
    table = ProgressTable(
        ["seed"], columns=metric_columns(("rmse", "mae")), headline="rmse", reference="global_mean"
    )
    lines = table.table([done]).splitlines()
    assert lines[1].split()[-4:] == ["eval", "rmse", "eval", "mae"]
    assert lines[2].split()[-2:] == ["1.250", "0.750"]
    with caplog.at_level(logging.INFO, logger=PROGRESS_LOGGER):
        table.on_trial_complete(0, [done], done)
    assert "eval rmse 1.250 (global_mean 1.125)" in caplog.text


def test_progress_table_is_logged_only_when_something_changed(tmp_path: Path) -> None:
    import logging

    now = [0.0]
    table = ProgressTable(["seed"], interval_s=10, clock=lambda: now[0])
    trial = FakeTrial(tmp_path / "a")
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    log = logging.getLogger("rayrec.tune.progress")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        for t, it in [(0, 0), (5, 1), (11, 1), (22, 1), (33, 2)]:
            now[0] = t
            trial.last_result = row(it) if it else {}
            table.on_step_end(iteration=0, trials=[trial])
    finally:
        log.removeHandler(handler)
    assert len(records) == 2  # at t=11 (first change) and t=33; t=22 had nothing new


def test_after_an_interrupt_the_table_counts_trials_as_they_are(tmp_path: Path) -> None:
    """Tune marks every live trial TERMINATED when an interrupted sweep ends, finished or
    not: the last table shows the unfinished ones as INTERRUPTED / PENDING."""
    trials = [FakeTrial(tmp_path / str(i), f"a_0000{i}") for i in range(4)]
    finished, running, pending, earlier = trials
    earlier.status = "TERMINATED"  # finished in an earlier session (a resumed sweep)
    running.status = "RUNNING"
    pending.status = "PENDING"
    table = ProgressTable(["seed"])
    table.on_step_end(iteration=1, trials=trials)
    finished.status = "TERMINATED"
    table.on_trial_complete(iteration=2, trials=trials, trial=finished)
    table.on_step_end(iteration=2, trials=trials)
    for trial in trials:  # Ctrl-C: Tune's cleanup stops what is left
        trial.status = "TERMINATED"
    lines = table.table(trials).splitlines()
    assert lines[0] == "trials: 1 INTERRUPTED, 1 PENDING, 2 TERMINATED"
    assert [line.split()[1] for line in lines[2:]] == [
        "TERMINATED", "INTERRUPTED", "PENDING", "TERMINATED",
    ]  # fmt: skip


def test_trial_progress_csv_lines_end_with_newline_only(tmp_path: Path) -> None:
    """Tune's own CSV writer ends lines with \\r\\n; ours (new and continued) with \\n."""
    trial = FakeTrial(tmp_path / "trial")
    run_logger(ResumableCSVLogger(), trial, [1, 2])
    logger = ResumableCSVLogger()
    logger.log_trial_start(trial)
    logger.log_trial_result(2, trial, row(2))  # continues: drops the redone row 2
    logger.log_trial_end(trial)
    data = (tmp_path / "trial" / "progress.csv").read_bytes()
    assert b"\r" not in data
    assert csv_iterations(tmp_path / "trial" / "progress.csv") == [1, 2]
