"""Parameter studies: one algorithm trained at each value of one config field.

A :class:`Study` is a paper's sensitivity figure: an algorithm, the config key it varies
(``rayrec train --config`` spelling: ``hyper_actor_coef``, ``model.exploration_noise``),
the parameter's symbol in the paper, a grid of values, and the seeds, budget, env and
evaluation users of every run. ``rayrec reproduce NAME`` runs it (:func:`run_study`)
through the table runner's pieces: each (value, seed) is a run folder
``OUT/<algo>/<key>=<value>/s<seed>`` trained by :func:`rayrec.train.run_training` with
the study's key set to the value (on top of the plan's ``--config`` overrides) and
reused on a rerun exactly as a table's runs are (:func:`~rayrec.tables.runner.train_or_reuse`).

Outputs: ``OUT/table.md`` (one row per value: mean ± sample std over seeds, then the
protocol's reference rows), ``OUT/runs.csv``, ``OUT/summary.json`` and ``OUT/study.png``,
the headline metric against the value with the reference policies as dashed lines
(:func:`study_figure`).

Registered: ``hac-lambda`` (the paper's λ_h grid 0, 0.1, 1) and ``hac-noise`` (the
exploration noise σ over 0.01, 0.1, 0.3, 1). The noise grid is ours, not the paper's:
the paper reports a noise curve with an optimum at moderate noise; ours spans two decades
around our default of 0.1.
"""

from __future__ import annotations

