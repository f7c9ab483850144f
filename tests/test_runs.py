"""Run folders (:mod:`rayrec.runs`): never silently reused, always saying what they are,
resumable after an interrupt; options checked before Ray starts.

The folder, status, progress and signal pieces are tested directly (fast); one test
interrupts a real ``rayrec train`` subprocess with SIGINT and resumes it (``ray`` +
``slow``).
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rayrec.cli import main
from rayrec.errors import InputError
from rayrec.runs import (
    FINISHED,
    INTERRUPTED,
    LATEST,
    RUNNING,
    STATUS_FILE,
    Interrupts,
    ProgressLog,
    RunStatus,
    claim,
    latest_run,
    new_run_folder,
    read_status,
    resolve_run_folder,
)

REPO = Path(__file__).resolve().parents[1]
SYNTHETIC = str(REPO / "envs" / "synthetic.yaml")


# ------------------------------------------------------------- default folders
def test_concurrent_default_runs_get_distinct_folders(tmp_path: Path) -> None:
    root = tmp_path / "hac-synthetic-s0"
    got: list[Path] = []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def allocate() -> None:
        start.wait()
        folder = new_run_folder(root)
        with lock:
            got.append(folder)

    threads = [threading.Thread(target=allocate) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 16, sorted(got)
    assert sorted(p.name for p in got) == [f"{n:03d}" for n in range(1, 17)]
    assert latest_run(root) in got


def _allocate_in_process(root: str, queue: Any) -> None:
    queue.put(str(new_run_folder(Path(root))))


def test_concurrent_processes_get_distinct_folders(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_allocate_in_process, args=(str(root), queue)) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    folders = {queue.get(timeout=5) for _ in procs}
    assert len(folders) == 6
    assert all(Path(f).is_dir() and not any(Path(f).iterdir()) for f in folders)


def test_latest_points_at_the_newest_run_and_resolves(tmp_path: Path) -> None:
    first = new_run_folder(tmp_path)
    second = new_run_folder(tmp_path)
    assert (first.name, second.name) == ("001", "002")
    assert (tmp_path / LATEST).is_symlink()
    assert latest_run(tmp_path) == second
    (second / STATUS_FILE).write_text(json.dumps({"status": "finished"}))
    assert resolve_run_folder(tmp_path) == second
    assert resolve_run_folder(tmp_path / LATEST) == second
    assert resolve_run_folder(second) == second


def test_latest_falls_back_to_a_file_without_symlinks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_symlinks(self: Path, target: Any, target_is_directory: bool = False) -> None:
        raise OSError("symlinks not supported")

    monkeypatch.setattr(Path, "symlink_to", no_symlinks)
    new_run_folder(tmp_path)
    second = new_run_folder(tmp_path)
    assert (tmp_path / LATEST).read_text().strip() == second.name
    assert latest_run(tmp_path) == second


# --------------------------------------------------------------- claiming
def _claim(path: Path, existing: Any = "refuse") -> Any:
    return claim(path, existing, options={"algo": "hac"}, command="rayrec train hac")


def test_a_non_empty_folder_is_refused_naming_it_and_the_flags(tmp_path: Path) -> None:
    out = tmp_path / "out"
    folder = _claim(out)
    folder.interrupted()
    with pytest.raises(InputError) as err:
        _claim(out)
    text = str(err.value)
    assert str(out) in text and "--resume" in text and "--overwrite" in text
    assert "interrupted run" in text
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="--overwrite"):
        _claim(tmp_path / "other")


def test_overwrite_replaces_only_run_folders(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _claim(out).finished()
    (out / "progress.csv").write_text("iteration\n1\n")
    folder = _claim(out, "overwrite")
    assert sorted(p.name for p in out.iterdir()) == [STATUS_FILE]
    assert folder.status.status == RUNNING
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("keep me")
    with pytest.raises(InputError, match="not a rayrec run folder"):
        _claim(mine, "overwrite")
    assert (mine / "thesis.tex").read_text() == "keep me"


def test_two_runs_claiming_one_folder_at_once_one_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def go() -> None:
        start.wait()
        try:
            _claim(out)
            outcomes.append("claimed")
        except InputError:
            outcomes.append("refused")

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["claimed"] + ["refused"] * 7


def test_a_folder_a_live_run_writes_is_never_taken(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        status = RunStatus(RUNNING, iteration=2, pid=sleeper.pid)
        (out / STATUS_FILE).write_text(json.dumps(status.__dict__))
        for existing in ("refuse", "resume", "overwrite"):
            with pytest.raises(InputError, match=f"pid {sleeper.pid}"):
                _claim(out, existing)
    finally:
        sleeper.kill()
        sleeper.wait()
    # its writer is gone: the folder is an unfinished run, resumable
    folder = _claim(out, "resume")
    assert folder.resumes_from == 0 and folder.previous is not None
    assert folder.previous.status == RUNNING


def test_resume_removes_the_result_of_a_finished_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "checkpoint").mkdir(parents=True)
    (out / "checkpoint" / "rayrec_trial.json").write_text("{}")
    status = RunStatus(FINISHED, iteration=3, checkpoint={"iteration": 3, "env_steps": 768})
    (out / STATUS_FILE).write_text(json.dumps(status.__dict__))
    (out / "result.json").write_text("{}")
    folder = _claim(out, "resume")
    assert folder.resumes_from == 3
    assert not (out / "result.json").exists()
    assert read_status(out) == folder.status and folder.status.status == RUNNING


def test_a_malformed_status_names_the_file(tmp_path: Path) -> None:
    (tmp_path / STATUS_FILE).write_text("{not json")
    with pytest.raises(InputError, match=STATUS_FILE):
        read_status(tmp_path)
    (tmp_path / STATUS_FILE).write_text(json.dumps({"status": "sleeping"}))
    with pytest.raises(InputError, match="status: expected one of running"):
        read_status(tmp_path)


# ---------------------------------------------------------------- progress
def test_progress_is_appended_with_one_header_and_fixed_columns(tmp_path: Path) -> None:
    path = tmp_path / "progress.csv"
    log = ProgressLog(path, leading=("iteration", "env_steps"))
    log.append({"iteration": 1, "env_steps": 256, "return": 1.5})
    log.append({"iteration": 2, "env_steps": 512, "return": 1.7})
    # the losses appear once learning starts: the header widens, columns sorted
    log.append({"iteration": 3, "env_steps": 768, "return": 1.8, "L_TD": 0.1, "L_BCE": 0.7})
    log.append({"iteration": 4, "env_steps": 1024, "return": 1.9, "L_BCE": 0.6, "L_TD": 0.2})
    raw = path.read_bytes()
    assert b"\r" not in raw
    lines = raw.decode().splitlines()
    assert lines[0] == "iteration,env_steps,L_BCE,L_TD,return"
    assert lines[1:] == [
        "1,256,,,1.5",
        "2,512,,,1.7",
        "3,768,0.7,0.1,1.8",
        "4,1024,0.6,0.2,1.9",
    ]
    # a resumed run continues the file after the checkpoint's iteration
    again = ProgressLog(path, leading=("iteration", "env_steps"))
    assert again.keep_through(2) == {
        "iteration": "2",
        "env_steps": "512",
        "L_BCE": "",
        "L_TD": "",
        "return": "1.7",
    }
    again.append({"iteration": 3, "env_steps": 770, "return": 2.0, "L_TD": 0.3, "L_BCE": 0.5})
    assert [r["iteration"] for r in again.rows()] == ["1", "2", "3"]
    assert path.read_text().count("iteration") == 1
    assert again.keep_through(0) is None and not path.exists()


# ---------------------------------------------------------------- signals
def test_a_first_signal_asks_to_stop_a_second_abandons() -> None:
    seen: list[int] = []
    before = signal.getsignal(signal.SIGTERM)
    with Interrupts(notify=seen.append) as interrupts:
        assert not interrupts.requested
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)
        assert interrupts.requested and interrupts.signum == signal.SIGTERM
        assert seen == [signal.SIGTERM]
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
    assert signal.getsignal(signal.SIGTERM) is before


# ------------------------------------------- the command line, before Ray starts
@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Ray must not start: ``ray.init`` fails the test."""
    import ray

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("Ray was started")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", refuse)
    yield


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["--stop-iters", "0"], "--stop-iters"),
        (["--stop-iters", "-3"], "--stop-iters"),
        (["--num-envs", "0"], "--num-envs"),
        (["--num-env-runners", "-1"], "--num-env-runners"),
        (["--stop-timesteps", "0"], "--stop-timesteps"),
        (["--eval-users", "0"], "--eval-users"),
        (["--checkpoint-every", "0"], "--checkpoint-every"),
        (["--seed", "-1"], "--seed"),
        (["--gpus", "-1"], "--gpus"),
    ],
)
def test_out_of_range_options_exit_2_before_ray_and_write_nothing(
    argv: list[str],
    option: str,
    no_ray: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["train", "hac", "--env", SYNTHETIC, *argv]) == 2
    err = capsys.readouterr().err
    assert f"{option}: expected" in err, err
    assert list(tmp_path.iterdir()) == [], "nothing may be written"


