"""Checkpoints: atomic saves, the manifest, verification on every load, proportionate size.

The folder errors need no Ray; the rest share one HAC run on the synthetic env (two
iterations, learning from the first), trained once per module (marked ``ray`` +
``slow``). Each test damages its own copy of the checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rayrec.checkpoints import (
    MANIFEST,
    find_checkpoint,
    read_manifest,
    sha256_of,
    verify_checkpoint,
    write_checkpoint,
)
from rayrec.cli import main
from rayrec.errors import InputError
from rayrec.train import ALGO_DIR, RL_MODULE_PATH, TRIAL_STATE, TrainingRun, TrainOptions

REPO = Path(__file__).resolve().parents[1]
SYNTHETIC = REPO / "envs" / "synthetic.yaml"
WEIGHTS = Path(ALGO_DIR) / RL_MODULE_PATH / "module_state.pkl"
ALGO_STATE = Path(ALGO_DIR) / "algorithm_state.pkl"


def evaluate(path: Path, env: Path, *extra: str) -> list[str]:
    return ["evaluate", str(path), "--env", str(env), "--episodes", "5", *extra]


# ------------------------------------------------------------- without Ray
def test_a_missing_path_and_an_empty_folder_say_different_things(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere"
    assert main(evaluate(missing, SYNTHETIC)) == 2
    err = capsys.readouterr().err
    assert f"{missing}: no such folder" in err and "internal error" not in err

    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(evaluate(empty, SYNTHETIC)) == 2
    err = capsys.readouterr().err
    assert f"{empty}: empty folder" in err and MANIFEST in err

    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("not a checkpoint")
    assert main(evaluate(other, SYNTHETIC)) == 2
    assert f"{other}: not a rayrec checkpoint" in capsys.readouterr().err


def _write_counters(state: dict[str, Any]) -> Any:
    return lambda tmp: (tmp / TRIAL_STATE).write_text(json.dumps(state))


def test_a_save_interrupted_between_its_renames_is_recovered(tmp_path: Path) -> None:
    """``write_checkpoint`` renames the old folder aside before renaming the new one in:
    killed between the two, the reader is told where the old one is, and the next save
    puts it back before replacing it."""
    target = tmp_path / "checkpoint"
    write_checkpoint(target, _write_counters({"iteration": 1}), {"state": {"iteration": 1}})
    os.replace(target, tmp_path / ".checkpoint.old-12345")  # the crash
    with pytest.raises(InputError, match=r"no such folder \(a save was interrupted"):
        find_checkpoint(target)
    (tmp_path / ".checkpoint.tmp-stale").mkdir()  # a temporary folder the crash left

    write_checkpoint(target, _write_counters({"iteration": 2}), {"state": {"iteration": 2}})
    assert verify_checkpoint(target).state == {"iteration": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


def test_a_failing_writer_leaves_the_previous_checkpoint(tmp_path: Path) -> None:
    target = tmp_path / "checkpoint"
    write_checkpoint(target, _write_counters({"iteration": 1}), {"state": {"iteration": 1}})

    def crash(tmp: Path) -> None:
        (tmp / "half.bin").write_bytes(b"\0" * 10)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_checkpoint(target, crash, {"state": {"iteration": 2}})
    assert verify_checkpoint(target).state == {"iteration": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]
    assert sorted(p.name for p in target.iterdir()) == [MANIFEST, TRIAL_STATE]


def test_the_manifest_records_each_file_and_is_checked(tmp_path: Path) -> None:
    target = write_checkpoint(
        tmp_path / "checkpoint", _write_counters({"iteration": 3}), {"state": {"iteration": 3}}
    )
    manifest = read_manifest(target)
    counters = target / TRIAL_STATE
    assert manifest.data["files"] == {
        TRIAL_STATE: {"size": counters.stat().st_size, "sha256": sha256_of(counters)}
    }
    assert manifest.data["code_version"].startswith("rayrec ")
    counters.write_text(counters.read_text().replace("3", "4"))  # same size, altered
    with pytest.raises(InputError, match=f"{counters}: sha256 .* recorded in {MANIFEST}"):
        verify_checkpoint(target)
    counters.unlink()
    with pytest.raises(InputError, match=f"{counters}: missing"):
        verify_checkpoint(target)


# -------------------------------------------------------------- a real run
@pytest.fixture(scope="module")
def small_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic env spec with 300 items instead of 400 (another item space)."""
    text = SYNTHETIC.read_text()
    assert "n_items: 400" in text
    path = tmp_path_factory.mktemp("envs") / "synthetic300.yaml"
    path.write_text(text.replace("n_items: 400", "n_items: 300"))
    return path