import io
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rayrec.data.io import atomic_write_bytes, atomic_write_text
from rayrec.errors import InputError
from rayrec.provenance import code_version
from rayrec.tables.hac import HAC_TABLE
from rayrec.tables.runner import (
    Table,
    TablePlan,
    checked_config,
    config_value,
    reference_rows,
    runs_csv,
    safe_name,
    summarize,
    train_or_reuse,
    value_text,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

#: the colours of the slate protocol's reference policies, drawn as dashed lines; any
#: other reference (the rating protocol's mean predictors and Surprise models) takes the
#: next colour of :data:`OTHER_REFERENCE_COLOURS`
REFERENCE_LINES: dict[str, str] = {
    "random": "tab:gray",
    "popular": "tab:orange",
    "personalised": "tab:green",
    "oracle": "tab:red",
}
OTHER_REFERENCE_COLOURS = (
    "tab:gray",
    "tab:brown",
    "tab:orange",
    "tab:green",
    "tab:red",
    "tab:purple",
    "tab:pink",
    "tab:olive",
    "tab:cyan",
)


@dataclass(frozen=True)
class Study:
    """A parameter study rayrec reproduces.

    Args:
        table: the algorithm (its one row), protocol, columns, env, seeds, budget and
            evaluation users of every run, and the caption; its name is the study's.
        key: the config field varied, as ``--config`` spells it.
        symbol: the parameter's symbol in the paper (the plot's x label).
        values: the default grid.
        labels: how a value's row and tick are named (``value_text`` of the value ->
            label, e.g. a variant's name in the paper); values without one show as
            they are written.
    """

    table: Table
    key: str
    symbol: str
    values: tuple[Any, ...]
    labels: Mapping[str, str] = field(default_factory=dict)

    def label(self, value: Any) -> str:
        """The row / tick name of ``value``."""
        text = value_text(value)
        return self.labels.get(text, text)

    def __post_init__(self) -> None:
        if len(self.table.algos) != 1:
            raise ValueError(f"study {self.table.name}: one algorithm, got {self.table.algos}")

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def reproduces(self) -> str:
        return self.table.reproduces

    @property
    def algo(self) -> str:
        return self.table.algos[0]

    @property
    def env(self) -> str:
        return self.table.env

    @property
    def parameter(self) -> str:
        """``λ_h (hyper_actor_coef)``: the paper's symbol with the config key."""
        return f"{self.symbol} ({self.key})"

    def plan(self, values: Sequence[Any] | None = None, **choices: Any) -> StudyPlan:
        """A plan of this study: its grid (or ``values``) and the table's defaults with
        ``choices`` (None: the default; ``overrides`` a flat ``{key: value}`` of
        ``--config`` for the study's algorithm)."""
        overrides = choices.pop("overrides", None)
        plan = self.table.plan(**choices)
        if overrides:
            plan.overrides = {self.algo: dict(overrides)}
        return StudyPlan(
            study=self.name,
            key=self.key,
            values=tuple(self.values if values is None else values),
            runs=plan,
        )


@dataclass
class StudyPlan:
    """One reproduction of a study: the values to train and the runs' plan (one
    algorithm; its ``overrides`` are the ``--config`` ones, without the study's key)."""

    study: str
    key: str
    values: tuple[Any, ...]
    runs: TablePlan

    @property
    def algo(self) -> str:
        return self.runs.algos[0]

    def validate(self) -> None:
        """Bad choices fail before anything trains; the values become the key's type
        (``1`` for a float field is ``1.0``, and names its folder so).

        Raises:
            InputError: naming the option, the key or the value.
        """
        self.runs.validate()
        common = self.runs.overrides.get(self.algo, {})
        if self.key in common:
            raise InputError(
                f"--config {self.key}: {self.study} varies it over its values; give them"
                " with --values"
            )
        if not self.values:
            raise InputError("--values: at least one value")
        typed = [
            _typed(self.algo, self.key, {**common, self.key: v}, "--values {key}")
            for v in self.values
        ]
        labels = [value_text(v) for v in typed]
        twice = sorted({t for t in labels if labels.count(t) > 1})
        if twice:
            raise InputError(f"--values: each value once; {', '.join(twice)} given twice")
        self.values = tuple(typed)

    def value_plan(self, value: Any) -> TablePlan:
        """The runs' plan at ``value``: the ``--config`` overrides and the key."""
        common = self.runs.overrides.get(self.algo, {})
        return replace(self.runs, overrides={self.algo: {**common, self.key: value}})

    def folder(self, out: Path, value: Any, seed: int) -> Path:
        """``OUT/<algo>/<key>=<value>/s<seed>``."""
        return out / self.algo / safe_name(f"{self.key}={value_text(value)}") / f"s{seed}"


def _typed(algo: str, key: str, overrides: Mapping[str, Any], source: str) -> Any:
    """``overrides[key]`` as the algorithm's config holds it once set (checked and
    converted like ``--config``, the other overrides with it)."""
    return config_value(checked_config(algo, overrides, source), key)


@dataclass(frozen=True)
class StudyPoint:
    """The runs at one value: its seeds and the headline metric of each."""

    value: Any
    seeds: tuple[int, ...]
    metric: tuple[float, ...] = field(default_factory=tuple)
    name: str = ""

    @property
    def label(self) -> str:
        """The study's name of the value (its text when it has none)."""
        return self.name or value_text(self.value)


def run_study(
    study: Study, plan: StudyPlan, out: Path, say: Callable[[str], None] = log.info
) -> dict[str, Any]:
    """Train and evaluate every (value, seed) not finished yet; write the table, the
    runs, the summary and the plot."""
    from rayrec.evaluation import get_protocol

    plan.validate()
    out.mkdir(parents=True, exist_ok=True)
    if plan.runs.assemble_only:
        raise InputError(f"--assemble: {study.table.name} is a study; it trains its points")
    table, algo = study.table, plan.algo
    code = code_version()
    headline = get_protocol(table.protocol).headline
    results: dict[str, list[dict[str, Any]]] = {}
    points: list[StudyPoint] = []
    for value in plan.values:
        label = study.label(value)
        runs = [
            train_or_reuse(
                table,
                plan.value_plan(value),
                algo,
                seed,
                plan.folder(out, value, seed),
                code=code,
                say=say,
                what=f"{algo} {plan.key}={value_text(value)}",
            )
            for seed in plan.runs.seeds
        ]
        results[label] = runs
        metric = tuple(float(r["evaluation"][algo].get(headline, math.nan)) for r in runs)
        points.append(StudyPoint(value, plan.runs.seeds, metric, label))
    refs = reference_rows(table, plan.runs, out)
    summary = summarize(table, plan.runs, results, refs)
    summary["plan"] = asdict(plan)
    summary["study"] = {"name": study.name, "algo": algo, "key": plan.key, "symbol": study.symbol}
    summary["points"] = [{**asdict(p), "label": p.label} for p in points]
    atomic_write_text(out / "table.md", summary["markdown"])
    atomic_write_text(out / "runs.csv", runs_csv(table, results, key=plan.key))
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, default=str))
    write_figure(study_figure(study, plan, points, refs), out / "study.png")
    return summary


