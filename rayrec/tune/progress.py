"""Tune callbacks of a rayrec sweep: the concise progress table and resume-safe logs.

- :class:`ProgressTable` logs a short table (trial, status, swept values, iteration,
  env steps, training return, final evaluation) to the ``rayrec.tune.progress`` logger
  every ``interval_s`` seconds and a line when a trial ends; the CLI shows that logger
  on stdout. Tune's own reporter prints the whole config, so it runs silent
  (:func:`rayrec.tune.runner.tune_reporter`). After an interrupt the table's statuses
  are true: trials Tune stopped unfinished show as INTERRUPTED, never started ones as
  PENDING (Tune marks both TERMINATED).
- :class:`ResumableCSVLogger` / :class:`ResumableJsonLogger` are Tune's
  ``progress.csv`` / ``result.json`` writers, made safe for restarts (ours). When a
  trial restarts — from its last checkpoint after a failure (``FailureConfig``), or
  after the driver died (``rayrec resume``) — Tune appends to the old files, though the
  rows after that checkpoint describe work that is being redone (the driver logs a
  row before its experiment snapshot records the checkpoint). These writers drop,
  before the first new row, every row whose ``training_iteration`` is not below the
  new row's, so each trial's log is one history whose iterations only go up.
  Tune's ``progress.csv`` also fixes its columns from a trial's first row, and on
  continuing writes rows in the new row's key order under the old header; the CSV
  writer here keeps the existing header instead.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ray.tune.callback import Callback
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback
from ray.tune.result import EXPR_PROGRESS_FILE, EXPR_RESULT_FILE, TRAINING_ITERATION
from ray.tune.utils import flatten_dict

from rayrec.data.io import CSV_LINE_END, atomic_write_text

#: where the progress table goes (the CLI prints this logger's records on stdout)
PROGRESS_LOGGER = "rayrec.tune.progress"
log = logging.getLogger(PROGRESS_LOGGER)

#: (result key, column title, format) of the metrics shown in the table
METRIC_COLUMNS: tuple[tuple[str, str, str], ...] = (
    (TRAINING_ITERATION, "iter", "{:.0f}"),
    ("env_steps", "env steps", "{:.0f}"),
    ("episode_return_mean", "return", "{:.3f}"),
    ("eval_total_reward", "eval reward", "{:.3f}"),
    ("eval_depth", "eval depth", "{:.2f}"),
)


def metric_columns(shown: Sequence[str]) -> tuple[tuple[str, str, str], ...]:
    """The table's columns for a protocol whose first two shown metrics are ``shown``
    (``("rmse", "mae")``: eval rmse, eval mae), after iteration, env steps and return."""
    return (
        *METRIC_COLUMNS[:3],
        *((f"eval_{m}", f"eval {m}", "{:.3f}") for m in shown[:2]),
    )


class ProgressTable(Callback):
    """A concise table of the sweep's trials, logged every ``interval_s`` seconds.

    Args:
        params: flattened trial-config keys to show (the swept ones), e.g.
            ``["config/hyper_actor_coef", "seed"]``.
        interval_s: seconds between tables (a table is also logged at the end).
        clock: time source (tests pass a fake one).
        columns: (result key, title, format) of the metrics shown (default: the slate
            protocol's, :data:`METRIC_COLUMNS`; :func:`metric_columns` for another).
        headline / reference: the protocol's headline metric and a reference policy's
            name, in the line logged when a trial finishes (``eval_<headline>`` next to
            ``<reference>_<headline>``).
    """

    def __init__(
        self,
        params: Sequence[str],
        interval_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        columns: Sequence[tuple[str, str, str]] = METRIC_COLUMNS,
        headline: str = "total_reward",
        reference: str = "random",
    ) -> None:
        self.params = list(params)
        self.interval_s = interval_s
        self.clock = clock
        self.columns = tuple(columns)
        self.headline, self.reference = headline, reference
        self._last: float | None = None
        self._shown: tuple[Any, ...] = ()
        self._completed: set[str] = set()  # trials that ended by themselves (or a scheduler)
        self._before_end: dict[str, str] = {}  # each trial's status at the last step

    def status(self, trial: Any) -> str:
        """The trial's status as it is: when a sweep is interrupted, Tune stops the
        live trials and marks them TERMINATED, finished or not; those show as
        INTERRUPTED (they were running) or with their status before (PENDING: never
        started), as Tune's snapshot records them for ``rayrec resume``."""
        status = str(trial.status)
        if status != "TERMINATED" or trial.trial_id in self._completed:
            return status
        before = self._before_end.get(trial.trial_id, status)
        if before == "TERMINATED":  # finished before this session (a resumed sweep)
            return status
        return "INTERRUPTED" if before == "RUNNING" else before

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        self._before_end = {t.trial_id: str(t.status) for t in trials}
        now = self.clock()
        if self._last is None:
            self._last = now  # first table after one interval, once trials have run
            return
        if now - self._last < self.interval_s:
            return
        self._last = now
        state = self._state(trials)
        if state != self._shown:  # nothing new: no table
            self._shown = state
            log.info(self.table(trials))

    def _state(self, trials: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(
            (t.trial_id, self.status(t), (t.last_result or {}).get(TRAINING_ITERATION))
            for t in trials
        )

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._completed.add(trial.trial_id)
        res = trial.last_result or {}
        log.info(
            "%s finished: %s iterations, eval %s %s (%s %s)",
            trial,
            _fmt(res.get(TRAINING_ITERATION), "{:.0f}"),
            self.headline,
            _fmt(res.get(f"eval_{self.headline}"), "{:.3f}"),
            self.reference,
            _fmt(res.get(f"{self.reference}_{self.headline}"), "{:.3f}"),
        )

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        log.info("%s failed (error in %s)", trial, trial.path)

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        log.info(self.table(trials))

    def table(self, trials: Sequence[Any]) -> str:
        """The table of ``trials`` (Tune ``Trial`` objects) as text."""
        heads = ["trial", "status", *(p.removeprefix("config/") for p in self.params)]
        heads += [title for _, title, _ in self.columns]
        rows = []
        for trial in trials:
            flat = flatten_dict(trial.config or {}, delimiter="/")
            res = trial.last_result or {}
            rows.append(
                [str(trial), self.status(trial)]
                + [_fmt(flat.get(p), "{}") for p in self.params]
                + [_fmt(res.get(key), fmt) for key, _, fmt in self.columns]
            )
        counts: dict[str, int] = {}
        for status in map(self.status, trials):
            counts[status] = counts.get(status, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        return f"trials: {summary}\n" + format_table(heads, rows)


def format_table(heads: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned text columns, two spaces apart."""
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(heads)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _fmt(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isnan(value):
        return "-"
    try:
        return fmt.format(value)
    except (TypeError, ValueError):
        return str(value)


# ------------------------------------------------------------ resume-safe logs
def keep_csv_rows_before(path: Path, iteration: int) -> list[str] | None:
    """Rewrite ``path`` (a progress.csv) keeping rows with ``training_iteration <
    iteration``; return the header kept, or None when no row is left (file removed)."""
    if not path.is_file() or path.stat().st_size == 0:
        path.unlink(missing_ok=True)
        return None
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or [])
        rows = [r for r in reader if _iteration(r.get(TRAINING_ITERATION)) < iteration]
    if not rows or TRAINING_ITERATION not in header:
        path.unlink()
        return None
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator=CSV_LINE_END)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())
    return header


def keep_json_rows_before(path: Path, iteration: int) -> None:
    """Rewrite ``path`` (a result.json: one JSON object a line) keeping the lines with
    ``training_iteration < iteration`` (a torn last line is dropped too)."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if _iteration(row.get(TRAINING_ITERATION)) < iteration:
            kept.append(line)
    atomic_write_text(path, "".join(f"{line}\n" for line in kept))


def _iteration(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.inf  # unreadable rows are dropped


class ResumableCSVLogger(CSVLoggerCallback):
    """Tune's ``progress.csv`` writer; a restarted trial's log continues without the
    rows of the redone iterations, under the existing header. Its lines end with
    ``\n`` like every CSV file rayrec writes (Tune's own writer ends them ``\r\n``)."""

    def log_trial_result(self, iteration: int, trial: Any, result: dict[str, Any]) -> None:
        if trial not in self._trial_files:
            self._setup_trial(trial)  # fetches the remote copy, opens for appending
            self._trial_files[trial].close()
            path = Path(trial.local_path, EXPR_PROGRESS_FILE)
            header = keep_csv_rows_before(path, int(result.get(TRAINING_ITERATION, 1)))
            fh = path.open("a", newline="")
            self._trial_files[trial] = fh
            self._trial_continue[trial] = True  # the header is written here
            writer = csv.DictWriter(
                fh,
                header if header is not None else list(_flat_result(result)),
                extrasaction="ignore",
                lineterminator=CSV_LINE_END,
            )
            if header is None:
                writer.writeheader()
            writers: dict[Any, Any] = self._trial_csv
            writers[trial] = writer
        super().log_trial_result(iteration, trial, result)


def _flat_result(result: dict[str, Any]) -> dict[str, Any]:
    """A result as Tune's CSV logger writes it: without ``config``, nested keys joined
    with ``/``."""
    return flatten_dict({k: v for k, v in result.items() if k != "config"}, delimiter="/")


class ResumableJsonLogger(JsonLoggerCallback):
    """Tune's ``result.json`` writer; a restarted trial's log continues without the
    lines of the redone iterations."""

    def __init__(self) -> None:
        super().__init__()
        self._fresh: set[Any] = set()

    def log_trial_start(self, trial: Any) -> None:
        super().log_trial_start(trial)
        self._fresh.add(trial)

    def log_trial_result(self, iteration: int, trial: Any, result: dict[str, Any]) -> None:
        if trial not in self._trial_files:
            self.log_trial_start(trial)
        if trial in self._fresh:
            self._fresh.discard(trial)
            self._trial_files[trial].close()
            path = Path(trial.local_path, EXPR_RESULT_FILE)
            keep_json_rows_before(path, int(result.get(TRAINING_ITERATION, 1)))
            self._trial_files[trial] = path.open("at")
        super().log_trial_result(iteration, trial, result)

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        self._fresh.discard(trial)
        super().log_trial_end(trial, failed)
