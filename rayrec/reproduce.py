"""One command per paper table: ``rayrec reproduce <table>``.

``hac-table`` is Table 2 of the HAC paper (Liu et al., WWW 2023) on one dataset: every
algorithm of :data:`HAC_TABLE_ALGOS` trained with several seeds in the env spec's
*train* simulator for the same budget of env (user-)steps, each evaluated greedily in
the *evaluation* simulator on the same users, next to three reference policies (random,
most popular, model-greedy oracle) in the same simulator. Rows are mean ± sample std
(ddof 1) over seeds of total reward and depth.

Runs are resumable: each (algorithm, seed) writes ``OUT/<algo>/s<seed>/result.json``
atomically when it finishes, with the code version that made it
(:func:`rayrec.provenance.code_version`), and a rerun with the same budget reuses
finished runs (saying so when they were made with other code; delete a run's folder to
retrain it). The table, whose caption names the code versions, is written to
``OUT/table.md`` and one row per run to ``OUT/runs.csv``.

Offline SL never samples the simulator; its budget is the same number of gradient
updates (of the same batch size) as the online algorithms make at the budget, i.e.
``training_intensity × budget / batch`` (HAC's defaults).
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rayrec.data.io import atomic_write_text
from rayrec.errors import InputError
from rayrec.provenance import code_version

#: the paper's row order (Table 2)
HAC_TABLE_ALGOS = ("offline-sl", "online-sl", "a2c", "ddpg", "td3", "hac")


@dataclass
class TablePlan:
    """What one reproduction runs."""

    env: str = "envs/ml1m.yaml"
    algos: tuple[str, ...] = HAC_TABLE_ALGOS
    seeds: tuple[int, ...] = (0, 1, 2)
    budget_steps: int = 16_384
    eval_users: int = 500
    num_env_runners: int = 0
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def validate(self) -> None:
        from rayrec.algorithms.registry import ALGORITHMS

        unknown = [a for a in self.algos if a not in ALGORITHMS]
        if unknown:
            raise InputError(
                f"--algos: unknown {unknown}; expected some of {', '.join(sorted(ALGORITHMS))}"
            )
        if self.budget_steps < 1:
            raise InputError(f"--budget-steps must be >= 1, got {self.budget_steps}")
        if not self.seeds:
            raise InputError("--seeds: at least one seed")
        if self.eval_users < 1:
            raise InputError(f"--eval-users must be >= 1, got {self.eval_users}")


def _run_dir(out: Path, algo: str, seed: int) -> Path:
    return out / algo / f"s{seed}"


def _finished(run_dir: Path, plan: TablePlan, algo: str, seed: int) -> dict[str, Any] | None:
    path = run_dir / "result.json"
    if not path.is_file():
        return None
    result = json.loads(path.read_text())
    same = (
        result.get("algorithm") == algo
        and result.get("seed") == seed
        and result.get("budget_steps") == plan.budget_steps
        and result.get("eval_users") == plan.eval_users
    )
    return result if same else None


def _options(plan: TablePlan, algo: str, seed: int, run_dir: Path) -> Any:
    from rayrec.algorithms.registry import make_config
    from rayrec.train import TrainOptions

    overrides = dict(plan.overrides.get(algo, {}))
    opts = TrainOptions(
        algo=algo,
        env=plan.env,
        overrides=overrides,
        seed=seed,
        num_env_runners=plan.num_env_runners,
        stop_iters=10**9,
        stop_timesteps=plan.budget_steps,
        out=str(run_dir),
        eval_users=plan.eval_users,
        checkpoint_every=10**9,
    )
    if algo == "offline-sl":  # no env steps: the same number of updates instead
        hac = make_config("hac")
        updates = math.ceil(hac.training_intensity * plan.budget_steps / hac.total_train_batch_size)
        config = make_config(algo)
        per_iter = int(overrides.get("updates_per_iteration", config.updates_per_iteration))
        opts.stop_iters = max(1, math.ceil(updates / per_iter))
        opts.stop_timesteps = None
    return opts


def references(plan: TablePlan) -> dict[str, dict[str, float]]:
    """Random, most-popular and model-greedy oracle in the evaluation simulator."""
    from rayrec.environments import env_config_for
    from rayrec.environments.rollout import POLICIES
    from rayrec.evaluation.slate_metrics import evaluate_policy
    from rayrec.simulator.keys import PART_EVAL
    from rayrec.train import eval_simulator

    sim, env_cfg = eval_simulator(env_config_for(plan.env, part=PART_EVAL))
    return {
        name: evaluate_policy(sim, make(), env_cfg, n_users=plan.eval_users, seed=1)
        for name, make in POLICIES.items()
    }


def run_hac_table(plan: TablePlan, out: Path, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Train and evaluate every (algorithm, seed) not finished yet; write the table."""
    from rayrec.train import run_training

    plan.validate()
    out.mkdir(parents=True, exist_ok=True)
    code = code_version()
    results: dict[str, list[dict[str, Any]]] = {}
    for algo in plan.algos:
        for seed in plan.seeds:
            run_dir = _run_dir(out, algo, seed)
            done = _finished(run_dir, plan, algo, seed)
            if done is None:
                say(f"training {algo} seed {seed} ({plan.budget_steps} env steps) -> {run_dir}")
                done = run_training(_options(plan, algo, seed, run_dir))
                done["budget_steps"] = plan.budget_steps
                done["eval_users"] = plan.eval_users
                done["code"] = code
                atomic_write_text(run_dir / "result.json", json.dumps(done, indent=2, default=str))
            else:
                made_with = done.get("code", "unrecorded code")
                note = "" if made_with == code else f"; trained with {made_with}, now {code}"
                say(f"reusing {algo} seed {seed} ({run_dir}{note})")
            results.setdefault(algo, []).append(done)
    refs = references(plan)
    summary = summarize(plan, results, refs)
    atomic_write_text(out / "table.md", summary["markdown"])
    atomic_write_text(out / "runs.csv", _runs_csv(results))
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, default=str))
    return summary


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, std


