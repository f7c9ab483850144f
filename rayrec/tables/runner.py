"""The one table runner: algorithms × seeds × budget, resumable, mean ± sample std.

A :class:`Table` says what a paper table runs (its algorithms, env spec, seeds, budget,
the evaluation protocol of its rows, its columns); a :class:`TablePlan` is one
reproduction of it, the table's defaults with the command line's choices applied.
:func:`run_table` trains every (algorithm, seed) through the one training path
(:func:`rayrec.train.run_training`) and evaluates it by the table's protocol, next to
the protocol's reference policies on the same users.

A plan's ``overrides`` (``rayrec reproduce --config KEY=VALUE``) set config fields of
every algorithm row; they are checked against every algorithm of the plan before
anything trains, recorded in each run's ``result.json`` and named in the caption.

Runs are resumable: each (algorithm, seed) is a run folder ``OUT/<algo>/s<seed>`` with
the lifecycle of every run (:mod:`rayrec.runs`: ``status.json`` says running /
finished / interrupted / failed); a finished run writes ``result.json`` atomically,
with the code version that made it (:func:`rayrec.provenance.code_version`), and a
rerun with the same budget, evaluation and overrides reuses finished runs (saying so
when they were made with other code; delete a run's folder to retrain it). A run
folder that is not finished (interrupted, failed, or left ``running`` by a process that
died) is never taken for finished: it is trained again from scratch (a table's runs
keep no checkpoint); one a live process is writing is refused. The table, whose
caption names the code versions and the overrides, is written to
``OUT/table.md``, one row per run to ``OUT/runs.csv`` and everything to
``OUT/summary.json``. Rows are mean ± sample std (ddof 1) over seeds. A run keeps
its ``progress.csv``, TensorBoard logs and result, not a checkpoint (an off-policy
one would carry its replay buffer, ~100 MB).

An algorithm that samples no env steps (offline SL) gets the same number of gradient
updates (of the same batch size) as the table's update reference makes at the budget:
``training_intensity × budget / batch`` of that algorithm's defaults.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import re
import statistics
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from rayrec.data.io import CSV_LINE_END, atomic_write_text
from rayrec.errors import InputError
from rayrec.provenance import code_version

log = logging.getLogger(__name__)

#: ``Table.budget_unit`` of a budget counted in learner updates
UPDATES = "updates"


@dataclass(frozen=True)
class Column:
    """One metric column: ``header``, the metric's name, its format, and whether the
    algorithm rows show ``± sample std`` over seeds."""

    header: str
    metric: str
    fmt: str = "{:.2f}"
    spread: bool = True


@dataclass
class TablePlan:
    """One reproduction of a table: its settings after the command line's choices."""

    table: str
    env: str
    algos: tuple[str, ...]
    seeds: tuple[int, ...]
    budget_steps: int
    eval_users: int
    num_env_runners: int = 0
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the algorithms' named settings the overrides start from (``--preset``; their
    #: values are in ``overrides``, which is what a run records and is reused by)
    preset: str = "paper"
    #: make the table from the finished runs only, training nothing (``--assemble``): a
    #: run not finished is reported missing and its row shows the seeds it has
    assemble_only: bool = False

    def validate(self) -> None:
        """Bad choices fail before anything trains.

        Raises:
            InputError: naming the option.
        """
        from rayrec.algorithms.registry import ALGORITHMS
        from rayrec.environments import resolve_env_spec

        try:
            resolve_env_spec(self.env)
        except InputError as exc:
            raise InputError(f"--env: {exc}") from None
        unknown = [a for a in self.algos if a not in ALGORITHMS]
        if unknown:
            raise InputError(
                f"--algos: unknown {unknown}; expected some of {', '.join(sorted(ALGORITHMS))}"
            )
        if self.budget_steps < 1:
            raise InputError(f"--budget-steps must be >= 1, got {self.budget_steps}")
        if not self.seeds:
            raise InputError("--seeds: at least one seed")
        if any(s < 0 for s in self.seeds):
            raise InputError(f"--seeds: expected integers >= 0, got {list(self.seeds)}")
        if self.eval_users < 1:
            raise InputError(f"--eval-users must be >= 1, got {self.eval_users}")
        if self.num_env_runners < 0:
            raise InputError(f"--num-env-runners must be >= 0, got {self.num_env_runners}")
        for algo in self.algos:
            if self.overrides.get(algo):
                checked_config(algo, self.overrides[algo])


