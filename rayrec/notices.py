"""Notices of Ray, RLlib, Tune and gymnasium that a rayrec user cannot act on, and the
filters that hold them back (the command line installs them unless ``-v`` / ``--debug``).

Each :class:`Notice` names the logger that emits it (the emitting module's logger: a
filter on a logger applies to the records logged on it, not to its children's) and the
start of its message, and says why it is held back. Filters match the message only, so
every other record of the same logger still shows: a notice that is not listed here is
printed, as a new one should be until someone decides it is noise.

Two kinds of output cannot be filtered here (:data:`UNFILTERABLE`): what Ray's
processes print themselves (the raylet and GCS start before any rayrec code runs in
them, and their logs go to Ray's session folder), and Python warnings raised in Ray
worker processes (env runners, Tune trials), whose output reaches the terminal only
with ``log_to_driver=True`` (rayrec starts Ray with ``log_to_driver=False``).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass


@dataclass(frozen=True)
class Notice:
    """One notice held back: its logger, the start of its message, and why."""

    logger: str
    starts: str
    why: str


#: The notices held back by default.
NOTICES: tuple[Notice, ...] = (
    Notice(
        "ray._private.authentication.authentication_token_setup",
        "Token authentication is enabled for this Ray cluster",
        "printed on every local Ray start; token authentication stays on (a cluster with"
        " it disabled is still reported: that one a user can act on)",
    ),
    Notice(
        "ray.rllib.algorithms.algorithm_config",
        "You are running ",
        "'You are running X on the new API stack': rayrec's algorithms are built for it",
    ),
    Notice(
        "ray._common.deprecation",
        "DeprecationWarning: ",
        "RLlib calling its own deprecated APIs (e.g. RLModule(config=...) when a module"
        " is restored for `rayrec evaluate`): nothing in rayrec's input changes it",
    ),
    Notice(
        "ray.tune.tune",
        "Experiment has been interrupted, but the most recent state was saved",
        "Tune's Tuner.restore hint: rayrec prints its own (`rayrec resume DIR`)",
    ),
    Notice(
        "ray.tune.tune",
        "Trials did not complete",
        "Tune's list of unfinished trials: rayrec's summary counts them",
    ),
    Notice(
        "ray.tune.execution.experiment_state",
        "Experiment state snapshotting has been triggered multiple times",
        "Tune's snapshot timing advice: a snapshot follows every checkpoint of a trial"
        " when num_to_keep is set, as a resumable sweep needs",
    ),
    Notice(
        "ray.tune.execution.experiment_state",
        "Saving the experiment state (which holds a global view",
        "Tune's snapshot timing advice (slow storage): nothing to change in a sweep spec",
    ),
    Notice(
        "ray.tune.analysis.experiment_analysis",
        "Failed to fetch metrics for ",
        "trials that never started have no metrics yet; the results table shows them as"
        " unfinished, with `rayrec resume` to run them",
    ),
    Notice(
        "ray.tune.utils.util",
        "Install gputil for GPU system monitoring",
        "Tune's optional GPU utilisation monitor",
    ),
    Notice(
        "ray.tune.utils.callback",
        "The TensorboardX logger cannot be instantiated",
        "Tune's own TensorBoard logs (rayrec writes its own)",
    ),
)

#: Python warnings held back: (message regex, why). gymnasium colours its warnings, so
#: the text may start with an escape sequence.
WARNINGS: tuple[tuple[str, str], ...] = (
    (
        r"(\x1b\[\d+m)?WARN: Overriding environment ",
        "gymnasium, each time RLlib registers its vector env entry point again in one"
        " process (a second run, the evaluation)",
    ),
)

#: What still reaches the terminal and why it cannot be filtered here.
UNFILTERABLE: tuple[tuple[str, str], ...] = (
    (
        "Ray's own processes (raylet, GCS, dashboard agent) and their C++ logs",
        "they start before rayrec code runs in them; their output goes to Ray's session"
        " folder (/tmp/ray/session_*/logs), and what they print to the terminal comes from"
        " another process",
    ),
    (
        "warnings and logs inside Ray workers (env runners, Tune trials)",
        "they run in other processes; rayrec starts Ray with log_to_driver=False, so they"
        " stay in the session folder unless a cluster forwards them",
    ),
    (
        "Tune's 'Stop signal received ... Press CTRL+C to skip' on the first Ctrl-C",
        "kept on purpose: it says how to skip the last snapshot, which a user can act on",
    ),
)


class NoticeFilter(logging.Filter):
    """Drops the records of one logger whose message starts with one of ``starts``."""

    def __init__(self, starts: tuple[str, ...]) -> None:
        super().__init__()
        self.starts = starts

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: let its handler report it
            return True
        return not message.startswith(self.starts)


def notice_filters() -> dict[str, NoticeFilter]:
    """One :class:`NoticeFilter` per logger of :data:`NOTICES`."""
    by_logger: dict[str, list[str]] = {}
    for notice in NOTICES:
        by_logger.setdefault(notice.logger, []).append(notice.starts)
    return {name: NoticeFilter(tuple(starts)) for name, starts in by_logger.items()}


def hold_back_notices() -> None:
    """Install the filters of :data:`NOTICES` and :data:`WARNINGS` (installing again
    replaces the earlier filters; the warnings filter goes first, so it wins)."""
    show_notices()
    for name, flt in notice_filters().items():
        logging.getLogger(name).addFilter(flt)
    for pattern, _ in WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)


def show_notices() -> None:
    """Remove what :func:`hold_back_notices` installed (``-v``: every notice shows)."""
    for name in {n.logger for n in NOTICES}:
        target = logging.getLogger(name)
        for flt in [f for f in target.filters if isinstance(f, NoticeFilter)]:
            target.removeFilter(flt)
    for pattern, _ in WARNINGS:  # ahead of the "ignore" filter, so it wins
        warnings.filterwarnings("default", message=pattern)


__all__ = [
    "NOTICES",
    "UNFILTERABLE",
    "WARNINGS",
    "Notice",
    "NoticeFilter",
    "hold_back_notices",
    "notice_filters",
    "show_notices",
]
