"""``rayrec reproduce TABLE --config KEY=VALUE``: overrides of every row, checked before
anything trains, recorded in each run, named in the caption, part of a run's reuse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rayrec.cli import main
from rayrec.tables import TablePlan, summarize
from rayrec.tables.hac import HAC_TABLE
from rayrec.tables.runner import finished_run, safe_name, train_options

REPO = Path(__file__).resolve().parents[2]
SYNTHETIC = str(REPO / "envs" / "synthetic.yaml")


def _never_trains(*args: Any, **kwargs: Any) -> dict[str, Any]:
    raise AssertionError("nothing may train or start Ray on bad input")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (["nope=1"], "--config nope: not a field of the hac config"),
        # valid for hac, not for a2c: checked for every algorithm of the plan
        (["hyper_actor_coef=0.5"], "--config hyper_actor_coef: not a field of the a2c config"),
        (["bce_coef=abc"], "--config bce_coef"),
        (["model.nonsense=1"], "--config model.nonsense: not a model field of hac"),
        (["no_equals_sign"], "--config 'no_equals_sign': expected KEY=VALUE"),
    ],
)
def test_a_bad_override_fails_before_training_naming_the_key(
    config: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import ray

    monkeypatch.setattr("rayrec.train.run_training", _never_trains)
    monkeypatch.setattr(ray, "init", _never_trains)
    out = tmp_path / "never"
    argv = ["reproduce", "hac-table", "--env", SYNTHETIC, "--algos", "hac", "a2c"]
    assert main([*argv, "--config", *config, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert not out.exists()


def test_a_value_out_of_range_fails_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "never"
    argv = ["reproduce", "hac-table", "--env", SYNTHETIC, "--algos", "hac"]
    assert main([*argv, "--config", "hyper_actor_coef=-1", "--out", str(out)]) == 2
    assert "hyper_actor_coef" in capsys.readouterr().err
    assert not out.exists()


def _capture_run(monkeypatch: pytest.MonkeyPatch, name: str) -> dict[str, Any]:
    """Replace the runner ``name`` of :mod:`rayrec.tables`; what it was given is kept."""
    seen: dict[str, Any] = {}

    def fake(target: Any, plan: Any, out: Path, say: Any) -> dict[str, Any]:
        seen.update(target=target, plan=plan, out=out)
        return {"markdown": ""}

    monkeypatch.setattr(f"rayrec.tables.{name}", fake)
    return seen


def test_overrides_apply_to_every_row_and_name_the_default_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    seen = _capture_run(monkeypatch, "run_table")
    argv = ["reproduce", "hac-table", "--env", SYNTHETIC, "--algos", "ddpg", "hac", "--config"]
    assert main([*argv, "model.exploration_noise=1", "actor_lr=1e-3"]) == 0
    plan = seen["plan"]
    assert plan.overrides == {
        algo: {"model.exploration_noise": 1, "actor_lr": 0.001} for algo in ("ddpg", "hac")
    }
    assert seen["out"] == Path(
        "runs/reproduce/hac-table-synthetic-model.exploration_noise=1,actor_lr=0.001"
    )
    # --config may also be given once per override, as `rayrec train` takes it
    assert main([*argv[:-1], "--config", "actor_lr=1e-3", "--config", "twin_q=true"]) == 0
    assert seen["plan"].overrides["hac"] == {"actor_lr": 0.001, "twin_q": True}
    assert seen["out"] == Path("runs/reproduce/hac-table-synthetic-actor_lr=0.001,twin_q=true")
    # without overrides the folder is the table's and the env's, as before
    assert main(argv[:-1]) == 0
    assert seen["out"] == Path("runs/reproduce/hac-table-synthetic")
    assert seen["plan"].overrides == {}


def test_safe_name_keeps_a_readable_name_and_drops_path_characters() -> None:
    assert safe_name("model.exploration_noise=1.0") == "model.exploration_noise=1.0"
    assert safe_name("a=[1, 2]/x y") == "a=_1,_2__x_y"


def test_a_runs_overrides_reach_its_training_options() -> None:
    plan = HAC_TABLE.plan(env=SYNTHETIC, overrides={"hac": {"bce_coef": 0.5}})
    assert train_options(HAC_TABLE, plan, "hac", 0, Path("unused")).overrides == {"bce_coef": 0.5}


def _finished(folder: Path, overrides: dict[str, Any] | None, plan: TablePlan) -> Path:
    """A finished run's folder as an older rayrec left it (``result.json`` alone)."""
    folder.mkdir(parents=True)
    result = {
        "algorithm": "hac",
        "seed": 0,
        "budget_steps": plan.budget_steps,
        "eval_users": plan.eval_users,
    }
    if overrides is not None:
        result["overrides"] = overrides
    (folder / "result.json").write_text(json.dumps(result))
    return folder


@pytest.mark.parametrize(
    ("recorded", "planned", "reused"),
    [
        ({"bce_coef": 0.5}, {"bce_coef": 0.5}, True),
        ({"bce_coef": 0.5}, {"bce_coef": 1.0}, False),
        ({"bce_coef": 0.5}, {}, False),
        ({}, {"bce_coef": 0.5}, False),
        ({}, {}, True),
        (None, {}, True),  # a run without the record was made without overrides
        (None, {"bce_coef": 0.5}, False),
        # as JSON reads a tuple back
        ({"model.actor_hidden": [64]}, {"model.actor_hidden": (64,)}, True),
        # an override that sets a field to its default is the default run
        ({"hyper_actor_coef": 0.1}, {}, True),
        ({}, {"model.exploration_noise": 0.1}, True),
        ({"bce_coef": 0.5, "hyper_actor_coef": 0.1}, {"bce_coef": 0.5}, True),
        ({"hyper_actor_coef": 0.1}, {"hyper_actor_coef": 1.0}, False),
    ],
)
def test_a_run_is_reused_only_with_the_plans_overrides(
    recorded: dict[str, Any] | None, planned: dict[str, Any], reused: bool, tmp_path: Path
) -> None:
    plan = HAC_TABLE.plan(seeds=(0,), overrides={"hac": planned} if planned else {})
    folder = _finished(tmp_path / "hac" / "s0", recorded, plan)
    assert (finished_run(folder, plan, "hac", 0) is not None) is reused


def test_the_caption_and_summary_name_the_overrides() -> None:
    results = {
        algo: [
            {
                "algorithm": algo,
                "seed": 0,
                "train_seconds": 1.0,
                "evaluation": {algo: {"total_reward": 1.0, "depth": 2.0, "coverage": 0.5}},
            }
        ]
        for algo in ("ddpg", "hac")
    }
    refs = {"oracle": {"total_reward": 4.0, "depth": 5.0, "coverage": 0.1}}
    same = {"model.exploration_noise": 1.0, "twin_q": True}
    plan = HAC_TABLE.plan(seeds=(0,), algos=("ddpg", "hac"), overrides={"ddpg": same, "hac": same})
    summary = summarize(HAC_TABLE, plan, results, refs)
    assert (
        "Config overrides: model.exploration_noise=1.0, twin_q=true. Code:" in (summary["markdown"])
    )
    assert summary["plan"]["overrides"]["hac"] == same
    plan.overrides = {"hac": {"bce_coef": 0.5}}
    md = summarize(HAC_TABLE, plan, results, refs)["markdown"]
    assert "Config overrides: ddpg: none; hac: bce_coef=0.5." in md