def checked_config(algo: str, overrides: Mapping[str, Any], source: str = "--config {key}") -> Any:
    """``algo``'s default config with ``overrides`` applied as ``rayrec train --config``
    applies them (:func:`rayrec.train.apply_overrides`), then validated; nothing starts.

    Raises:
        InputError: naming the field (``source`` formats its name) and what it expects.
    """
    from rayrec.algorithms.registry import make_config
    from rayrec.train import apply_overrides, validate_config

    config = make_config(algo)
    apply_overrides(config, algo, overrides, source)
    validate_config(config)
    return config


def effective_overrides(algo: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``overrides`` without those that set a field to ``algo``'s default: a run made
    with ``hyper_actor_coef=0.1`` (a study's point at the default) is the table's
    default run, and either is reused for the other.

    Example:
        >>> effective_overrides("hac", {"hyper_actor_coef": 0.1, "actor_lr": 1e-3})
        {'actor_lr': 0.001}
    """
    if not overrides:
        return {}
    default = checked_config(algo, {})
    return {
        key: value
        for key, value in overrides.items()
        if config_value(checked_config(algo, {key: value}), key) != config_value(default, key)
    }


def config_value(config: Any, key: str) -> Any:
    """The value of ``--config`` key ``key`` in an algorithm config (``model.<field>`` as
    the algorithm's model-config dataclass holds it once checked)."""
    from rayrec.train import MODEL_PREFIX

    if not key.startswith(MODEL_PREFIX):
        return getattr(config, key)
    name = key[len(MODEL_PREFIX) :]
    cls = getattr(config, "model_config_class", None)
    if cls is not None:
        return getattr(cls.from_model_config(config.model_config), name)
    return config.model_config.get(name)


def value_text(value: Any) -> str:
    """A config value as ``--config`` reads it back: ``true``, ``null``, ``0.1``, ``[1, 2]``."""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def overrides_text(overrides: Mapping[str, Any]) -> str:
    """``key=value, key=value`` in the order given."""
    return ", ".join(f"{k}={value_text(v)}" for k, v in overrides.items())


def safe_name(text: str) -> str:
    """``text`` with every character unsafe in a file name (anything but letters,
    digits and ``._=,+-``) as ``_``."""
    return re.sub(r"[^A-Za-z0-9._=,+-]", "_", text)


@dataclass(frozen=True)
class Table:
    """A paper table rayrec reproduces.

    Args:
        name: the ``rayrec reproduce`` name.
        reproduces: what it reproduces, in words (``rayrec reproduce --list``).
        protocol: the evaluation protocol of every row (its references are the
            reference rows).
        algos, env, seeds, budget_steps, eval_users: the defaults of a plan.
        columns: the metric columns, in order.
        row_header: the header of the first column (the rows' names).
        caption: the caption's template; fields ``env``, ``n_seeds``, ``seeds``,
            ``budget``, ``users``.
        fraction_of: a reference whose headline metric the "% of" column divides by.
        update_reference: the algorithm whose update count at the budget an algorithm
            that samples no env steps gets.
        references: the table's own reference rows, ``(plan, out) -> {name: metrics}``
            (a ``<metric>_std`` key shows as ``± std``; fits may be kept under ``out``),
            instead of the protocol's reference policies.
        budget_unit: what ``budget_steps`` counts: ``env steps`` (default), or
            ``updates`` — learner updates of an offline algorithm (the logged-session
            tables: ``updates_per_iteration`` a ``train()``).
        runner: the table's own runner ``(table, plan, out, say) -> summary`` (a grid
            of rows beyond algorithms × seeds: ``cal4rec-table``), instead of
            :func:`run_table`'s loop.
    """

    name: str
    reproduces: str
    protocol: str
    algos: tuple[str, ...]
    env: str
    columns: tuple[Column, ...]
    caption: str
    seeds: tuple[int, ...] = (0, 1, 2)
    budget_steps: int = 16_384
    eval_users: int = 500
    fraction_of: str | None = None
    update_reference: str | None = None
    row_header: str = "model"
    references: Callable[[TablePlan, Path], dict[str, dict[str, float]]] | None = None
    budget_unit: str = "env steps"
    runner: Callable[..., dict[str, Any]] | None = None

    @property
    def run_metrics(self) -> tuple[str, ...]:
        """The metrics of each run in ``runs.csv``: those its protocol shows (imported
        here: ``rayrec.evaluation`` loads torch, listing the tables does not)."""
        from rayrec.evaluation import get_protocol

        return tuple(get_protocol(self.protocol).shown)

    def plan(self, **choices: Any) -> TablePlan:
        """A plan of this table: its defaults, with ``choices`` (None: the default)."""
        base = TablePlan(
            table=self.name,
            env=self.env,
            algos=self.algos,
            seeds=self.seeds,
            budget_steps=self.budget_steps,
            eval_users=self.eval_users,
        )
        return replace(base, **{k: v for k, v in choices.items() if v is not None})


# ------------------------------------------------------------------ the runs
def run_dir(out: Path, algo: str, seed: int) -> Path:
    return out / algo / f"s{seed}"


def finished_run(folder: Path, plan: TablePlan, algo: str, seed: int) -> dict[str, Any] | None:
    """The run's result if it finished with the plan's budget, evaluation and overrides
    of ``algo``, else None (a folder whose ``status.json`` says anything but finished
    is not; one without it is a finished run of an older rayrec when it holds
    ``result.json``; a result that records no overrides was made without any)."""
    from rayrec.runs import FINISHED, RESULT_FILE, read_status

    path = folder / RESULT_FILE
    status = read_status(folder)
    if not path.is_file() or (status is not None and status.status != FINISHED):
        return None
    result: dict[str, Any] = json.loads(path.read_text())
    same = (
        result.get("algorithm") == algo
        and result.get("seed") == seed
        and result.get("budget_steps") == plan.budget_steps
        and result.get("eval_users") == plan.eval_users
        and effective_overrides(algo, result.get("overrides") or {})
        == effective_overrides(algo, _as_json(plan.overrides.get(algo, {})))
    )
    return result if same else None


def _as_json(value: Any) -> Any:
    """``value`` as it reads back from ``result.json`` (tuples become lists)."""
    return json.loads(json.dumps(value, default=str))


def train_options(table: Table, plan: TablePlan, algo: str, seed: int, folder: Path) -> Any:
    """The :class:`rayrec.train.TrainOptions` of one run: the budget in env steps, or
    the same number of updates for an algorithm that samples no env steps."""
    from rayrec.algorithms.registry import get_algorithm, make_config
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
        out=str(folder),
        eval_users=plan.eval_users,
        checkpoint_every=None,  # a table keeps results, not (replay-buffer sized) checkpoints
    )
    offline = not get_algorithm(algo).samples_env
    if offline and (table.budget_unit == UPDATES or table.update_reference is not None):
        if table.budget_unit == UPDATES or table.update_reference is None:
            updates = plan.budget_steps
        else:
            ref = make_config(table.update_reference)
            updates = math.ceil(
                ref.training_intensity * plan.budget_steps / ref.total_train_batch_size
            )
        config = make_config(algo)
        per_iter = int(overrides.get("updates_per_iteration", config.updates_per_iteration))
        opts.stop_iters = max(1, math.ceil(updates / per_iter))
        opts.stop_timesteps = None
    return opts


def train_or_reuse(
    table: Table,
    plan: TablePlan,
    algo: str,
    seed: int,
    folder: Path,
    *,
    code: str,
    say: Callable[[str], None],
    what: str | None = None,
) -> Any:
    """The result of run ``folder``: reused when it finished with the plan's budget,
    evaluation and overrides (:func:`finished_run`), else trained from scratch through
    :func:`rayrec.train.run_training` — or, with ``plan.assemble_only``, None (said to
    be missing). ``what`` names the run in messages (default: the algorithm)."""
    from rayrec.runs import FINISHED, read_status
    from rayrec.train import run_training

    what = what or algo
    done = finished_run(folder, plan, algo, seed)
    if done is not None:
        made_with = done.get("code", "unrecorded code")
        note = "" if made_with == code else f"; trained with {made_with}, now {code}"
        say(f"reusing {what} seed {seed} ({folder}{note})")
        return done
    if plan.assemble_only:
        say(f"missing {what} seed {seed} ({folder}: not finished with this plan; --assemble)")
        return None
    status = read_status(folder)
    again = (
        f" (restarting: it held {status.describe()})"
        if status is not None and status.status != FINISHED
        else ""
    )
    budget = f"{plan.budget_steps} {table.budget_unit}"
    say(f"training {what} seed {seed} ({budget}) -> {folder}{again}")
    return run_training(
        train_options(table, plan, algo, seed, folder),
        existing="overwrite",
        command=f"rayrec reproduce {table.name} ({what}, seed {seed})",
        extra={"budget_steps": plan.budget_steps, "eval_users": plan.eval_users, "code": code},
    )


def reference_rows(table: Table, plan: TablePlan, out: Path) -> dict[str, dict[str, float]]:
    """The table's own reference rows, or the protocol's reference policies on the
    plan's evaluation users."""
    if table.references is not None:
        return table.references(plan, out)
    from rayrec.environments import env_config_for
    from rayrec.evaluation import get_protocol
    from rayrec.simulator.keys import PART_EVAL

    return get_protocol(table.protocol).evaluate_references(
        env_config_for(plan.env, part=PART_EVAL), users=plan.eval_users
    )


def run_table(
    table: Table, plan: TablePlan, out: Path, say: Callable[[str], None] = log.info
) -> dict[str, Any]:
    """Train and evaluate every (algorithm, seed) not finished yet; write the table
    (a table with its own runner runs that instead)."""
    if table.runner is not None:
        return table.runner(table, plan, out, say)
    plan.validate()
    out.mkdir(parents=True, exist_ok=True)
    code = code_version()
    results: dict[str, list[dict[str, Any]]] = {}
    for algo in plan.algos:
        for seed in plan.seeds:
            folder = run_dir(out, algo, seed)
            done = train_or_reuse(table, plan, algo, seed, folder, code=code, say=say)
            if done is not None:
                results.setdefault(algo, []).append(done)
    summary = summarize(table, plan, results, reference_rows(table, plan, out))
    atomic_write_text(out / "table.md", summary["markdown"])
    atomic_write_text(out / "runs.csv", runs_csv(table, results))
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, default=str))
    return summary


