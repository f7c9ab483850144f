"""The report of a sweep: what ``rayrec report <experiment-dir>`` writes.

What it shows follows the sweep's evaluation protocol (:mod:`rayrec.evaluation`: the
algorithms' registry entries name it; without a spec record, the results' columns
tell): its ``shown`` metrics summarised, its ``headline`` ranked (highest or lowest
first, :attr:`~rayrec.evaluation.EvaluationProtocol.higher_is_better`), its reference
policies (``<reference>_<metric>`` columns: the slate protocol's random policy, the
rating protocol's global-mean and user-mean predictors) drawn dashed.

- ``learning_curves.png``: per trial, the training return (``episode_return_mean``),
  the average reward per step of those episodes (``avg_reward_per_step`` =
  ``episode_return_mean / episode_len_mean``: DDPG-LA's average reward per record per
  training round) and, where the algorithm logs it, the critic loss ``L_TD`` against
  the iteration, coloured by the swept parameter.
- ``eval_<metric>_vs_<param>.png``: the final evaluation of the protocol's headline and
  its second shown metric (slate: ``total_reward``, ``depth``; rating: ``rmse``,
  ``mae``) against each swept parameter, mean ± std over seeds (one line per value of
  any other swept parameter, e.g. per algorithm), the references dashed; log x where
  the grid spans decades (symlog when it holds 0). These are the λ_h and noise curves
  of the HAC paper and the γ curve of the DDPG-LA paper.
- ``report.md``: what ran, trial counts, the per-setting table (mean ± std over
  seeds), the best setting, failed trials, and the plots.

Inputs: the experiment's ``results.parquet`` / ``results.csv`` (one row per trial),
``rayrec_sweep.json`` (which keys were swept and how), and each trial's ``result.json``
(one JSON object per iteration). matplotlib is the optional extra ``plot``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rayrec.algorithms.registry import ALGORITHMS
from rayrec.data.io import atomic_write_bytes, atomic_write_text
from rayrec.errors import InputError, RayrecError
from rayrec.evaluation import PROTOCOLS, EvaluationProtocol, get_protocol
from rayrec.tune.results import read_results
from rayrec.tune.resume import SweepRecord, experiment_location, read_spec_record
from rayrec.tune.spec import CONFIG_PREFIX, Domain, TuneSpec

logger = logging.getLogger(__name__)

#: the protocol of a sweep whose algorithms and columns say nothing (the first one's)
DEFAULT_PROTOCOL = "slate_rollout"
#: the average reward per step of a training iteration's episodes (derived per row)
REWARD_PER_STEP = "avg_reward_per_step"
#: the learning-curve panels, in order, where a trial logged them
CURVE_METRICS = ("episode_return_mean", REWARD_PER_STEP, "L_TD")
#: a curve's axis label where the column name alone does not say it
CURVE_LABELS = {
    REWARD_PER_STEP: "average reward per step\n(episode_return_mean / episode_len_mean)",
}
#: a reference policy's name in a legend (else its own name)
REFERENCE_LABELS = {
    "random": "random policy",
    "global_mean": "global-mean predictor",
    "user_mean": "user-mean predictor",
}


@dataclass(frozen=True)
class Wording:
    """How a report names what a protocol trained and evaluated on.

    Attributes:
        evaluated_on: where the final evaluation ran (a plot's y label).
        trained_on: where the training curves come from.
        evaluation: the spec's evaluation in words (``{users}``: ``evaluation.users``).
        closing: the paragraph explaining the metrics.
        per_step: what ``avg_reward_per_step`` is for this protocol's algorithms.
    """

    evaluated_on: str
    trained_on: str
    evaluation: str
    closing: str
    per_step: str = ""


WORDINGS: dict[str, Wording] = {
    "slate_rollout": Wording(
        evaluated_on="evaluation simulator",
        trained_on="training simulator",
        evaluation="{users} users of the evaluation simulator, greedy",
        closing="Metrics: `eval_*` are the greedy policy's session metrics in the evaluation"
        " simulator (total reward, depth, reward variance across users, coverage), as"
        " in the HAC paper's protocol, and `overlap`, the mean Jaccard index of two"
        " users' first slates (1 = one slate for everybody); the dashed line is a"
        " random policy on the same users.",
        per_step="the mean reward per slate of a session",
    ),
    "rating_error": Wording(
        evaluated_on="test walk",
        trained_on="train walks",
        evaluation="every user's test walk, greedy (`evaluation.users` is not used)",
        closing="Metrics: `eval_rmse` and `eval_mae` are the error of the greedy predicted"
        " ratings on the 1–5 scale over every user's test records (the last part of each"
        " user's records in time order), walked with no updates: the state carries the"
        " user's train records and the true ratings of the earlier test records (which"
        " rating models such as SVD never see); `rmse_own` / `mae_own`, where reported,"
        " are the same walk with the agent's own predictions in the state instead. The"
        " dashed lines are the global-mean and user-mean predictors fitted on the train"
        " part.",
        per_step="the DDPG-LA paper's average reward per record, one point per training"
        " round (iteration)",
    ),
    "full_ranking": Wording(
        evaluated_on="held-out items",
        trained_on="training data",
        evaluation="every user's held-out items, full ranking",
        closing="Metrics: `eval_*` are HR / NDCG / precision / recall / MRR @k of the"
        " greedy ranking over the full item pool, the user's seen items excluded.",
    ),
}


def wording(protocol: EvaluationProtocol) -> Wording:
    """The protocol's :class:`Wording` (a generic one from its summary if it has none)."""
    if protocol.name in WORDINGS:
        return WORDINGS[protocol.name]
    return Wording(
        evaluated_on=f"{protocol.name} evaluation",
        trained_on="training env",
        evaluation=f"protocol {protocol.name}",
        closing=f"Metrics: `eval_*` are the {protocol.name} protocol's: {protocol.summary}.",
    )


# ------------------------------------------------------------------ protocol
def sweep_protocol(table: pd.DataFrame, spec: TuneSpec | None) -> EvaluationProtocol:
    """The evaluation protocol of a sweep: its algorithms' (from the spec record, else
    the results' ``algorithm`` column), else the one whose headline ``eval_<headline>``
    column the results hold, else :data:`DEFAULT_PROTOCOL`.

    Raises:
        InputError: the sweep's algorithms are evaluated by different protocols (their
            metrics are not comparable, and no one env serves them all).
    """
    if spec is not None:
        names = spec.algorithms()
    elif "algorithm" in table.columns:
        names = sorted(str(a) for a in table["algorithm"].dropna().unique())
    else:
        names = []
    known = {a: ALGORITHMS[a].protocol for a in names if a in ALGORITHMS}
    if len(set(known.values())) > 1:
        shown = ", ".join(f"{a}: {p}" for a, p in known.items())
        raise InputError(
            f"algorithms: expected one evaluation protocol per sweep, got {shown};"
            " their metrics are not comparable (report each protocol's algorithms from a"
            " sweep of their own)"
        )
    if known and len(known) == len(names):
        return get_protocol(next(iter(known.values())))
    if names:
        unknown = sorted(set(names) - set(known))
        logger.warning(
            "algorithms %s are not registered; the protocol is read from the results columns",
            ", ".join(unknown),
        )
    return protocol_from_columns(table)


def protocol_from_columns(table: pd.DataFrame) -> EvaluationProtocol:
    """The protocol whose headline column (``eval_total_reward`` → ``slate_rollout``,
    ``eval_rmse`` → ``rating_error``, …) holds values, else one whose headline column
    exists, else :data:`DEFAULT_PROTOCOL`."""
    present = [p for p in PROTOCOLS.values() if main_metric(p) in table.columns]
    filled = [p for p in present if table[main_metric(p)].notna().any()]
    found = filled or present
    return found[0] if found else get_protocol(DEFAULT_PROTOCOL)


def main_metric(protocol: EvaluationProtocol) -> str:
    """The results column a sweep is ranked by: ``eval_<headline>``."""
    return f"eval_{protocol.headline}"


def summary_metrics(protocol: EvaluationProtocol) -> tuple[str, ...]:
    """The results columns the per-setting table shows: ``eval_<m>`` per shown metric."""
    return tuple(f"eval_{m}" for m in protocol.shown)


def plotted_metrics(protocol: EvaluationProtocol) -> tuple[str, ...]:
    """The metrics drawn against each swept parameter: the headline and the next shown
    metric (slate: total_reward, depth; rating: rmse, mae)."""
    second = [m for m in protocol.shown if m != protocol.headline][:1]
    return tuple(f"eval_{m}" for m in (protocol.headline, *second))


def reference_column(reference: str, metric: str) -> str:
    """The results column of ``reference``'s value of ``metric`` (``eval_`` dropped)."""
    return f"{reference}_{metric.removeprefix('eval_')}"


@dataclass
class Swept:
    """One swept results column: its name, shown label and scale."""

    column: str
    values: list[Any]
    grid: bool = True
    log: bool = False
    symlog_threshold: float | None = None

    @property
    def label(self) -> str:
        return self.column.removeprefix(CONFIG_PREFIX)


@dataclass
class Report:
    """What was written."""

    out_dir: Path
    markdown: Path
    plots: list[Path] = field(default_factory=list)


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RayrecError(
            "rayrec report needs matplotlib: pip install 'rayrec[plot]' (or matplotlib)"
        ) from None
    return plt


# ------------------------------------------------------------------ inputs
def swept_columns(table: pd.DataFrame, domains: dict[str, Domain] | None) -> list[Swept]:
    """The swept columns, from the spec record, else the config columns that vary."""
    out: list[Swept] = []
    if domains is not None:
        for column, domain in domains.items():
            if column not in table.columns:
                continue
            values = sorted(table[column].dropna().unique().tolist(), key=_sort_key)
            swept = Swept(column, values, grid=domain.kind in ("grid_search", "choice"))
            if domain.is_log_scale():
                swept.log = True
                if any(_is_num(v) and v == 0 for v in values):
                    positive = [float(v) for v in values if _is_num(v) and v > 0]
                    swept.symlog_threshold = min(positive) if positive else 1.0
            out.append(swept)
        return out
    for column in table.columns:
        if column in ("algorithm", "seed") or column.startswith(CONFIG_PREFIX):
            values = sorted(table[column].dropna().unique().tolist(), key=_sort_key)
            if len(values) > 1:
                out.append(Swept(column, values))
    return out


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)


