"""Sweeps end to end on the synthetic env (slow, start Ray).

- ``rayrec tune`` runs a 2-trial grid with both trials at once on 2 CPUs, writes the
  results table (one row per trial: config + final metrics + evaluation) and
  ``rayrec report`` plots it.
- The driver of a running sweep is killed (SIGKILL to its process group, as a lost
  head node or a killed job would do) and ``rayrec resume`` finishes it: every trial
  finishes exactly once, none is lost, and each trial's logged ``training_iteration``
  only ever goes up. The killed sweep runs in a subprocess with its own local Ray,
  kept apart from the test session's Ray and any other cluster on the machine by its
  own ``RAY_TMPDIR``; every process of that Ray is found by that variable and killed
  by pid at the end.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from rayrec.cli import main
from tests.tune.conftest import REPO, tiny_spec, write_spec

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def result_rows(trial_dir: str | Path) -> list[dict[str, Any]]:
    text = (Path(trial_dir) / "result.json").read_text()
    return [json.loads(line) for line in text.splitlines()]


def assert_metrics_finite(row: pd.Series, keys: tuple[str, ...]) -> None:
    for key in keys:
        assert math.isfinite(float(row[key])), (key, row[key])


FINAL = ("eval_total_reward", "eval_depth", "random_total_reward", "random_depth", "env_steps")


def test_tune_runs_trials_concurrently_and_writes_results_and_report(
    ray_session: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ray_session.cluster_resources().get("CPU") == 2
    spec = write_spec(tmp_path, tiny_spec())
    storage = tmp_path / "runs"
    code = main(["tune", str(spec), "--storage", str(storage), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    exp = storage / "tiny"
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["experiment"] == str(exp) and summary["status"] == {"TERMINATED": 2}
    assert f"experiment: {exp}" in out and "hyper_actor_coef" in out  # the table's column
    assert "num_steps_sampled_before_learning_starts" not in out  # not the whole config

    table = pd.read_csv(exp / "results.csv")
    assert len(table) == 2 and set(table["status"]) == {"TERMINATED"}
    assert sorted(table["config/hyper_actor_coef"]) == [0.0, 1.0]
    assert set(table["algorithm"]) == {"hac"} and set(table["seed"]) == {0}
    assert (table["training_iteration"] == 2).all()
    assert (table["config/num_steps_sampled_before_learning_starts"] == 128).all()
    for _, row in table.iterrows():
        assert_metrics_finite(row, (*FINAL, "L_TD"))
    parquet = pd.read_parquet(exp / "results.parquet")
    assert list(parquet["error"]) == ["", ""]  # (the CSV reads an empty cell as NaN)
    pd.testing.assert_frame_equal(
        parquet.drop(columns="error"), table.drop(columns="error"), check_dtype=False
    )

    # both trials were running at the same time: their spans overlap
    spans = []
    for trial_dir in table["trial_dir"]:
        rows = result_rows(trial_dir)
        assert [r["training_iteration"] for r in rows] == [1, 2]
        assert math.isnan(rows[0]["eval_total_reward"])  # evaluated once, at the end
        start = rows[0]["timestamp"] - rows[0]["time_this_iter_s"]
        spans.append((start, rows[-1]["timestamp"]))
    (a0, a1), (b0, b1) = spans
    assert max(a0, b0) < min(a1, b1), f"trials ran one after the other: {spans}"

    assert main(["report", str(exp)]) == 0
    for name in ("report.md", "learning_curves.png", "eval_total_reward_vs_hyper_actor_coef.png"):
        assert (exp / "report" / name).stat().st_size > 0, name
    # a second `rayrec tune` into the same folder refuses and points to resume
    assert main(["tune", str(spec), "--storage", str(storage)]) == 2
    assert f"rayrec resume {exp}" in capsys.readouterr().err


# ------------------------------------------------------------ kill and resume
def processes_with_env(marker: str) -> list[int]:
    """Pids of this user's processes whose environment holds ``marker``."""
    found = []
    needle = marker.encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            env = (proc / "environ").read_bytes()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            found.append(int(proc.name))
    return found