# ------------------------------------------------------------------ the table
def summarize(
    table: Table,
    plan: TablePlan,
    results: dict[str, list[dict[str, Any]]],
    refs: dict[str, dict[str, float]],
) -> dict[str, Any]:
    """Mean ± std per row over its seeds, the reference rows, and the Markdown.

    ``results`` maps each row's name (an algorithm, or a parameter value of a study)
    to its runs; each run's metrics are those of the algorithm it records. A metric
    some run or reference lacks (a run reused from a rayrec that did not measure it yet)
    is NaN in the rows; a NaN shows as ``–`` in the table.
    """
    from rayrec.evaluation import get_protocol
    from rayrec.metrics.summary import mean_std

    headline = get_protocol(table.protocol).headline
    rows: dict[str, dict[str, float]] = {}
    for algo, runs in results.items():
        evals = [r["evaluation"][r.get("algorithm", algo)] for r in runs]
        row: dict[str, float] = {}
        for col in table.columns:
            values = [e.get(col.metric) for e in evals]
            mean, std = (math.nan, math.nan) if None in values else mean_std(values)
            row[col.metric] = mean
            if col.spread:
                row[f"{col.metric}_std"] = std
        row["train_seconds"] = statistics.fmean(float(r.get("train_seconds", 0.0)) for r in runs)
        row["seeds"] = len(runs)
        rows[algo] = row
    whole = refs.get(table.fraction_of, {}).get(headline, math.nan) if table.fraction_of else None

    def share(value: float) -> list[str]:
        if whole is None:
            return []
        frac = 100 * value / whole if whole == whole and whole else math.nan
        return [f"{frac:.0f}%"]

    heads = [table.row_header, *(c.header for c in table.columns)]
    heads += [f"% of {table.fraction_of}"] if whole is not None else []
    lines = ["| " + " | ".join([*heads, "train s/run"]) + " |", "|" + "---|" * (len(heads) + 1)]
    for algo, r in rows.items():
        cells = [
            _cell(c.fmt, r[c.metric], r[f"{c.metric}_std"] if c.spread else None)
            for c in table.columns
        ]
        cells += [*share(r[headline]), f"{r['train_seconds']:.0f}"]
        lines.append(f"| {algo} | " + " | ".join(cells) + " |")
    for name, m in refs.items():
        cells = [
            _cell(c.fmt, m.get(c.metric, math.nan), m.get(f"{c.metric}_std")) for c in table.columns
        ]
        cells += [*share(m[headline]), "–"]
        lines.append(f"| *{name}* (reference) | " + " | ".join(cells) + " |")
    caption = table.caption.format(
        env=plan.env,
        n_seeds=len(plan.seeds),
        seeds=", ".join(str(s) for s in plan.seeds),
        budget=plan.budget_steps,
        users=plan.eval_users,
    )
    caption += _overrides_caption(plan)
    codes = sorted({str(r.get("code", "unrecorded")) for runs in results.values() for r in runs})
    caption += f" Code: {', '.join(codes)}."
    markdown = caption + "\n\n" + "\n".join(lines) + "\n"
    return {"plan": asdict(plan), "rows": rows, "references": refs, "markdown": markdown}


