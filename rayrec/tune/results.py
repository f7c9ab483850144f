"""The results table of a sweep: one row per trial, written as CSV and Parquet.

Columns: the trial's identity (``trial_id``, ``trial_name``, ``status``, ``error``,
``trial_dir``), its config (``algorithm``, ``seed``, and every algorithm field as
``config/<field>``, swept or fixed), its final training metrics (``training_iteration``,
``env_steps``, ``episode_return_mean``, losses ``L_*``, ``time_total_s``) and its final
evaluation in the evaluation simulator (``eval_*``) next to the random policy
(``random_*``). Rows come from Tune's experiment state, so a restarted trial appears
once, under its current id. Both files are replaced atomically.
"""

from __future__ import annotations

import io
import json
import math
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from rayrec.data.io import CSV_LINE_END, atomic_write_bytes
from rayrec.errors import InputError

RESULTS_CSV = "results.csv"
RESULTS_PARQUET = "results.parquet"
#: the spec as the sweep ran it, written next to Tune's state
SPEC_FILE = "rayrec_sweep.json"

#: final metrics copied from each trial's last result (besides L_*, eval_* and the
#: protocols' reference columns: random_*, …)
FINAL_METRICS = (
    "training_iteration",
    "env_steps",
    "episode_return_mean",
    "episode_len_mean",
    "train_seconds",
    "time_total_s",
)
IDENTITY = ("trial_id", "trial_name", "status", "error", "trial_dir")


def trial_row(trial: Any) -> dict[str, Any]:
    """One results row from a Tune ``Trial`` (config + final metrics + evaluation)."""
    config = dict(trial.config or {})
    config.pop("rayrec", None)  # run settings: the same for every trial, in SPEC_FILE
    algo_config = config.pop("config", {}) or {}
    res: Mapping[str, Any] = trial.last_result or {}
    row: dict[str, Any] = {
        "trial_id": trial.trial_id,
        "trial_name": str(trial),
        "status": str(trial.status),
        "error": _error_text(trial),
        "trial_dir": str(trial.path),
        **{k: _cell(v) for k, v in config.items()},
        **{f"config/{k}": _cell(v) for k, v in algo_config.items()},
    }
    for key in FINAL_METRICS:
        row[key] = _cell(res.get(key))
    copied = ("L_", "eval_", *reference_prefixes())
    for key, value in res.items():
        if key.startswith(copied):
            row[key] = _cell(value)
    return row


def reference_prefixes() -> tuple[str, ...]:
    """``<reference>_`` of every protocol's reference policies (``random_``,
    ``global_mean_``, …): the columns Tune reports next to ``eval_*``."""
    from rayrec.evaluation import PROTOCOLS  # imports torch: only when rows are built

    return tuple(sorted({f"{r}_" for p in PROTOCOLS.values() for r in p.references}))


def _cell(value: Any) -> Any:
    """Scalars as they are; anything else as JSON text (a Parquet column needs one type)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return json.dumps(value, default=str)


def _error_text(trial: Any) -> str:
    """The last line of the trial's error file (the exception), or ''."""
    if str(trial.status) != "ERROR":
        return ""
    name = getattr(trial.run_metadata, "error_filename", None)
    for folder in (trial.path, trial.local_path):
        path = Path(str(folder), name or "error.txt")
        if folder and path.is_file():
            lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
            if lines:
                return lines[-1][:300]
    return "error (see the trial folder)"


def results_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows → a frame with identity columns first, then config, then metrics."""
    frame = pd.DataFrame(rows)
    if "trial_id" in frame.columns:
        frame = frame.sort_values("trial_id", kind="stable").reset_index(drop=True)
    first = [c for c in IDENTITY if c in frame.columns]
    config_cols = sorted(c for c in frame.columns if c in ("algorithm", "seed") or "/" in c)
    rest = sorted(c for c in frame.columns if c not in first and c not in config_cols)
    return frame[first + config_cols + rest]


def write_results(experiment_dir: str) -> tuple[str, str, pd.DataFrame]:
    """Read the experiment's trials and write ``results.csv`` and ``results.parquet``
    into the experiment folder (a local path or a cloud URI).

    Returns:
        (csv path, parquet path, the table).

    Raises:
        InputError: when the folder holds no Tune experiment.
    """
    from ray.tune import ExperimentAnalysis

    try:
        analysis = ExperimentAnalysis(experiment_dir)
    except (ValueError, FileNotFoundError) as exc:
        raise InputError(f"{experiment_dir}: not a Tune experiment folder ({exc})") from exc
    frame = results_frame([trial_row(t) for t in analysis.trials])
    if "://" not in experiment_dir:
        csv_path, pq_path = write_table(frame, Path(experiment_dir))
        return str(csv_path), str(pq_path), frame
    import pyarrow.fs

    uri = experiment_dir.rstrip("/")
    with tempfile.TemporaryDirectory() as tmp:
        for local in write_table(frame, Path(tmp)):
            pyarrow.fs.copy_files(str(local), f"{uri}/{local.name}")
    return f"{uri}/{RESULTS_CSV}", f"{uri}/{RESULTS_PARQUET}", frame


def write_table(frame: pd.DataFrame, folder: Path) -> tuple[Path, Path]:
    """``frame`` as ``folder/results.csv`` and ``folder/results.parquet`` (atomic)."""
    csv_path, pq_path = folder / RESULTS_CSV, folder / RESULTS_PARQUET
    text = frame.to_csv(index=False, lineterminator=CSV_LINE_END)
    atomic_write_bytes(csv_path, text.encode("utf-8"))
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    atomic_write_bytes(pq_path, buf.getvalue())
    return csv_path, pq_path


def read_results(experiment_dir: str | Path) -> pd.DataFrame:
    """The results table of an experiment folder (Parquet if there, else CSV)."""
    exp = Path(experiment_dir)
    if (exp / RESULTS_PARQUET).is_file():
        return pd.read_parquet(exp / RESULTS_PARQUET)
    if (exp / RESULTS_CSV).is_file():
        return pd.read_csv(exp / RESULTS_CSV)
    raise InputError(
        f"{exp}: no {RESULTS_CSV} (run `rayrec tune` / `rayrec resume` to the end first)"
    )


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