@pytest.fixture(scope="module")
def trained(
    ray_session: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TrainingRun, Path]]:
    """A HAC run after two iterations and its checkpoint (the run stays live)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    opts = TrainOptions(
        algo="hac",
        env=str(SYNTHETIC),
        num_envs_per_env_runner=8,
        stop_iters=10,
        overrides={"num_steps_sampled_before_learning_starts": 64},
    )
    folder = tmp_path_factory.mktemp("run") / "checkpoint"
    try:
        with TrainingRun.from_options(opts) as run:
            run.start()
            run.step()
            run.step()
            run.save(folder)
            yield run, folder
    finally:
        torch.set_num_threads(threads)


@pytest.fixture
def copy(trained: tuple[TrainingRun, Path], tmp_path: Path) -> Path:
    """This test's own copy of the checkpoint (an ``out`` folder holding it)."""
    out = tmp_path / "out"
    shutil.copytree(trained[1], out / "checkpoint")
    return out / "checkpoint"


@pytest.mark.ray
@pytest.mark.slow
def test_the_manifest_describes_the_run(trained: tuple[TrainingRun, Path]) -> None:
    run, folder = trained
    manifest = verify_checkpoint(folder, env_config=run.config.env_config, config=run.config)
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert sorted(manifest.data["files"]) == [f for f in files if f != MANIFEST]
    assert manifest.algorithm["name"] == "hac" and manifest.algorithm["protocol"] == "slate_rollout"
    assert manifest.state == {"iteration": 2, "seconds": run.state.seconds, "done": False}
    env = manifest.env
    assert env is not None and env["spec"] == str(SYNTHETIC) and env["kind"] == "slate"
    assert env["spaces"]["action"] == "MultiDiscrete 10 x 400 from 1"
    assert env["session"]["reward_weights"] == {"click": 1.0}