def kill_pids(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def private_ray_env() -> Iterator[dict[str, str]]:
    """Environment for a subprocess driver with its own local Ray (short temp dir:
    Ray's socket paths must stay under 108 characters); its processes killed after."""
    ray_tmp = tempfile.mkdtemp(prefix="rrt", dir="/tmp")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_TMPDIR=ray_tmp, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    try:
        yield env
    finally:
        kill_pids(processes_with_env(f"RAY_TMPDIR={ray_tmp}"))
        shutil.rmtree(ray_tmp, ignore_errors=True)


def snapshot_with_unfinished_checkpoint(exp: Path) -> list[str] | None:
    """The trial ids of Tune's latest experiment snapshot, once it records a checkpoint
    of a trial that has not finished; else None."""
    for path in sorted(exp.glob("experiment_state-*.json")):
        try:
            state = json.loads(path.read_text())
            metas = [json.loads(meta) for _, meta in state["trial_data"]]
            ids = [json.loads(trial)["trial_id"] for trial, _ in state["trial_data"]]
        except (json.JSONDecodeError, KeyError, TypeError, OSError):
            return None  # being written
        for meta in metas:
            last = meta.get("last_result") or {}
            if last.get("checkpoint_dir_name") and not last.get("done"):
                return ids
    return None


def test_killed_driver_resumes_every_trial_exactly_once(
    tmp_path: Path, private_ray_env: dict[str, str]
) -> None:
    iterations = 5
    raw = tiny_spec(
        stop={"training_iteration": iterations},
        checkpoint={"frequency": 1, "num_to_keep": 2},
    )
    spec = write_spec(tmp_path, raw)
    storage = tmp_path / "runs"
    exp = storage / "tiny"
    cli = [sys.executable, "-m", "rayrec.cli"]
    log_path = tmp_path / "tune.log"
    with log_path.open("w") as log:
        driver = subprocess.Popen(
            [*cli, "tune", str(spec), "--storage", str(storage), "--progress-every", "5"],
            cwd=REPO,
            env=private_ray_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the driver and its Ray
        )
        deadline = time.monotonic() + 300
        trial_ids = None
        while trial_ids is None:
            assert driver.poll() is None, "sweep ended before the kill:\n" + log_path.read_text()
            assert time.monotonic() < deadline, "no checkpoint in time:\n" + log_path.read_text()
            time.sleep(0.5)
            trial_ids = snapshot_with_unfinished_checkpoint(exp)
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    killed_at = time.monotonic()
    print(f"driver killed after {killed_at - deadline + 300:.0f}s")
    # Ray's processes share the driver's fate (they exit when it dies); any left over
    # (a slow exit) must not write into the experiment while it resumes
    marker = f"RAY_TMPDIR={private_ray_env['RAY_TMPDIR']}"
    while processes_with_env(marker) and time.monotonic() < killed_at + 20:
        time.sleep(0.5)
    left = processes_with_env(marker)
    print(f"{len(left)} processes of the killed driver's Ray still alive (waited <= 20 s)")
    kill_pids(left)
    assert sorted(trial_ids) and len(trial_ids) == 2
    assert not (exp / "results.csv").exists()  # the sweep did not finish

    resumed = subprocess.run(
        [*cli, "resume", str(exp), "--json"],
        cwd=REPO,
        env=private_ray_env,
        capture_output=True,
        text=True,
        timeout=420,
    )
    print(f"resumed in {time.monotonic() - killed_at:.0f}s")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert summary["status"] == {"TERMINATED": 2}

    # none lost, none added: one row per trial of the interrupted sweep, all finished
    table = pd.read_csv(exp / "results.csv")
    assert sorted(table["trial_id"]) == sorted(trial_ids)
    assert set(table["status"]) == {"TERMINATED"}
    assert (table["training_iteration"] == iterations).all()
    for _, row in table.iterrows():
        assert_metrics_finite(row, FINAL)

    continued_from_checkpoint = 0
    for trial_dir in table["trial_dir"]:
        rows = result_rows(trial_dir)
        its = [r["training_iteration"] for r in rows]
        # progress never goes backwards, no iteration twice, none missing
        assert its == list(range(1, iterations + 1)), (trial_dir, its)
        progress = pd.read_csv(Path(trial_dir) / "progress.csv")
        assert list(progress["training_iteration"]) == its
        # finished exactly once: one evaluation, in the last row
        evaluated = [
            r["training_iteration"] for r in rows if not math.isnan(r["eval_total_reward"])
        ]
        assert evaluated == [iterations]
        # lifetime env steps keep growing across the restart
        steps = [r["env_steps"] for r in rows]
        assert steps == sorted(steps) and len(set(steps)) == len(steps)
        pids = [r["pid"] for r in rows]
        if len(set(pids)) > 1:  # interrupted, continued by a new process
            first_new = pids.index(pids[-1])
            assert set(pids[first_new:]) == {pids[-1]}
            continued_from_checkpoint += its[first_new] > 1
    assert continued_from_checkpoint >= 1, "no trial continued from its checkpoint"
