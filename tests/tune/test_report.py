"""``rayrec report`` on a hand-made experiment folder (no Tune run): the Markdown's
numbers are the seeds' mean ± std, and the PNGs are written."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from rayrec.cli import main
from rayrec.tune.report import write_report
from rayrec.tune.results import read_results, results_frame, write_table
from rayrec.tune.runner import write_spec_record
from rayrec.tune.spec import load_tune_spec
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