def _sort_key(v: Any) -> tuple[int, Any]:
    return (0, float(v)) if _is_num(v) else (1, str(v))


def read_curve(trial_dir: str | Path) -> pd.DataFrame:
    """A trial's per-iteration rows from its ``result.json`` (else ``progress.csv``)."""
    folder = Path(str(trial_dir))
    path = folder / "result.json"
    if path.is_file():
        rows = []
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn last line of a killed driver
        return pd.DataFrame(rows)
    if (folder / "progress.csv").is_file():
        return pd.read_csv(folder / "progress.csv")
    return pd.DataFrame()


def with_reward_per_step(curve: pd.DataFrame) -> pd.DataFrame:
    """``curve`` with :data:`REWARD_PER_STEP` = ``episode_return_mean /
    episode_len_mean`` per row where both are logged (NaN where no episode ended)."""
    if "episode_return_mean" not in curve.columns or "episode_len_mean" not in curve.columns:
        return curve
    steps = pd.to_numeric(curve["episode_len_mean"], errors="coerce")
    ret = pd.to_numeric(curve["episode_return_mean"], errors="coerce")
    return curve.assign(**{REWARD_PER_STEP: ret / steps.where(steps > 0)})


def load_curves(table: pd.DataFrame, exp: Path) -> dict[str, pd.DataFrame]:
    """Every trial's per-iteration rows by trial id, with :data:`REWARD_PER_STEP`."""
    return {
        row["trial_id"]: with_reward_per_step(read_curve(_trial_dir(row, exp)))
        for _, row in table.iterrows()
    }


