"""``rayrec report`` on hand-made experiment folders (no Tune run): the Markdown's
numbers are the seeds' mean ± std, and the PNGs are written, in the terms of the
sweep's evaluation protocol (a slate sweep: total reward, highest best, the random
policy; a rating_error sweep: RMSE, lowest best, the mean predictors)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

import rayrec.tune.report as report_module
from rayrec.algorithms.registry import ALGORITHMS, AlgorithmEntry
from rayrec.cli import main
from rayrec.errors import InputError
from rayrec.evaluation import PROTOCOLS, get_protocol
from rayrec.tune.report import sweep_protocol, write_report
from rayrec.tune.results import read_results, results_frame, trial_row, write_table
from rayrec.tune.runner import write_spec_record
from rayrec.tune.spec import Domain, Stop, TuneSpec, load_tune_spec
from tests.tune.conftest import tiny_spec, write_spec

pytest.importorskip("matplotlib")

PNG = b"\x89PNG\r\n\x1a\n"
LAMBDAS = [0.0, 0.1, 1.0]
#: eval_total_reward per (λ, seed): λ = 0.1 is best, 3.5 ± 0.707
REWARD = {(0.0, 0): 2.0, (0.0, 1): 2.5, (0.1, 0): 3.0, (0.1, 1): 4.0, (1.0, 0): 3.0, (1.0, 1): 3.0}


def make_experiment(tmp_path: Path) -> Path:
    raw = tiny_spec(
        search_space={
            "hyper_actor_coef": {"grid_search": LAMBDAS},
            "seed": {"grid_search": [0, 1]},
        }
    )
    spec = load_tune_spec(write_spec(tmp_path, raw))
    exp = tmp_path / "runs" / "tiny"
    exp.mkdir(parents=True)
    write_spec_record(spec, str(exp), source="spec.yaml", smoke=False)
    rows = []
    for i, ((lam, seed), reward) in enumerate(sorted(REWARD.items())):
        trial_dir = exp / f"trial_{i}"
        trial_dir.mkdir()
        lines = [
            {"training_iteration": it, "episode_return_mean": 1.0 + it * lam, "L_TD": 1.0 / it}
            for it in (1, 2, 3)
        ]
        (trial_dir / "result.json").write_text("".join(json.dumps(x) + "\n" for x in lines))
        rows.append(
            {
                "trial_id": f"x_{i:05d}",
                "trial_name": f"rayrec_trial_x_{i:05d}",
                "status": "TERMINATED",
                "error": "",
                "trial_dir": str(trial_dir),
                "algorithm": "hac",
                "seed": seed,
                "config/hyper_actor_coef": lam,
                "training_iteration": 3,
                "eval_total_reward": reward,
                "eval_depth": 5.0 + reward,
                "eval_coverage": 0.5,
                "eval_overlap": 0.2 + 0.1 * seed,
                "random_total_reward": 1.0,
            }
        )
    errored = dict(rows[0], trial_id="x_00099", status="ERROR", error="ValueError: boom")
    errored["eval_total_reward"] = float("nan")
    rows.append(errored)
    write_table(results_frame(rows), exp)
    return exp


def test_report_writes_markdown_and_plots(tmp_path: Path) -> None:
    exp = make_experiment(tmp_path)
    report = write_report(str(exp))
    assert report.out_dir == exp / "report"
    names = sorted(p.name for p in report.plots)
    assert names == [
        "eval_depth_vs_hyper_actor_coef.png",
        "eval_total_reward_vs_hyper_actor_coef.png",
        "learning_curves.png",
    ]
    for plot in report.plots:
        data = plot.read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000, plot
    md = report.markdown.read_text()
    assert "- trials: 7 (1 ERROR, 6 TERMINATED)" in md
    assert "- swept: `hyper_actor_coef` [0, 0.1, 1], `seed` [0, 1]" in md
    # mean ± sample std over the two seeds, per λ; the errored trial is left out
    assert "| hyper_actor_coef | seeds | total_reward | depth | coverage | overlap |" in md
    assert "| 0 | 2 | 2.250 ± 0.354 | 7.250 ± 0.354 | 0.500 ± 0.000 | 0.250 ± 0.071 |" in md
    assert "| 0.1 | 2 | 3.500 ± 0.707 |" in md
    assert "| 1 | 2 | 3.000 ± 0.000 |" in md
    assert "Best setting by mean eval_total_reward: **hyper_actor_coef = 0.1**" in md
    assert "| rayrec_trial_x_00000 | ERROR | ValueError: boom |" in md
    for name in names:
        assert f"]({name})" in md  # the plots are linked relative to the report


def test_report_cli_and_out_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exp = make_experiment(tmp_path)
    out = tmp_path / "elsewhere"
    assert main(["report", str(exp), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"report: {out / 'report.md'}" in printed
    assert (out / "learning_curves.png").is_file()


def test_report_without_results_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "no results.csv" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing")]) == 2


def test_results_table_round_trips_csv_and_parquet(tmp_path: Path) -> None:
    exp = make_experiment(tmp_path)
    from_parquet = read_results(exp)
    from_csv = pd.read_csv(exp / "results.csv")
    assert len(from_parquet) == len(from_csv) == 7
    assert list(from_parquet.columns) == list(from_csv.columns)
    assert list(from_parquet.columns[:5]) == [
        "trial_id",
        "trial_name",
        "status",
        "error",
        "trial_dir",
    ]
    pd.testing.assert_series_equal(
        from_parquet["eval_total_reward"], from_csv["eval_total_reward"], check_dtype=False
    )


def test_report_of_a_moved_experiment_still_finds_the_curves(tmp_path: Path) -> None:
    import shutil

    moved = tmp_path / "moved"
    shutil.move(make_experiment(tmp_path), moved)  # results.csv keeps the old trial_dirs
    report = write_report(str(moved))
    assert moved / "report" / "learning_curves.png" in report.plots


# ------------------------------------------------------------------ a rating_error sweep
GAMMAS = [0.1, 0.5, 0.99]
#: eval_rmse per (γ, seed): γ = 0.99 is the LOWEST (0.910 ± 0.014), γ = 0.1 the highest
RMSE = {(0.1, 0): 1.10, (0.1, 1): 1.20, (0.5, 0): 0.95, (0.5, 1): 1.05, (0.99, 0): 0.90}
RMSE[(0.99, 1)] = 0.92
EPISODE_LEN = 40.0
PROBE = "rating-probe"


def rating_return(gamma: float, it: int) -> float:
    """A trial's episode_return_mean at iteration ``it``: 40 steps of reward 0.5 + 0.1·it·γ."""
    return EPISODE_LEN * (0.5 + 0.1 * it * gamma)


