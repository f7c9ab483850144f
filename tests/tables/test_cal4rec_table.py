"""``cal4rec-table`` and ``cal4rec-ablation`` on the synthetic sessions: the grid of
methods × backbones, budgets in learner updates, SAC's start at half the budget, the
best-of-validation table, the ablation reusing the table's CAL4Rec runs, its figure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rayrec.cli import main
from rayrec.errors import InputError
from rayrec.tables import get_table
from rayrec.tables.cal4rec import CAL4REC_TABLE, grid_backbones, sac_start
from rayrec.tables.runner import train_options

SESSIONS = "envs/synthetic_sessions.yaml"


def test_budget_is_learner_updates_and_sac_starts_at_half_of_it() -> None:
    plan = CAL4REC_TABLE.plan(env=SESSIONS, budget_steps=600)
    plan.overrides = {"sqn": {"updates_per_iteration": 200}}
    opts = train_options(CAL4REC_TABLE, plan, "sqn", 0, Path("unused"))
    assert opts.stop_timesteps is None and opts.stop_iters == 3
    assert sac_start(plan, "sac") == {"sac_start": 300}
    assert sac_start(plan, "sqn") == {}
    plan.overrides = {"sac": {"sac_start": 7}}
    assert sac_start(plan, "sac") == {}, "--config sac_start wins"


def test_a_backbone_override_restricts_the_grid() -> None:
    plan = CAL4REC_TABLE.plan(env=SESSIONS)
    assert grid_backbones(plan) == ("gru", "nextitnet", "sasrec")
    plan.overrides = {a: {"backbone": "gru"} for a in plan.algos}
    assert grid_backbones(plan) == ("gru",)
    plan.overrides = {"ce": {"backbone": "gru"}, "sqn": {"backbone": "sasrec"}}
    with pytest.raises(InputError, match="--config backbone"):
        grid_backbones(plan)


@pytest.mark.ray
@pytest.mark.slow
def test_table_then_ablation_train_each_run_once(
    ray_session: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = [
        "--env",
        SESSIONS,
        "--seeds",
        "0",
        "--budget-steps",
        "20",
        "--config",
        "backbone=gru",
        "updates_per_iteration=10",
        "train_batch_size_per_learner=64",
        "--out",
        str(tmp_path),
    ]
    argv = ["reproduce", "cal4rec-table", "--algos", "ce", "cal4rec", *common, "--json"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("training GRU-") == 2 and "(20 updates)" in out
    summary = json.loads(out.strip().splitlines()[-1])
    assert set(summary["rows"]) == {"GRU-CE", "GRU-CAL4Rec"}
    table = (tmp_path / "table.md").read_text()
    assert "20 learner updates" in table and "*most_popular* (reference)" in table
    assert "Best of the periodic validations" in table and "| GRU-CE |" in table
    result = json.loads((tmp_path / "ce" / "backbone=gru" / "s0" / "result.json").read_text())
    assert result["iterations"] == 2 and result["last_row"]["num_updates_lifetime"] == 20
    assert result["last_row"]["selected_iteration"] in (1, 2)

    # --assemble trains nothing: seed 1 is missing and its rows say how many seeds they have
    at = common.index("--seeds")
    both_seeds = [*common[: at + 2], "1", *common[at + 2 :]]  # --seeds 0 1
    assemble = ["reproduce", "cal4rec-table", "--algos", "ce", "cal4rec", *both_seeds]
    assert main([*assemble, "--assemble"]) == 0
    out = capsys.readouterr().out
    assert "training" not in out and out.count("missing GRU-") == 2
    assert "| GRU-CE (1 of 2 seeds) |" in (tmp_path / "table.md").read_text()

    # the ablation: the full variant is the table's CAL4Rec run, reused
    assert main(["reproduce", "cal4rec-ablation", *common]) == 0
    out = capsys.readouterr().out
    assert out.count("reusing GRU: CAL4Rec (full)") == 1
    assert out.count("training GRU: ") == 3
    assert f"ablation: {tmp_path / 'ablation.md'}  plot: {tmp_path / 'ablation.png'}" in out
    assert (tmp_path / "ablation.png").read_bytes()[:4] == b"\x89PNG"
    ablation = (tmp_path / "ablation.md").read_text()
    for label in ("L_ssl only", "L_gan only", "no Gumbel-max", "CAL4Rec (full)"):
        assert label in ablation
    assert get_table("cal4rec-ablation").algos == ("cal4rec",)