def test_gpus_without_a_gpu_exit_2_before_ray(
    no_ray: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "hac", "--env", SYNTHETIC, "--gpus", "1"]) == 2
    err = capsys.readouterr().err
    assert "--gpus: 1 GPU(s)" in err and "no CUDA GPU" in err
    assert list(tmp_path.iterdir()) == []


def test_a_second_run_into_one_out_is_refused_before_ray(
    no_ray: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    _claim(out).finished()
    before = (out / STATUS_FILE).read_text()
    assert main(["train", "hac", "--env", SYNTHETIC, "--seed", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "--resume" in err and "--overwrite" in err
    assert (out / STATUS_FILE).read_text() == before


def test_a_run_that_fails_says_so_and_writes_no_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import ray

    def no_cluster(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("no cluster at this address")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", no_cluster)
    out = tmp_path / "run"
    assert main(["train", "hac", "--env", SYNTHETIC, "--out", str(out)]) == 1
    assert "no cluster at this address" in capsys.readouterr().err
    status = read_status(out)
    assert status is not None and status.status == "failed"
    assert status.error == "RuntimeError: no cluster at this address"
    assert status.ended is not None and status.resume == f"rayrec train --resume {out}"
    assert not (out / "result.json").exists()


def _finished_run(out: Path, **options: Any) -> None:
    opts = {"algo": "hac", "env": SYNTHETIC, "seed": 0, "stop_iters": 3, **options}
    (out / "checkpoint").mkdir(parents=True)
    (out / "checkpoint" / "rayrec_trial.json").write_text("{}")
    status = RunStatus(
        FINISHED, iteration=3, checkpoint={"iteration": 3, "env_steps": 768}, options=opts
    )
    (out / STATUS_FILE).write_text(json.dumps(status.__dict__))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seed", "1"], "--seed 1: the run in {out} was started with --seed 0"),
        (["--config", "actor_lr=0.1"], "--config/--preset: the run in {out} was started with"),
        # the run trains hac, which has no 'personalise' preset
        (["--preset", "personalise"], "--preset personalise: hac has paper"),
        (["td3"], "train td3: the run in {out} trains hac"),
        ([], "has reached its stop criteria (--stop-iters 3)"),
        (["--stop-iters", "2"], "has reached its stop criteria (--stop-iters 2)"),
    ],
)
def test_resume_refuses_conflicting_options_and_a_run_with_nothing_left(
    argv: list[str],
    message: str,
    no_ray: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    _finished_run(out)
    before = (out / STATUS_FILE).read_text()
    assert main(["train", *argv, "--resume", str(out)]) == 2
    assert message.format(out=out) in capsys.readouterr().err
    assert (out / STATUS_FILE).read_text() == before


def test_resume_needs_a_run_folder(
    no_ray: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "no run to resume" in capsys.readouterr().err
    assert main(["train", "hac", "--overwrite"]) == 2
    assert "--overwrite: expected --out DIR" in capsys.readouterr().err


# -------------------------------------------------------------- tables
def test_a_table_never_takes_an_unfinished_run_for_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rayrec.tables import run_table
    from rayrec.tables import runner as table_runner
    from rayrec.tables.hac import HAC_TABLE

    plan = HAC_TABLE.plan(env=SYNTHETIC, algos=("hac",), seeds=(0, 1), eval_users=5)
    done = {
        "algorithm": "hac",
        "budget_steps": plan.budget_steps,
        "eval_users": plan.eval_users,
        "train_seconds": 1.0,
        "evaluation": {"hac": {"total_reward": 1.0, "depth": 2.0, "coverage": 0.5}},
    }
    for seed, state in ((0, FINISHED), (1, INTERRUPTED)):
        folder = table_runner.run_dir(tmp_path, "hac", seed)
        folder.mkdir(parents=True)
        (folder / "result.json").write_text(json.dumps({**done, "seed": seed}))
        status = RunStatus(state, iteration=2)
        (folder / STATUS_FILE).write_text(json.dumps(status.__dict__))
    calls: list[tuple[int, str]] = []

    def fake_training(opts: Any, *args: Any, existing: str = "refuse", **kw: Any) -> Any:
        calls.append((opts.seed, existing))
        return {**done, "seed": opts.seed}

    monkeypatch.setattr("rayrec.train.run_training", fake_training)
    said: list[str] = []
    run_table(HAC_TABLE, plan, tmp_path, say=said.append)
    assert calls == [(1, "overwrite")]
    assert said[0].startswith("reusing hac seed 0")
    assert said[1].endswith("(restarting: it held an interrupted run (iteration 2, no checkpoint))")


# ----------------------------------------------------- interrupt, then resume
def _rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        return [r for r in csv.DictReader(fh) if r.get("iteration")]


def _ray_processes_of(tmp: str) -> list[int]:
    """Processes whose command line names ``tmp`` (a Ray session's temp folder)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if tmp.encode() in cmdline:
            pids.append(int(entry.name))
    return pids


@pytest.mark.ray
@pytest.mark.slow
def test_sigint_mid_run_then_resume_trains_every_iteration_once(
    ray_session: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    iters = 5
    budget = [
        "--env",
        SYNTHETIC,
        "--eval-users",
        "20",
        "--config",
        "num_steps_sampled_before_learning_starts=64",
        "--config",
        "training_intensity=0.25",
    ]
    ray_tmp = tempfile.mkdtemp(prefix="rr", dir="/tmp")
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_TMPDIR": ray_tmp}
    command = [sys.executable, "-m", "rayrec.cli", "train", "hac", *budget]
    child = subprocess.Popen(
        [*command, "--stop-iters", str(iters), "--out", str(out)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while len(_rows(out / "progress.csv")) < 2:
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "no second iteration in 240 s"
            time.sleep(0.2)
        child.send_signal(signal.SIGINT)
        stdout, stderr = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130, (stdout, stderr)
    status = read_status(out)
    assert status is not None and status.status == INTERRUPTED
    stopped = status.iteration
    assert 2 <= stopped < iters
    assert status.checkpoint_iteration == stopped
    assert json.loads((out / "checkpoint" / "rayrec_trial.json").read_text())["iteration"] == (
        stopped
    )
    assert [int(r["iteration"]) for r in _rows(out / "progress.csv")] == list(range(1, stopped + 1))
    assert not (out / "result.json").exists()
    assert f"interrupted (SIGINT) after iteration {stopped}" in stderr
    assert f"resume with: rayrec train --resume {out}" in stderr
    deadline = time.monotonic() + 30
    while _ray_processes_of(ray_tmp) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _ray_processes_of(ray_tmp) == [], "orphan Ray processes"

    assert main(["train", "--resume", str(out), "--json"]) == 0
    printed = capsys.readouterr().out
    assert f"training on from iteration {stopped + 1}" in printed
    assert [int(r["iteration"]) for r in _rows(out / "progress.csv")] == list(range(1, iters + 1))
    status = read_status(out)
    assert status is not None and status.status == FINISHED and status.iteration == iters
    result = json.loads((out / "result.json").read_text())
    assert result["iterations"] == iters and result["seed"] == 0


def test_pin_torch_threads_follows_the_cpus_reserved_for_the_main_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The local learner's process gets as many torch threads as the config reserves
    for it (Ray's rule for its workers); OMP_NUM_THREADS, when set, wins."""
    import torch

    from rayrec.algorithms.registry import make_config
    from rayrec.train import pin_torch_threads

    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        config = make_config("hac").resources(num_cpus_for_main_process=2)
        assert pin_torch_threads(config) == 2
        assert torch.get_num_threads() == 2
        assert pin_torch_threads(make_config("hac")) == 1
        assert torch.get_num_threads() == 1
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        assert pin_torch_threads(config) is None
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