@pytest.fixture
def rating_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    """A registered algorithm of the rating_error protocol (the test's own, so the test
    does not depend on ddpg-la's entry), and the protocol's mean-predictor references."""
    monkeypatch.setitem(
        ALGORITHMS,
        PROBE,
        AlgorithmEntry(
            name=PROBE,
            make_config=lambda: None,
            env_kinds=("rating_walk",),
            protocol="rating_error",
            summary="a rating_error algorithm for the report tests",
        ),
    )
    rating = PROTOCOLS["rating_error"]
    monkeypatch.setitem(
        PROTOCOLS,
        "rating_error",
        dataclasses.replace(rating, references=("global_mean", "user_mean")),
    )


def make_rating_experiment(tmp_path: Path, *, record: bool = True) -> Path:
    """A γ × seed sweep of a rating_error algorithm, as Tune would leave it."""
    exp = tmp_path / "runs" / "gamma_rating"
    exp.mkdir(parents=True)
    if record:
        spec = TuneSpec(
            name="gamma_rating",
            env="envs/ml1m_rating.yaml",
            algorithm=PROBE,
            search_space={
                "gamma": Domain(grid_search=GAMMAS),
                "seed": Domain(grid_search=[0, 1]),
            },
            stop=Stop(training_iteration=3, env_steps=100_000),
        )
        write_spec_record(spec, str(exp), source="ddpg_la_gamma.yaml", smoke=False)
    rows = []
    for i, ((gamma, seed), rmse) in enumerate(sorted(RMSE.items())):
        trial_dir = exp / f"trial_{i}"
        trial_dir.mkdir()
        lines = [
            {
                "training_iteration": it,
                "episode_return_mean": rating_return(gamma, it),
                "episode_len_mean": EPISODE_LEN,
                "L_TD": 1.0 / it,
            }
            for it in (1, 2, 3)
        ]
        (trial_dir / "result.json").write_text("".join(json.dumps(x) + "\n" for x in lines))
        rows.append(
            {
                "trial_id": f"g_{i:05d}",
                "trial_name": f"rayrec_trial_g_{i:05d}",
                "status": "TERMINATED",
                "error": "",
                "trial_dir": str(trial_dir),
                "algorithm": PROBE,
                "seed": seed,
                "config/gamma": gamma,
                "training_iteration": 3,
                "episode_return_mean": rating_return(gamma, 3),
                "episode_len_mean": EPISODE_LEN,
                "eval_rmse": rmse,
                "eval_mae": rmse - 0.2,
                "global_mean_rmse": 1.12,
                "global_mean_mae": 0.93,
                "user_mean_rmse": 1.03,
                "user_mean_mae": 0.83,
            }
        )
    write_table(results_frame(rows), exp)
    return exp