@pytest.mark.ray
@pytest.mark.slow
def test_a_truncated_weights_file_is_exit_2_naming_it(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = copy / WEIGHTS
    size = weights.stat().st_size
    weights.write_bytes(weights.read_bytes()[: size // 2])
    assert main(evaluate(copy.parent, SYNTHETIC)) == 2  # OUT finds OUT/checkpoint
    err = capsys.readouterr().err
    assert f"{weights}: size {size // 2} != {size} recorded" in err, err
    assert "internal error" not in err


@pytest.mark.ray
@pytest.mark.slow
def test_an_env_mismatched_checkpoint_is_exit_2_naming_both_specs(
    copy: Path, small_spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(evaluate(copy, small_spec)) == 2
    err = capsys.readouterr().err
    assert f"{copy}: checkpoint made for {SYNTHETIC} but {small_spec} differs" in err, err
    assert "action: MultiDiscrete 10 x 400 from 1 there, MultiDiscrete 10 x 300 from 1 here" in err
    assert "internal error" not in err


@pytest.mark.ray
@pytest.mark.slow
def test_a_checkpoint_without_manifest_needs_no_verify(
    copy: Path, small_spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (copy / MANIFEST).unlink()
    assert main(evaluate(copy, SYNTHETIC)) == 2
    err = capsys.readouterr().err
    assert f"{copy}: no {MANIFEST}" in err and "--no-verify" in err
    # unchecked, it loads; its policy's spaces are still compared with the env's
    assert main(evaluate(copy, SYNTHETIC, "--no-verify")) == 0, capsys.readouterr().err
    assert main(evaluate(copy, small_spec, "--no-verify")) == 2
    assert "policy made for another env" in capsys.readouterr().err


@pytest.mark.ray
@pytest.mark.slow
def test_resume_and_tune_restore_verify_before_building(
    copy: Path, small_spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ray import tune

    from rayrec.tune import runner

    def run_for(env: Path, **overrides: Any) -> TrainingRun:
        opts = TrainOptions(algo="hac", env=str(env), overrides=overrides)
        run = TrainingRun.from_options(opts)

        def no_build() -> Any:
            raise AssertionError("built before the checkpoint was verified")

        monkeypatch.setattr(run.config, "build_algo", no_build)
        return run

    with pytest.raises(InputError, match=f"made for {SYNTHETIC} but {small_spec} differs"):
        run_for(small_spec).start(copy)
    with pytest.raises(InputError, match=r"model config differs: model.state_dim: 32 there, 16"):
        run_for(SYNTHETIC, **{"model.state_dim": 16}).start(copy)
    manifest = (copy / MANIFEST).read_bytes()
    (copy / MANIFEST).unlink()
    with pytest.raises(InputError, match=f"{copy}: no {MANIFEST}"):
        run_for(SYNTHETIC).start(copy)
    with pytest.raises(AssertionError, match="built before"):  # unchecked: builds at once
        run_for(SYNTHETIC).start(copy, verify=False)
    (copy / MANIFEST).write_bytes(manifest)
    state = copy / ALGO_STATE
    state.write_bytes(state.read_bytes()[:100])
    with pytest.raises(InputError, match=f"{state}: size 100 != "):
        run_for(SYNTHETIC).start(copy)
    monkeypatch.setattr(tune, "get_checkpoint", lambda: tune.Checkpoint.from_directory(copy))
    with pytest.raises(InputError, match=f"{state}: size 100 != "):
        runner.rayrec_trial({})


@pytest.mark.ray
@pytest.mark.slow
def test_a_crash_inside_the_rllib_save_keeps_the_previous_checkpoint(
    trained: tuple[TrainingRun, Path], copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, _ = trained
    before = read_manifest(copy).data
    real_save = run.algo.save_to_path

    def crash(path: str, *args: Any, **kwargs: Any) -> Any:
        real_save(path, *args, **kwargs)
        (Path(path) / "algorithm_state.pkl").write_bytes(b"half")
        raise KeyboardInterrupt  # e.g. Ctrl-C mid-save

    monkeypatch.setattr(run.algo, "save_to_path", crash)
    with pytest.raises(KeyboardInterrupt):
        run.save(copy)
    assert sorted(p.name for p in copy.parent.iterdir()) == ["checkpoint"], "no half folder"
    assert verify_checkpoint(copy, env_config=run.config.env_config).data == before
    monkeypatch.undo()
    from rayrec.train import load_policy_module

    assert load_policy_module(copy, env_config=run.config.env_config) is not None

    run.save(copy)  # a good save replaces it, leaving nothing beside it
    assert sorted(p.name for p in copy.parent.iterdir()) == ["checkpoint"]
    verify_checkpoint(copy, env_config=run.config.env_config, config=run.config)


@pytest.mark.ray
@pytest.mark.slow
def test_the_checkpoint_is_proportionate_to_the_filled_replay(
    trained: tuple[TrainingRun, Path],
) -> None:
    """The replay buffer preallocates all ``capacity`` (100k) rows on its first add;
    a checkpoint holds only the filled rows, packed. After two iterations (~500 of
    100k rows, ~1 kB each) the algorithm state is far below the 103 MB that pickling
    the preallocated columns whole gave, and below the filled rows' raw size plus
    256 kB (RLlib's own algorithm state: counters and metrics)."""
    run, folder = trained
    buffer = run.algo.transition_buffer
    rows = len(buffer)
    assert 0 < rows < buffer.capacity
    row_bytes = sum(int(np.prod(c.shape[1:])) * c.itemsize for c in buffer.columns.values())
    size = (folder / ALGO_STATE).stat().st_size
    assert size < rows * row_bytes + 256 * 1024, (size, rows, row_bytes)
    assert size < buffer.capacity * row_bytes / 50


@pytest.mark.ray
@pytest.mark.slow
def test_evaluate_takes_a_folder_of_numbered_runs_by_its_latest(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``rayrec evaluate runs/train/hac-synthetic-s0`` evaluates the run ``latest`` names
    (``rayrec train``'s default layout), as ``--resume`` continues it."""
    root = copy.parent.parent / "hac-synthetic-s0"
    run = root / "001"
    run.mkdir(parents=True)
    shutil.move(str(copy), run / "checkpoint")
    (root / "latest").symlink_to("001")
    assert main([*evaluate(root, SYNTHETIC), "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out.strip().splitlines()[-1])["total_reward"] >= 0