def _overrides_caption(plan: TablePlan) -> str:
    """`` Config overrides: k=v.`` (one list when every row has the same, else per row);
    empty without overrides."""
    given = {algo: dict(plan.overrides.get(algo, {})) for algo in plan.algos}
    preset = f" Preset: {plan.preset}." if plan.preset != "paper" else ""
    if not any(given.values()):
        return preset
    first = next(iter(given.values()))
    if all(o == first for o in given.values()):
        return f"{preset} Config overrides: {overrides_text(first)}."
    rows = "; ".join(f"{a}: {overrides_text(o) or 'none'}" for a, o in given.items())
    return f"{preset} Config overrides: {rows}."


def _cell(fmt: str, value: float, std: float | None = None) -> str:
    """``value`` (and ``± std`` when given) in ``fmt``; ``–`` where the value is NaN
    (not measured by every run, or not defined: the overlap of a single user)."""
    if math.isnan(value):
        return "–"
    return fmt.format(value) + ("" if std is None else f" ± {fmt.format(std)}")


def runs_csv(table: Table, results: dict[str, list[dict[str, Any]]], key: str | None = None) -> str:
    """One line per run: its identity, budget, time and the table's run metrics (and,
    given a study's ``key``, the run's value of that override after its algorithm)."""
    buf = io.StringIO()
    keys = ["algorithm", "seed", "env_steps", "iterations", "train_seconds"]
    metrics = list(table.run_metrics)
    writer = csv.writer(buf, lineterminator=CSV_LINE_END)
    varied = [] if key is None else [key]
    writer.writerow([keys[0], *varied, *keys[1:], *metrics])
    for algo, runs in results.items():
        for r in runs:
            e = r["evaluation"][r.get("algorithm", algo)]
            value = [] if key is None else [(r.get("overrides") or {}).get(key)]
            ident = [r.get(k) for k in keys]
            writer.writerow([ident[0], *value, *ident[1:], *(e.get(m) for m in metrics)])
    return buf.getvalue()