def summarize(
    plan: TablePlan,
    results: dict[str, list[dict[str, Any]]],
    refs: dict[str, dict[str, float]],
) -> dict[str, Any]:
    """Mean ± std per algorithm and the Markdown table."""
    rows: dict[str, dict[str, float]] = {}
    for algo, runs in results.items():
        evals = [r["evaluation"][algo] for r in runs]
        tr_m, tr_s = _mean_std([e["total_reward"] for e in evals])
        d_m, d_s = _mean_std([e["depth"] for e in evals])
        cov_m, _ = _mean_std([e["coverage"] for e in evals])
        secs = statistics.fmean(float(r.get("train_seconds", 0.0)) for r in runs)
        rows[algo] = {
            "total_reward": tr_m,
            "total_reward_std": tr_s,
            "depth": d_m,
            "depth_std": d_s,
            "coverage": cov_m,
            "train_seconds": secs,
            "seeds": len(runs),
        }
    oracle = refs.get("oracle", {}).get("total_reward", float("nan"))
    lines = [
        "| model | total reward | depth | coverage | % of oracle | train s/run |",
        "|---|---|---|---|---|---|",
    ]
    for algo, r in rows.items():
        frac = 100 * r["total_reward"] / oracle if oracle == oracle and oracle else float("nan")
        lines.append(
            f"| {algo} | {r['total_reward']:.2f} ± {r['total_reward_std']:.2f} "
            f"| {r['depth']:.2f} ± {r['depth_std']:.2f} | {r['coverage']:.3f} "
            f"| {frac:.0f}% | {r['train_seconds']:.0f} |"
        )
    for name, m in refs.items():
        frac = 100 * m["total_reward"] / oracle if oracle == oracle and oracle else float("nan")
        lines.append(
            f"| *{name}* (reference) | {m['total_reward']:.2f} | {m['depth']:.2f} "
            f"| {m['coverage']:.3f} | {frac:.0f}% | – |"
        )
    seeds = ", ".join(str(s) for s in plan.seeds)
    caption = (
        f"{plan.env}: {len(plan.seeds)} seeds ({seeds}), {plan.budget_steps:,} env "
        f"(user-)steps of training each in the train simulator; greedy evaluation on "
        f"{plan.eval_users} users of the evaluation simulator; mean ± sample std over seeds."
    )
    codes = sorted({str(r.get("code", "unrecorded")) for runs in results.values() for r in runs})
    caption += f" Code: {', '.join(codes)}."

    markdown = caption + "\n\n" + "\n".join(lines) + "\n"
    return {"plan": asdict(plan), "rows": rows, "references": refs, "markdown": markdown}


def _runs_csv(results: dict[str, list[dict[str, Any]]]) -> str:
    buf = io.StringIO()
    keys = ["algorithm", "seed", "env_steps", "iterations", "train_seconds"]
    metrics = ["total_reward", "depth", "reward_variance", "coverage", "intra_list_diversity"]
    writer = csv.writer(buf)
    writer.writerow([*keys, *metrics])
    for algo, runs in results.items():
        for r in runs:
            e = r["evaluation"][algo]
            writer.writerow([*(r.get(k) for k in keys), *(e.get(m) for m in metrics)])
    return buf.getvalue()


#: reproducible tables: name -> what it reproduces
TABLES: dict[str, str] = {
    "hac-table": "HAC paper Table 2: HAC vs DDPG, TD3, A2C, online SL, offline SL",
}

__all__ = ["HAC_TABLE_ALGOS", "TABLES", "TablePlan", "references", "run_hac_table", "summarize"]
