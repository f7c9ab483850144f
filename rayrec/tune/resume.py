"""Resume an interrupted sweep: what ``rayrec resume <experiment-dir>`` runs.

``Tuner.restore`` reloads Tune's last experiment snapshot (trial statuses, each
trial's latest checkpoint, the searcher, the run config with our callbacks): trials
that finished stay finished; unfinished ones continue from their latest checkpoint
(or start over when they had none); errored ones restart from scratch (``errored=
"restart"``, the default), continue from their checkpoint (``"resume"``) or stay
errored (``"skip"``). Rows a trial logged after the checkpoint it resumes from are
dropped from its logs before it continues (:mod:`rayrec.tune.progress`), so progress
never goes backwards. The results table is rewritten at the end.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rayrec.errors import InputError
from rayrec.tune.results import SPEC_FILE
from rayrec.tune.runner import SweepOutcome, ensure_ray, finish, trainable, tune_reporter
from rayrec.tune.spec import TuneSpec, spec_from_dict

ErroredMode = Literal["restart", "resume", "skip"]


def experiment_location(path: str) -> str:
    """An experiment folder as Tune wants it: absolute for a local path."""
    return path.rstrip("/") if "://" in path else str(Path(path).expanduser().resolve())


@dataclass(frozen=True)
class SweepRecord:
    """What ``rayrec tune`` recorded about a sweep (``rayrec_sweep.json``)."""

    spec: TuneSpec
    source: str
    smoke: bool


def read_spec_record(experiment_dir: str) -> SweepRecord | None:
    """The spec a local experiment ran with, if recorded."""
    if "://" in experiment_dir:
        return None
    path = Path(experiment_dir) / SPEC_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("spec"), dict):
        raise InputError(f"{path}: expected a mapping with a 'spec' mapping")
    spec = spec_from_dict(data["spec"], f"{path}: spec")
    return SweepRecord(spec, str(data.get("source", "")), bool(data.get("smoke", False)))


def resume_sweep(
    experiment_dir: str, *, errored: ErroredMode = "restart", tune_output: bool = False
) -> SweepOutcome:
    """Finish the unfinished trials of an experiment and rewrite its results table
    (``tune_output``: show Tune's own reporter too, :func:`~rayrec.tune.runner.tune_reporter`).

    Raises:
        InputError: when the folder holds no restorable Tune experiment.
    """
    from ray import tune

    exp = experiment_location(experiment_dir)
    if "://" not in exp and not Path(exp).is_dir():
        raise InputError(f"{exp}: no such experiment folder")
    if not tune.Tuner.can_restore(exp):
        raise InputError(
            f"{exp}: no Tune experiment state to resume (expected tuner.pkl and"
            " experiment_state-*.json; the driver may have died before its first snapshot:"
            " start the sweep again with `rayrec tune`)"
        )
    ensure_ray()
    start = time.perf_counter()
    tuner = tune.Tuner.restore(
        exp,
        trainable=trainable(),
        resume_unfinished=True,
        resume_errored=errored == "resume",
        restart_errored=errored == "restart",
    )
    with tune_reporter(tune_output):
        tuner.fit()
    return finish(exp, start)