@dataclass
class Drawn:
    """One saved figure: per axes, its y label, title and (label, y data) per line."""

    name: str
    axes: list[tuple[str, str, list[tuple[str, list[float]]]]]


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Drawn]:
    """What each saved figure holds (the report's ``_save`` still writes it)."""
    figures: list[Drawn] = []
    save = report_module._save

    def recording(fig: Any, path: Path, plt: Any) -> None:
        axes = [
            (
                ax.get_ylabel(),
                ax.get_title(),
                [
                    (str(line.get_label()), [float(y) for y in line.get_ydata()])
                    for line in ax.lines
                ],
            )
            for ax in fig.axes
        ]
        figures.append(Drawn(path.name, axes))
        save(fig, path, plt)

    monkeypatch.setattr(report_module, "_save", recording)
    return figures


@pytest.mark.usefixtures("rating_protocol")
def test_rating_sweep_reports_rmse_lowest_first_with_reward_per_step(
    tmp_path: Path, drawn: list[Drawn]
) -> None:
    report = write_report(str(make_rating_experiment(tmp_path)))
    names = sorted(p.name for p in report.plots)
    assert names == ["eval_mae_vs_gamma.png", "eval_rmse_vs_gamma.png", "learning_curves.png"]
    for plot in report.plots:
        data = plot.read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000, plot

    md = report.markdown.read_text()
    assert "- evaluation protocol: `rating_error`; headline `rmse` (lower is better)" in md
    assert "evaluation: every user's test walk" in md
    assert "| gamma | seeds | rmse | mae | global_mean rmse | user_mean rmse |" in md
    assert "| 0.99 | 2 | 0.910 ± 0.014 | 0.710 ± 0.014 | 1.120 | 1.030 |" in md
    # the lowest mean RMSE wins (the highest would be γ = 0.1)
    assert "Best setting by mean eval_rmse: **gamma = 0.99** (0.910 ± 0.014; the lowest)." in md
    assert "total_reward" not in md and "random" not in md
    assert "`avg_reward_per_step` (average reward per step)" in md
    assert "average reward per record" in md
    assert "1–5 scale" in md and "own predictions" in md
    for name in names:
        assert f"]({name})" in md

    figures = {d.name: d for d in drawn}
    panels = {
        title.split(" per trial")[0]: (label, lines)
        for label, title, lines in figures["learning_curves.png"].axes
    }
    assert set(panels) == {"episode_return_mean", "average reward per step", "L_TD"}
    label, lines = panels["average reward per step"]
    assert "episode_return_mean / episode_len_mean" in label
    # one line per trial; γ = 0.99's reward per step is 0.5 + 0.1·it·0.99 at it = 1, 2, 3
    assert len(lines) == len(RMSE)
    assert [0.5 + 0.1 * it * 0.99 for it in (1, 2, 3)] in [pytest.approx(y) for _, y in lines]
    rmse_axes = figures["eval_rmse_vs_gamma.png"].axes[0]
    assert rmse_axes[0] == "eval_rmse (test walk)"
    refs = {lab: y for lab, y in rmse_axes[2] if "predictor" in lab}
    assert refs == {"global-mean predictor": [1.12, 1.12], "user-mean predictor": [1.03, 1.03]}