def curve_metrics(curves: Mapping[str, pd.DataFrame]) -> list[str]:
    """The :data:`CURVE_METRICS` some trial logged (a learning-curve panel each)."""
    return [
        m
        for m in CURVE_METRICS
        if any(m in c.columns and c[m].notna().any() for c in curves.values())
    ]


def _trial_dir(row: pd.Series, exp: Path) -> Path:
    """The trial's folder; if the experiment was moved, its namesake in ``exp``."""
    recorded = Path(str(row["trial_dir"]))
    return recorded if recorded.is_dir() else exp / recorded.name


# ------------------------------------------------------------------ tables
def aggregate(table: pd.DataFrame, by: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Mean, std and count over seeds of each metric, per setting of ``by``."""
    done = table[table["status"] == "TERMINATED"]
    present = [m for m in metrics if m in done.columns]
    if not by:
        by_frame = done.assign(_all="all")
        by = ["_all"]
    else:
        by_frame = done
    grouped = by_frame.groupby(list(by), dropna=False)[present]
    out = grouped.agg(["mean", "std", "count"])
    out.columns = ["_".join(map(str, pair)) for pair in out.columns.to_flat_index()]
    return out.reset_index()


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if _is_num(v):
        return f"{float(v):.{digits}f}" if not float(v).is_integer() or digits == 0 else f"{v:g}"
    return str(v)


def _pm(mean: Any, std: Any) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{float(mean):.3f}"
    return f"{float(mean):.3f} ± {float(std):.3f}"


def markdown_table(heads: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------ plots
def plot_learning_curves(
    table: pd.DataFrame,
    swept: list[Swept],
    curves: Mapping[str, pd.DataFrame],
    out: Path,
    plt: Any,
    trained_on: str = "training simulator",
) -> Path | None:
    """Training return, average reward per step (and L_TD) per iteration, one line per
    trial (``curves``: :func:`load_curves`): a row of panels per algorithm when the
    algorithm is swept, colour by the (first) other swept parameter, line style by seed;
    ``trained_on`` names where the returns come from."""
    from matplotlib.ticker import MaxNLocator

    metrics = curve_metrics(curves)
    if not metrics:
        return None
    algos = next((s.values for s in swept if s.column == "algorithm" and len(s.values) > 1), [])
    colour_by = next((s for s in swept if s.column not in ("seed", "algorithm")), None)
    if colour_by is None and not algos:
        colour_by = next((s for s in swept if s.column == "algorithm"), None)
    seeds = sorted(table["seed"].unique().tolist()) if "seed" in table.columns else []
    styles = ["-", "--", ":", "-."]
    rows = table
    if colour_by is not None:  # legend in the order of the swept values
        rows = table.sort_values(colour_by.column, key=lambda s: s.map(_sort_key), kind="stable")
    cmap = plt.get_cmap("viridis")
    panels: list[Any] = algos or [None]
    fig, axes = plt.subplots(
        len(panels), len(metrics), figsize=(6 * len(metrics), 3.8 * len(panels)), squeeze=False
    )
    for axes_row, algo in zip(axes, panels, strict=True):
        subset = rows if algo is None else rows[rows["algorithm"] == algo]
        for ax, metric in zip(axes_row, metrics, strict=True):
            labelled: set[str] = set()
            for _, row in subset.iterrows():
                curve = curves[row["trial_id"]]
                if metric not in curve.columns or "training_iteration" not in curve.columns:
                    continue
                c = curve[["training_iteration", metric]].dropna()
                if colour_by is not None:
                    value = row[colour_by.column]
                    idx = colour_by.values.index(value) if value in colour_by.values else 0
                    colour = cmap(0.9 * idx / max(len(colour_by.values) - 1, 1))
                    label = f"{colour_by.label}={_value(value)}"
                else:
                    colour, label = None, str(row["trial_name"])
                shown = label if label not in labelled else None
                labelled.add(label)
                style = styles[seeds.index(row["seed"]) % len(styles)] if seeds else "-"
                ax.plot(
                    c["training_iteration"],
                    c[metric],
                    marker=".",
                    linestyle=style,
                    color=colour,
                    label=shown,
                    alpha=0.8,
                )
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("training iteration")
            ax.set_ylabel(CURVE_LABELS.get(metric, metric))
            where = f" ({trained_on})" if metric != "L_TD" else ""
            by_seed = "; line style: seed" if len(seeds) > 1 else ""
            prefix = f"{algo}: " if algo is not None else ""
            name = "average reward per step" if metric == REWARD_PER_STEP else metric
            ax.set_title(f"{prefix}{name} per trial{where}{by_seed}", fontsize=10)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "learning_curves.png"
    _save(fig, path, plt)
    return path


def plot_metric_vs_param(
    table: pd.DataFrame,
    param: Swept,
    others: list[Swept],
    metric: str,
    out: Path,
    plt: Any,
    references: Sequence[str] = ("random",),
    evaluated_on: str = "evaluation simulator",
) -> Path | None:
    """``metric`` against ``param``: mean ± std over seeds (each seed a dot), one line
    per setting of the other swept parameters, each of ``references`` present (column
    ``<reference>_<metric>``) a dashed line; ``evaluated_on`` names the evaluation."""
    done = table[(table["status"] == "TERMINATED") & table[metric].notna()]
    if done.empty:
        return None
    group_cols = [o.column for o in others if o.column != "seed"]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    groups = done.groupby(group_cols, dropna=False) if group_cols else [((), done)]
    for key, frame in groups:
        keys = key if isinstance(key, tuple) else (key,)
        label = (
            ", ".join(
                f"{c.removeprefix(CONFIG_PREFIX)}={_value(v)}"
                for c, v in zip(group_cols, keys, strict=True)
            )
            or "agent"
        )
        if param.grid:
            stats = frame.groupby(param.column)[metric].agg(["mean", "std"]).reset_index()
            stats = stats.sort_values(param.column, key=lambda s: s.map(_sort_key))
            x = _x_values(stats[param.column])
            std = stats["std"].fillna(0.0).to_numpy()
            bars = ax.errorbar(x, stats["mean"], yerr=std, marker="o", capsize=4, label=label)
            colour = bars[0].get_color()
            ax.fill_between(x, stats["mean"] - std, stats["mean"] + std, color=colour, alpha=0.12)
            ax.scatter(_x_values(frame[param.column]), frame[metric], s=12, color=colour, alpha=0.5)
        else:
            ax.scatter(_x_values(frame[param.column]), frame[metric], label=label)
    dashes = ["--", ":", "-."]
    present = [r for r in references if reference_column(r, metric) in done.columns]
    for i, ref in enumerate(r for r in present if done[reference_column(r, metric)].notna().any()):
        ax.axhline(
            float(done[reference_column(ref, metric)].mean()),
            color="grey" if i == 0 else "black",
            linestyle=dashes[i % len(dashes)],
            label=REFERENCE_LABELS.get(ref, ref),
        )
    if param.log:
        top = max(float(v) for v in param.values if _is_num(v))
        if param.symlog_threshold is not None:
            ax.set_xscale("symlog", linthresh=param.symlog_threshold)
            ax.set_xlim(-0.3 * param.symlog_threshold, top * 2)
        else:
            ax.set_xscale("log")
    ax.set_xlabel(param.label)
    ax.set_ylabel(f"{metric} ({evaluated_on})")
    n_seeds = done["seed"].nunique() if "seed" in done.columns else 1
    ax.set_title(f"{metric} vs {param.label} (mean ± std over {n_seeds} seeds)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / f"{metric}_vs_{_safe(param.label)}.png"
    _save(fig, path, plt)
    return path


def _value(v: Any) -> str:
    """A swept value as shown: numbers in their shortest form (0.01, 10, 1e-05)."""
    return f"{float(v):g}" if _is_num(v) else str(v)


def _x_values(series: pd.Series) -> np.ndarray:
    if all(_is_num(v) for v in series):
        return series.astype(float).to_numpy()
    return series.astype(str).to_numpy()


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def _save(fig: Any, path: Path, plt: Any) -> None:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


# ------------------------------------------------------------------ report
def write_report(experiment_dir: str, out_dir: str | None = None) -> Report:
    """Write ``report.md`` and the PNG plots of a finished sweep, in the terms of its
    evaluation protocol (:func:`sweep_protocol`).

    Raises:
        InputError: not a local experiment folder with a results table, or a sweep
            whose algorithms are evaluated by different protocols.
        RayrecError: matplotlib is missing.
    """
    exp = experiment_location(experiment_dir)
    if "://" in exp:
        raise InputError(
            f"{exp}: rayrec report reads a local folder; copy the experiment down first"
            " (e.g. `aws s3 sync URI DIR` / `gsutil rsync -r URI DIR`)"
        )
    if not Path(exp).is_dir():
        raise InputError(f"{exp}: no such experiment folder")
    plt = _pyplot()
    table = read_results(exp)
    record = read_spec_record(exp)
    spec = record.spec if record is not None else None
    try:
        protocol = sweep_protocol(table, spec)
    except InputError as exc:
        raise InputError(f"{exp}: {exc}") from exc
    words = wording(protocol)
    swept = swept_columns(table, spec.swept() if spec is not None else None)
    out = Path(out_dir) if out_dir else Path(exp) / "report"
    out.mkdir(parents=True, exist_ok=True)

    plots: list[Path] = []
    curves = load_curves(table, Path(exp))
    curve = plot_learning_curves(table, swept, curves, out, plt, words.trained_on)
    if curve is not None:
        plots.append(curve)
    params = [s for s in swept if s.column != "seed"]
    for param in params:
        if param.column == "algorithm" and len(params) > 1:
            continue  # algorithms are lines on the other parameters' plots
        others = [s for s in swept if s is not param]
        for metric in plotted_metrics(protocol):
            if metric in table.columns:
                path = plot_metric_vs_param(
                    table,
                    param,
                    others,
                    metric,
                    out,
                    plt,
                    references=protocol.references,
                    evaluated_on=words.evaluated_on,
                )
                if path is not None:
                    plots.append(path)

    md = render_markdown(
        exp, table, swept, record, plots, out, protocol=protocol, curves=curve_metrics(curves)
    )
    md_path = out / "report.md"
    atomic_write_text(md_path, md)
    return Report(out, md_path, plots)


def render_markdown(
    exp: str,
    table: pd.DataFrame,
    swept: list[Swept],
    record: SweepRecord | None,
    plots: list[Path],
    out: Path,
    *,
    protocol: EvaluationProtocol | None = None,
    curves: Sequence[str] = (),
) -> str:
    """The report's Markdown, in ``protocol``'s terms (default: :func:`sweep_protocol`);
    ``curves``: the learning-curve panels drawn (:func:`curve_metrics`)."""
    spec = record.spec if record is not None else None
    protocol = protocol if protocol is not None else sweep_protocol(table, spec)
    words = wording(protocol)
    main_col = main_metric(protocol)
    summary = summary_metrics(protocol)
    name = spec.name if spec is not None else Path(exp).name
    lines = [f"# Sweep report: {name}", ""]
    if spec is not None and spec.description:
        lines += [spec.description.strip(), ""]
    if record is not None and record.smoke:
        lines += [
            f"**Smoke run** (`rayrec tune {record.source} --smoke`): the spec's `smoke:`"
            " overrides applied (the env, stop and evaluation below are the smoke ones);"
            " the description above is of the full study, and numbers from a few"
            " iterations say nothing about it.",
            "",
        ]
    counts = table["status"].value_counts().to_dict()
    lines.append(f"- experiment: `{exp}`")
    if spec is not None:
        lines.append(f"- env spec: `{spec.env}`; algorithms: {', '.join(spec.algorithms())}")
        lines.append(
            f"- stop: {spec.stop.training_iteration} iterations"
            + (f" or {spec.stop.env_steps} env steps" if spec.stop.env_steps else "")
            + f"; evaluation: {words.evaluation.format(users=spec.evaluation.users)}"
        )
    direction = "higher" if protocol.higher_is_better else "lower"
    lines.append(
        f"- evaluation protocol: `{protocol.name}`; headline `{protocol.headline}`"
        f" ({direction} is better)"
    )
    lines.append(
        f"- trials: {len(table)} (" + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ")"
    )
    lines.append(
        "- swept: "
        + (
            ", ".join(f"`{s.label}` [{', '.join(_value(v) for v in s.values)}]" for s in swept)
            or "nothing"
        )
    )
    lines.append("")

    by = [s.column for s in swept if s.column != "seed"]
    refs = [reference_column(r, main_col) for r in protocol.references]
    agg = aggregate(table, by, (*summary, *refs))
    if not agg.empty and f"{main_col}_mean" in agg.columns:
        lines += ["## Final evaluation (mean ± std over seeds)", ""]
        heads = [*(c.removeprefix(CONFIG_PREFIX) for c in by), "seeds"]
        present = [m for m in summary if f"{m}_mean" in agg.columns]
        shown_refs = [
            (r, col)
            for r, col in zip(protocol.references, refs, strict=True)
            if f"{col}_mean" in agg.columns
        ]
        heads += [m.removeprefix("eval_") for m in present]
        heads += [f"{r} {protocol.headline}" for r, _ in shown_refs]
        rows = []
        for _, r in agg.iterrows():
            cells = [_value(r[c]) for c in by] + [_fmt(r[f"{main_col}_count"], 0)]
            cells += [_pm(r[f"{m}_mean"], r[f"{m}_std"]) for m in present]
            cells += [_fmt(r[f"{col}_mean"]) for _, col in shown_refs]
            rows.append(cells)
        lines += [markdown_table(heads, rows), ""]
        valid = agg[agg[f"{main_col}_mean"].notna()]
        if not valid.empty and by:
            means = valid[f"{main_col}_mean"].to_numpy()
            at = int(means.argmax() if protocol.higher_is_better else means.argmin())
            best = valid.iloc[at]
            shown = ", ".join(f"{c.removeprefix(CONFIG_PREFIX)} = {_value(best[c])}" for c in by)
            extreme = "highest" if protocol.higher_is_better else "lowest"
            lines += [
                f"Best setting by mean {main_col}: **{shown}** "
                f"({_pm(best[f'{main_col}_mean'], best[f'{main_col}_std'])}; the {extreme}).",
                "",
            ]
    else:
        lines += ["No trial finished with an evaluation.", ""]

    failed = table[table["status"] != "TERMINATED"]
    if not failed.empty:
        lines += ["## Trials that did not finish", ""]
        lines += [
            markdown_table(
                ["trial", "status", "error"],
                [
                    [str(r["trial_name"]), str(r["status"]), str(r.get("error") or "")]
                    for _, r in failed.iterrows()
                ],
            ),
            "",
        ]
    if plots:
        lines += ["## Plots", ""]
        for p in plots:
            rel = p.relative_to(out) if p.is_relative_to(out) else p
            lines += [f"![{p.stem}]({rel})", ""]
    training = (
        f"Training curves are RLlib's `episode_return_mean` in the {words.trained_on}"
        " (latest episodes only, so noisy)"
    )
    if REWARD_PER_STEP in curves:
        per_step = f": {words.per_step}" if words.per_step else ""
        training += (
            f"; `{REWARD_PER_STEP}` (average reward per step) is `episode_return_mean /"
            f" episode_len_mean` of the same episodes{per_step}"
        )
    lines += [f"{words.closing} {training}.", ""]
    return "\n".join(lines)