# ------------------------------------------------------------------ the plot
def study_figure(
    study: Study,
    plan: StudyPlan,
    points: Sequence[StudyPoint],
    references: Mapping[str, Mapping[str, float]],
) -> Figure:
    """The headline metric against the value: mean ± sample std over seeds with each
    seed a faint dot, the reference policies as labelled dashed lines (the slate
    protocol's in the colours of :data:`REFERENCE_LINES`). The x axis is logarithmic
    for positive values, symmetric-log when 0 is among them (linear up to the smallest
    non-zero value), categorical otherwise."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from rayrec.evaluation import get_protocol
    from rayrec.metrics.summary import mean_std

    headline = get_protocol(study.table.protocol).headline
    numeric = all(_is_number(p.value) for p in points)
    fig = Figure(figsize=(6.4 if numeric else max(6.4, 1.0 * len(points)), 4.4))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    xs = [float(p.value) if numeric else float(i) for i, p in enumerate(points)]
    for x, p in zip(xs, points, strict=True):
        ax.plot([x] * len(p.metric), p.metric, "o", color="tab:blue", alpha=0.3, ms=4)
    stats = [mean_std(list(p.metric)) for p in points]
    means = [m for m, _ in stats]
    stds = [0.0 if math.isnan(s) else s for _, s in stats]  # one seed: no spread
    ax.errorbar(
        xs,
        means,
        yerr=stds,
        fmt="o-",
        color="tab:blue",
        capsize=4,
        label=f"{study.algo} (mean ± sample std)",
    )
    others = iter(OTHER_REFERENCE_COLOURS)
    for name, values in references.items():
        level = values.get(headline, math.nan)
        colour = REFERENCE_LINES.get(name) or next(others, "tab:gray")
        if not math.isnan(level):
            shown = f"{level:.2f}" if name in REFERENCE_LINES else f"{level:.3f}"
            ax.axhline(level, linestyle="--", color=colour, label=f"{name} ({shown})")
    _x_axis(ax, xs, numeric)
    if numeric:
        ax.set_xticks(xs, [p.label for p in points])
    else:  # names (a table's variants): slanted, so that long ones do not overlap
        ax.set_xticks(xs, [p.label for p in points], rotation=30, ha="right", fontsize=8)
    ax.set_xlabel(study.parameter)
    ax.set_ylabel(_header(study.table, headline))
    seeds = ", ".join(str(s) for s in plan.runs.seeds)
    ax.set_title(
        f"{study.algo} on {plan.runs.env}: {plan.runs.budget_steps:,} env steps, seeds {seeds}",
        fontsize=10,
    )
    ax.grid(alpha=0.3)
    if numeric:
        ax.legend(fontsize=8)
    else:  # many reference lines: beside the axes, clear of the points
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _x_axis(ax: Any, xs: Sequence[float], numeric: bool) -> None:
    """Log for positive values, symlog when 0 or a negative value is among them;
    categorical (positions) for values that are not numbers."""
    if not numeric:
        ax.set_xlim(-0.5, len(xs) - 0.5)
        return
    nonzero = [abs(x) for x in xs if x != 0]
    if all(x > 0 for x in xs):
        ax.set_xscale("log")
    elif nonzero:
        ax.set_xscale("symlog", linthresh=min(nonzero))
    ax.minorticks_off()
    ax.margins(x=0.08)  # in the scale's own coordinates: the end values clear of the frame
    ax.autoscale_view()


def _header(table: Table, metric: str) -> str:
    return next((c.header for c in table.columns if c.metric == metric), metric)


def write_figure(fig: Figure, path: Path) -> None:
    """``fig`` as a PNG at ``path``, through a temporary file in the same folder and an
    atomic rename (:func:`rayrec.data.io.atomic_write_bytes`)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    atomic_write_bytes(path, buf.getvalue())


# ------------------------------------------------------------------ the studies
def _hac_study(name: str, reproduces: str, key: str, symbol: str, values: tuple[Any, ...]) -> Study:
    """A study of HAC on ML-1M at the HAC table's 10× budget (163,840 env steps), two
    seeds, with the HAC table's columns."""
    caption = (
        f"hac with {symbol} ({key}) at each value on {{env}}: {{n_seeds}} seeds ({{seeds}}),"
        " {budget:,} env (user-)steps of training each in the train simulator; greedy"
        " evaluation on {users} users of the evaluation simulator; mean ± sample std over"
        " seeds."
    )
    table = replace(
        HAC_TABLE,
        name=name,
        reproduces=reproduces,
        algos=("hac",),
        caption=caption,
        seeds=(0, 1),
        budget_steps=163_840,
        row_header=f"{symbol} ({key})",
    )
    return Study(table=table, key=key, symbol=symbol, values=values)


#: ``hac-lambda``: the paper's λ_h study (its grid: 0, 0.1, 1; the paper finds 0.1 best,
#: 1 most stable)
HAC_LAMBDA = _hac_study(
    "hac-lambda",
    "HAC paper's λ_h study: HAC at hyper-actor alignment coefficients 0, 0.1, 1",
    "hyper_actor_coef",
    "λ_h",
    (0.0, 0.1, 1.0),
)

#: ``hac-noise``: the exploration-noise study. The grid is ours: the paper reports a
#: noise curve with an optimum at moderate noise, and these four values span two decades
#: around our default of 0.1.
HAC_NOISE = _hac_study(
    "hac-noise",
    "HAC paper's noise study: HAC at exploration noise σ 0.01, 0.1, 0.3, 1 (our grid)",
    "model.exploration_noise",
    "σ",
    (0.01, 0.1, 0.3, 1.0),
)

#: the studies rayrec reproduces, by name
STUDIES: dict[str, Study] = {s.name: s for s in (HAC_LAMBDA, HAC_NOISE)}
