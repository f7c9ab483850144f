"""``rayrec reproduce``: the table registry, hac-table's arithmetic, resumability and
the CLI."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from rayrec.cli import main
from rayrec.errors import InputError
from rayrec.provenance import code_version
from rayrec.tables import TABLES, TablePlan, run_table, summarize
from rayrec.tables.hac import HAC_TABLE
from rayrec.tables.runner import runs_csv, train_options

REPO = Path(__file__).resolve().parents[2]
SYNTHETIC = str(REPO / "envs" / "synthetic.yaml")


def fake_run(algo: str, seed: int, total: float, depth: float) -> dict[str, Any]:
    metrics = {
        "total_reward": total,
        "depth": depth,
        "coverage": 0.5,
        "overlap": 0.25 * seed,
        "reward_variance": 1.0,
    }
    return {"algorithm": algo, "seed": seed, "train_seconds": 10.0, "evaluation": {algo: metrics}}


def test_summary_is_mean_and_sample_std_over_seeds() -> None:
    results = {"hac": [fake_run("hac", s, t, d) for s, t, d in [(0, 1.0, 2.0), (1, 3.0, 4.0)]]}
    refs = {"oracle": {"total_reward": 4.0, "depth": 5.0, "coverage": 0.1, "overlap": 0.02}}
    summary = summarize(HAC_TABLE, HAC_TABLE.plan(seeds=(0, 1)), results, refs)
    row = summary["rows"]["hac"]
    assert row["total_reward"] == pytest.approx(2.0)
    assert row["total_reward_std"] == pytest.approx(2**0.5)  # sample std of {1, 3}
    assert row["depth"] == pytest.approx(3.0)
    assert row["overlap"] == pytest.approx(0.125)  # mean of 0 and 0.25
    md = summary["markdown"]
    assert "| model | total reward | depth | coverage | overlap | % of oracle |" in md
    assert "| hac | 2.00 ± 1.41 | 3.00 ± 1.41 | 0.500 | 0.125 | 50% | 10 |" in md
    assert "| *oracle* (reference) | 4.00 | 5.00 | 0.100 | 0.020 | 100% | – |" in md
    csv_text = runs_csv(HAC_TABLE, results)
    assert csv_text.splitlines()[0].endswith(",coverage,overlap,intra_list_diversity")
    assert csv_text.splitlines()[2].split(",")[-2:] == ["0.25", ""]  # seed 1; no ILD given


def test_runs_without_a_metric_show_a_dash_for_it() -> None:
    """A run reused from a rayrec that did not measure the overlap yet: its algorithm's
    overlap is not averaged over the runs that have it, it is not shown."""
    old = fake_run("hac", 0, 1.0, 2.0)
    del old["evaluation"]["hac"]["overlap"]
    results = {"hac": [old, fake_run("hac", 1, 3.0, 4.0)], "ddpg": [fake_run("ddpg", 1, 2, 3)]}
    refs = {"oracle": {"total_reward": 4.0, "depth": 5.0, "coverage": 0.1}}
    summary = summarize(HAC_TABLE, HAC_TABLE.plan(seeds=(0, 1)), results, refs)
    assert math.isnan(summary["rows"]["hac"]["overlap"])
    md = summary["markdown"]
    assert "| hac | 2.00 ± 1.41 | 3.00 ± 1.41 | 0.500 | – | 50% | 10 |" in md
    assert "| ddpg | 2.00 ± 0.00 | 3.00 ± 0.00 | 0.500 | 0.250 | 50% | 10 |" in md
    assert "| *oracle* (reference) | 4.00 | 5.00 | 0.100 | – | 100% | – |" in md
    assert "2 seeds (0, 1), 163,840 env (user-)steps" in md
    assert "Code: unrecorded." in md  # fake runs carry no code version


def test_code_version_names_the_package_and_the_commit() -> None:
    version = code_version()
    assert re.fullmatch(r"rayrec \d+\.\d+\.\d+(@[0-9a-f]{12}(\+dirty)?)?", version), version
    if (REPO / ".git").exists():
        assert "@" in version


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"algos": ("hac", "nope")}, "--algos: unknown ['nope']"),
        ({"budget_steps": 0}, "--budget-steps must be >= 1"),
        ({"seeds": ()}, "--seeds"),
        ({"seeds": (0, -1)}, "--seeds: expected integers >= 0"),
        ({"eval_users": 0}, "--eval-users must be >= 1"),
    ],
)
def test_plan_rejects_bad_input_before_training(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        HAC_TABLE.plan(**kwargs).validate()


@pytest.mark.ray
@pytest.mark.slow
def test_hac_table_trains_every_run_once_and_reuses_finished_runs(
    ray_session: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "reproduce",
        "hac-table",
        "--env",
        SYNTHETIC,
        "--algos",
        "online-sl",
        "--seeds",
        "0",
        "1",
        "--budget-steps",
        "512",
        "--eval-users",
        "20",
        "--out",
        str(tmp_path),
        "--json",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("training online-sl seed") == 2
    summary = json.loads(out.strip().splitlines()[-1])
    row = summary["rows"]["online-sl"]
    assert row["seeds"] == 2
    with (tmp_path / "runs.csv").open(newline="") as fh:
        runs = list(csv.DictReader(fh))
    assert [(r["algorithm"], r["seed"]) for r in runs] == [("online-sl", "0"), ("online-sl", "1")]
    assert all(int(r["env_steps"]) >= 512 for r in runs)
    assert all(0.0 <= float(r["overlap"]) <= 1.0 for r in runs)
    totals = [float(r["total_reward"]) for r in runs]
    assert row["total_reward"] == pytest.approx(sum(totals) / 2)
    table = (tmp_path / "table.md").read_text()
    assert "| online-sl |" in table and "*oracle* (reference)" in table

    code = code_version()
    assert f"Code: {code}." in table
    # A rerun with the same budget trains nothing and gives the same table.
    assert main(argv) == 0
    again = capsys.readouterr().out
    assert "training online-sl" not in again and again.count("reusing online-sl") == 2
    assert "trained with" not in again
    assert (tmp_path / "table.md").read_text() == table
    # A run made with other code is reused, and the rerun says so.
    result_path = tmp_path / "online-sl" / "s1" / "result.json"
    result = json.loads(result_path.read_text())
    assert result["code"] == code
    result_path.write_text(json.dumps({**result, "code": "rayrec 0.0.1@0123456789ab"}))
    assert main(argv) == 0
    again = capsys.readouterr().out
    assert f"trained with rayrec 0.0.1@0123456789ab, now {code}" in again
    assert "rayrec 0.0.1@0123456789ab" in (tmp_path / "table.md").read_text()
    # A different budget is a different experiment: it retrains.
    plan = HAC_TABLE.plan(env=SYNTHETIC, algos=("online-sl",), seeds=(0,), budget_steps=256)
    plan.eval_users = 20
    messages: list[str] = []
    run_table(HAC_TABLE, plan, tmp_path, say=messages.append)
    assert messages == [f"training online-sl seed 0 (256 env steps) -> {tmp_path}/online-sl/s0"]


@pytest.mark.parametrize(("per_iteration", "iterations"), [(None, 64), (4, 128)])
def test_offline_sl_gets_the_online_update_count_at_its_own_updates_per_iteration(
    per_iteration: int | None, iterations: int
) -> None:
    """16,384 env steps at HAC's 2 samples per step = 512 updates of 64: offline SL's
    iterations follow its updates per iteration, including an override of it."""
    overrides = {} if per_iteration is None else {"offline-sl": {"updates_per_iteration": 4}}
    plan = HAC_TABLE.plan(env=SYNTHETIC, overrides=overrides, budget_steps=16_384)
    opts = train_options(HAC_TABLE, plan, "offline-sl", 0, Path("unused"))
    assert opts.stop_timesteps is None
    assert opts.stop_iters == iterations


def test_list_names_every_table_and_what_it_reproduces(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    for table in TABLES.values():
        assert table.name in out and table.reproduces in out


@pytest.mark.parametrize("argv", [["reproduce", "nonsense"], ["reproduce"]])
def test_an_unknown_or_missing_table_exits_2_naming_the_tables(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, "--out", str(tmp_path / "never")]) == 2
    err = capsys.readouterr().err
    assert all(name in err for name in TABLES), err
    assert "nonsense" in err or not argv[1:]
    assert not (tmp_path / "never").exists()


def test_a_plan_takes_the_tables_defaults_unless_chosen() -> None:
    plan = HAC_TABLE.plan(seeds=(4,), budget_steps=None)
    assert plan == TablePlan(
        table="hac-table",
        env=HAC_TABLE.env,
        algos=HAC_TABLE.algos,
        seeds=(4,),
        budget_steps=HAC_TABLE.budget_steps,
        eval_users=HAC_TABLE.eval_users,
    )


def test_the_table_text_is_the_one_before_the_runner_was_generalised() -> None:
    """Rows and references as ``reproduce.py``'s own formatting wrote them (the
    synthetic 4,096-step table at d1342d5, its first two rows), plus the overlap column
    added since (``–``: those runs did not measure it)."""
    metrics = {
        "offline-sl": (2.0625, 6.77, 0.2171),
        "hac": (2.0249, 6.738, 0.3377),
    }
    results = {
        algo: [
            {
                "algorithm": algo,
                "seed": 0,
                "train_seconds": 6.0,
                "code": "rayrec 0.1.0@d1342d5709b0",
                "evaluation": {algo: {"total_reward": t, "depth": d, "coverage": c}},
            }
        ]
        for algo, (t, d, c) in metrics.items()
    }
    refs = {"oracle": {"total_reward": 16.68, "depth": 19.41, "coverage": 0.772}}
    plan = HAC_TABLE.plan(env="envs/synthetic.yaml", seeds=(0,), budget_steps=4096)
    md = summarize(HAC_TABLE, plan, results, refs)["markdown"]
    assert md == (
        "envs/synthetic.yaml: 1 seeds (0), 4,096 env (user-)steps of training each in the"
        " train simulator; greedy evaluation on 500 users of the evaluation simulator;"
        " mean ± sample std over seeds. Code: rayrec 0.1.0@d1342d5709b0.\n\n"
        "| model | total reward | depth | coverage | overlap | % of oracle | train s/run |\n"
        "|---|---|---|---|---|---|---|\n"
        "| offline-sl | 2.06 ± 0.00 | 6.77 ± 0.00 | 0.217 | – | 12% | 6 |\n"
        "| hac | 2.02 ± 0.00 | 6.74 ± 0.00 | 0.338 | – | 12% | 6 |\n"
        "| *oracle* (reference) | 16.68 | 19.41 | 0.772 | – | 100% | – |\n"
    )