def test_rating_sweep_without_a_spec_record_is_read_from_its_columns(tmp_path: Path) -> None:
    """No rayrec_sweep.json and an algorithm the registry does not know: eval_rmse
    names the protocol, so the best setting is still the lowest RMSE."""
    report = write_report(str(make_rating_experiment(tmp_path, record=False)))
    md = report.markdown.read_text()
    assert "Best setting by mean eval_rmse: **gamma = 0.99**" in md
    assert "`rating_error`" in md
    assert "eval_rmse_vs_gamma.png" in {p.name for p in report.plots}


@pytest.mark.usefixtures("rating_protocol")
def test_sweep_protocol_comes_from_the_algorithms_and_refuses_a_mix(tmp_path: Path) -> None:
    table = pd.DataFrame({"eval_total_reward": [1.0]})
    hac = TuneSpec(name="x", env="synthetic", algorithm="hac")
    assert sweep_protocol(table, hac).name == "slate_rollout"
    probe = TuneSpec(name="x", env="synthetic", algorithm=PROBE)
    rating = sweep_protocol(table, probe)  # the registry wins over the columns
    assert rating.name == "rating_error" and not rating.higher_is_better
    assert get_protocol("slate_rollout").higher_is_better
    mixed = TuneSpec(
        name="x",
        env="synthetic",
        search_space={"algorithm": Domain(grid_search=["hac", PROBE])},
    )
    with pytest.raises(InputError, match="expected one evaluation protocol per sweep"):
        sweep_protocol(table, mixed)
    # a mixed sweep's report fails, naming the folder
    exp = make_rating_experiment(tmp_path)
    write_spec_record(mixed, str(exp), source="mixed.yaml", smoke=False)
    with pytest.raises(InputError, match=rf"^{exp}: algorithms: .*hac: slate_rollout"):
        write_report(str(exp))


def test_slate_sweep_plots_the_random_policy_and_picks_the_highest(
    tmp_path: Path, drawn: list[Drawn]
) -> None:
    report = write_report(str(make_experiment(tmp_path)))
    md = report.markdown.read_text()
    assert "(3.500 ± 0.707; the highest)" in md
    assert (
        "- evaluation protocol: `slate_rollout`; headline `total_reward` (higher is better)" in md
    )
    reward_axes = next(d for d in drawn if d.name.startswith("eval_total_reward")).axes[0]
    assert reward_axes[0] == "eval_total_reward (evaluation simulator)"
    assert ("random policy", [1.0, 1.0]) in reward_axes[2]
    # no episode_len_mean logged: no reward-per-step panel
    panels = [
        title for _, title, _ in next(d for d in drawn if d.name == "learning_curves.png").axes
    ]
    assert not any("average reward per step" in t for t in panels)


def test_results_rows_keep_every_protocols_reference_columns(rating_protocol: None) -> None:
    trial = SimpleNamespace(
        trial_id="t",
        status="TERMINATED",
        path="/tmp/t",
        config={"algorithm": PROBE, "seed": 0, "config": {"gamma": 0.9}},
        last_result={"eval_rmse": 0.9, "global_mean_rmse": 1.1, "user_mean_mae": 0.8, "x_rmse": 1},
    )
    row = trial_row(trial)
    assert row["global_mean_rmse"] == 1.1 and row["user_mean_mae"] == 0.8
    assert "x_rmse" not in row
