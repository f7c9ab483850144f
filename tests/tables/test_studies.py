"""``rayrec reproduce hac-lambda / hac-noise``: the study registry, its plans, its table,
its plot, and one tiny study trained end to end."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from rayrec.cli import main
from rayrec.errors import InputError
from rayrec.models.variants import VARIANTS
from rayrec.tables import STUDIES, get_reproduction, summarize
from rayrec.tables.runner import runs_csv
from rayrec.tables.studies import (
    HAC_LAMBDA,
    HAC_NOISE,
    Study,
    StudyPoint,
    study_figure,
    write_figure,
)

REPO = Path(__file__).resolve().parents[2]
SYNTHETIC = str(REPO / "envs" / "synthetic.yaml")
PNG = b"\x89PNG\r\n\x1a\n"
REFS = {
    "random": {"total_reward": 1.0},
    "popular": {"total_reward": 5.0},
    "personalised": {"total_reward": 7.0},
    "oracle": {"total_reward": 10.0},
}


def test_the_registered_studies_are_the_papers() -> None:
    assert set(STUDIES) == {"hac-lambda", "hac-noise", "ddpg-la-table"}
    assert (HAC_LAMBDA.algo, HAC_LAMBDA.key, HAC_LAMBDA.symbol) == (
        "hac",
        "hyper_actor_coef",
        "λ_h",
    )
    assert HAC_LAMBDA.values == (0.0, 0.1, 1.0)
    assert (HAC_NOISE.key, HAC_NOISE.symbol) == ("model.exploration_noise", "σ")
    assert HAC_NOISE.values == (0.01, 0.1, 0.3, 1.0)
    table = STUDIES["ddpg-la-table"]
    assert (table.algo, table.key) == ("ddpg-la", "model.variant")
    assert table.env == "envs/ml1m_rating.yaml"
    assert table.values == VARIANTS and table.label("rlstm+t_attention") == "DDPG-LA"
    for study in (HAC_LAMBDA, HAC_NOISE):
        assert study.env == "envs/ml1m.yaml"
        assert (study.table.seeds, study.table.budget_steps) == ((0, 1), 163_840)
        assert get_reproduction(study.name) is study
        plan = study.plan()
        plan.validate()  # the registered grid is typed like the key already
        assert plan.values == study.values


def test_list_names_the_studies_too(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(s.name in out and s.reproduces in out for s in STUDIES.values())


def test_values_are_typed_like_the_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def fake(study: Any, plan: Any, out: Path, say: Any) -> dict[str, Any]:
        seen.update(plan=plan, out=out)
        return {"markdown": ""}

    monkeypatch.setattr("rayrec.tables.run_study", fake)
    monkeypatch.chdir(tmp_path)
    argv = ["reproduce", "hac-lambda", "--env", SYNTHETIC, "--values", "0", "1e-1", "1"]
    assert main([*argv, "--seeds", "3"]) == 0
    plan = seen["plan"]
    assert plan.values == (0.0, 0.1, 1.0)
    assert all(type(v) is float for v in plan.values)
    assert plan.runs.seeds == (3,) and plan.runs.algos == ("hac",)
    assert seen["out"] == Path("runs/reproduce/hac-lambda-synthetic")
    assert plan.folder(Path("o"), plan.values[2], 3) == Path("o/hac/hyper_actor_coef=1.0/s3")
    # --config with a study: every run gets it beside the study's key
    assert main(["reproduce", "hac-noise", "--env", SYNTHETIC, "--config", "bce_coef=0.5"]) == 0
    plan = seen["plan"]
    assert plan.runs.overrides == {"hac": {"bce_coef": 0.5}}
    assert plan.value_plan(0.3).overrides == {
        "hac": {"bce_coef": 0.5, "model.exploration_noise": 0.3}
    }
    assert seen["out"] == Path("runs/reproduce/hac-noise-synthetic-bce_coef=0.5")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["hac-lambda", "--config", "hyper_actor_coef=0.5"],
            "--config hyper_actor_coef: hac-lambda",
        ),
        (
            ["hac-noise", "--config", "model.exploration_noise=1"],
            "--config model.exploration_noise",
        ),
        (["hac-lambda", "--values", "abc"], "--values hyper_actor_coef"),
        (["hac-lambda", "--values", "-1"], "hyper_actor_coef"),
        (["hac-lambda", "--values", "1", "1.0"], "--values: each value once; 1.0 given twice"),
        (["hac-lambda", "--algos", "ddpg"], "--algos: hac-lambda is a study of hac alone"),
        (["hac-table", "--values", "1"], "--values: only a study has values"),
        (["hac-lambda", "--config", "nope=1"], "--config nope: not a field of the hac config"),
    ],
)
def test_bad_study_input_fails_before_training(
    argv: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def never(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise AssertionError("nothing may train on bad input")

    monkeypatch.setattr("rayrec.train.run_training", never)
    out = tmp_path / "never"
    assert main(["reproduce", *argv, "--env", SYNTHETIC, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert not out.exists()


def test_a_plan_without_values_is_refused() -> None:
    with pytest.raises(InputError, match="--values: at least one value"):
        HAC_LAMBDA.plan(values=(), env=SYNTHETIC).validate()


def _run(value: float, seed: int, total: float) -> dict[str, Any]:
    metrics = {"total_reward": total, "depth": total + 1, "coverage": 0.5, "overlap": 0.25}
    return {
        "algorithm": "hac",
        "seed": seed,
        "train_seconds": 4.0,
        "overrides": {"hyper_actor_coef": value},
        "evaluation": {"hac": metrics},
    }


def test_a_study_table_has_a_row_per_value_under_the_parameters_name() -> None:
    plan = HAC_LAMBDA.plan(values=(0.0, 1.0), seeds=(0, 1), overrides={"bce_coef": 0.5})
    results = {"0.0": [_run(0.0, 0, 2.0), _run(0.0, 1, 4.0)], "1.0": [_run(1.0, 0, 5.0)] * 2}
    md = summarize(HAC_LAMBDA.table, plan.runs, results, REFS)["markdown"]
    lines = md.splitlines()
    assert lines[0].startswith("hac with λ_h (hyper_actor_coef) at each value on envs/ml1m.yaml")
    assert "163,840 env (user-)steps" in lines[0]
    assert "Config overrides: bce_coef=0.5." in lines[0]
    assert lines[2].startswith("| λ_h (hyper_actor_coef) | total reward | depth |")
    assert "| 0.0 | 3.00 ± 1.41 | 4.00 ± 1.41 | 0.500 | 0.250 | 30% | 4 |" in lines
    assert "| 1.0 | 5.00 ± 0.00 |" in md and "| *oracle* (reference) | 10.00 |" in md
    rows = list(csv.reader(runs_csv(HAC_LAMBDA.table, results, key="hyper_actor_coef").split()))
    assert rows[0][:3] == ["algorithm", "hyper_actor_coef", "seed"]
    assert [r[:3] for r in rows[1:3]] == [["hac", "0.0", "0"], ["hac", "0.0", "1"]]


def _reference_lines(ax: Any) -> dict[str, float]:
    """The dashed horizontal lines: label -> level."""
    return {
        str(line.get_label()): float(line.get_ydata()[0])
        for line in ax.get_lines()
        if line.get_linestyle() == "--"
    }


def test_the_plot_names_the_parameter_and_draws_the_references() -> None:
    plan = HAC_LAMBDA.plan(seeds=(0, 1))
    points = [
        StudyPoint(0.0, (0, 1), (2.0, 4.0)),
        StudyPoint(0.1, (0, 1), (6.0, 6.5)),
        StudyPoint(1.0, (0, 1), (5.0, 3.0)),
    ]
    fig = study_figure(HAC_LAMBDA, plan, points, REFS)
    (ax,) = fig.axes
    assert ax.get_xlabel() == "λ_h (hyper_actor_coef)"
    assert ax.get_ylabel() == "total reward"
    assert ax.get_xscale() == "symlog"  # 0 is on the axis
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.0", "0.1", "1.0"]
    assert _reference_lines(ax) == {
        "random (1.00)": 1.0,
        "popular (5.00)": 5.0,
        "personalised (7.00)": 7.0,
        "oracle (10.00)": 10.0,
    }
    legend = {t.get_text() for t in ax.get_legend().get_texts()}
    assert {"hac (mean ± sample std)", "random (1.00)", "oracle (10.00)"} <= legend
    title = ax.get_title()
    assert "envs/ml1m.yaml" in title and "163,840 env steps" in title and "seeds 0, 1" in title
    # the mean ± sample std of each value, and each seed as a faint dot
    (bars,) = ax.containers
    assert list(bars.lines[0].get_ydata()) == pytest.approx([3.0, 6.25, 4.0])
    dots = [line for line in ax.get_lines() if line.get_alpha() == 0.3]
    assert sorted(y for line in dots for y in line.get_ydata()) == [2.0, 3.0, 4.0, 5.0, 6.0, 6.5]


def test_the_noise_plot_is_logarithmic_and_skips_missing_references() -> None:
    plan = HAC_NOISE.plan(values=(0.01, 1.0), seeds=(0,))
    points = [StudyPoint(0.01, (0,), (2.0,)), StudyPoint(1.0, (0,), (3.0,))]
    refs = {"random": {"total_reward": 1.0}, "oracle": {"total_reward": math.nan}}
    (ax,) = study_figure(HAC_NOISE, plan, points, refs).axes
    assert ax.get_xlabel() == "σ (model.exploration_noise)"
    assert ax.get_xscale() == "log"
    assert _reference_lines(ax) == {"random (1.00)": 1.0}


def test_values_that_are_not_numbers_sit_on_a_categorical_axis() -> None:
    study = Study(table=replace(HAC_LAMBDA.table, name="t"), key="twin_q", symbol="Q₂", values=())
    plan = study.plan(values=(False, True), seeds=(0,))
    points = [StudyPoint(False, (0,), (2.0,)), StudyPoint(True, (0,), (3.0,))]
    (ax,) = study_figure(study, plan, points, REFS).axes
    assert ax.get_xscale() == "linear"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["false", "true"]
    assert ax.get_xlabel() == "Q₂ (twin_q)"


def test_the_plot_is_written_as_a_png_in_one_step(tmp_path: Path) -> None:
    plan = HAC_LAMBDA.plan(seeds=(0,))
    points = [StudyPoint(v, (0,), (float(i),)) for i, v in enumerate((0.0, 0.1, 1.0))]
    write_figure(study_figure(HAC_LAMBDA, plan, points, REFS), tmp_path / "study.png")
    assert (tmp_path / "study.png").read_bytes()[:8] == PNG
    assert [p.name for p in tmp_path.iterdir()] == ["study.png"]  # no temporary file left


@pytest.mark.ray
@pytest.mark.slow
def test_a_study_trains_each_value_and_seed_once_and_reuses_them(
    ray_session: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["reproduce", "hac-lambda", "--env", SYNTHETIC, "--seeds", "0"]
    argv += ["--budget-steps", "256", "--eval-users", "10", "--out", str(tmp_path), "--json"]
    assert main([*argv, "--values", "0", "1", "--config", "bce_coef=0.5"]) == 0
    out = capsys.readouterr().out
    assert out.count("training hac hyper_actor_coef=") == 2
    summary = json.loads(out.strip().splitlines()[-1])
    assert list(summary["rows"]) == ["0.0", "1.0"]
    assert summary["plan"]["runs"]["overrides"] == {"hac": {"bce_coef": 0.5}}
    assert [p["label"] for p in summary["points"]] == ["0.0", "1.0"]
    for value in ("0.0", "1.0"):
        result = json.loads((tmp_path / f"hac/hyper_actor_coef={value}/s0/result.json").read_text())
        assert result["overrides"] == {"bce_coef": 0.5, "hyper_actor_coef": float(value)}
    table = (tmp_path / "table.md").read_text()
    assert "| λ_h (hyper_actor_coef) |" in table and "| 1.0 |" in table
    assert "*oracle* (reference)" in table and "Config overrides: bce_coef=0.5." in table
    with (tmp_path / "runs.csv").open(newline="") as fh:
        runs = list(csv.DictReader(fh))
    assert [r["hyper_actor_coef"] for r in runs] == ["0.0", "1.0"]
    assert (tmp_path / "study.png").read_bytes()[:8] == PNG
    # the same study again trains nothing
    assert main([*argv, "--values", "0", "1", "--config", "bce_coef=0.5"]) == 0
    again = capsys.readouterr().out
    assert "training hac" not in again and again.count("reusing hac hyper_actor_coef=") == 2
    # other overrides are another experiment: the run is trained again
    assert main([*argv, "--values", "1", "--config", "bce_coef=0.25"]) == 0
    again = capsys.readouterr().out
    assert again.count("training hac hyper_actor_coef=1.0 seed 0") == 1
    result = json.loads((tmp_path / "hac/hyper_actor_coef=1.0/s0/result.json").read_text())
    assert result["overrides"] == {"bce_coef": 0.25, "hyper_actor_coef": 1.0}
