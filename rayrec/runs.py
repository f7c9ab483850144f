"""A run folder's lifecycle: where a run writes, and what its folder says it is.

Every ``rayrec train`` run (and every run of a table) owns one folder:

- ``status.json``: what the folder is — ``running``, ``finished``, ``interrupted`` or
  ``failed`` — with the last completed iteration, the last checkpoint's iteration,
  the pid and host of the process, start / update / end times (UTC), the command, the
  run's options, the error of a failed run and the command that resumes an unfinished
  one. Written atomically when the run starts, after each iteration and at the end.
- ``progress.csv``: one row per iteration, appended as each one completes (one header;
  the file is rewritten, atomically, only when a column appears — the losses once
  learning starts — and once on resume, to drop the rows after the checkpoint, which
  the resumed run trains again).
- ``checkpoint/``, ``tensorboard/`` and, for a finished run only, ``result.json``.

A folder is claimed atomically (:func:`claim`): a new folder is refused when it holds
anything, unless the run resumes it (from its checkpoint) or overwrites it; a folder a
live process is writing is never taken. Default folders never collide
(:func:`new_run_folder`: ``<root>/001``, ``002``, ... created with an exclusive
``mkdir``, and ``<root>/latest`` pointing at the newest). :class:`Interrupts` turns
SIGINT / SIGTERM into a request to stop after the current iteration.

This module knows folders, files and signals; what a run trains is
:mod:`rayrec.train`'s.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import logging
import os
import shlex
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Literal

from rayrec.data.io import CSV_LINE_END, atomic_write_text
from rayrec.errors import InputError

log = logging.getLogger(__name__)

STATUS_FILE = "status.json"
PROGRESS_FILE = "progress.csv"
RESULT_FILE = "result.json"
CHECKPOINT_DIR = "checkpoint"
TENSORBOARD_DIR = "tensorboard"
#: in a folder of numbered runs: the newest (a symlink, or a file naming it)
LATEST = "latest"

RUNNING = "running"
FINISHED = "finished"
INTERRUPTED = "interrupted"
FAILED = "failed"
STATES = (RUNNING, FINISHED, INTERRUPTED, FAILED)

#: what to do with an output folder that already holds something
Existing = Literal["refuse", "resume", "overwrite"]
#: files that make a folder without ``status.json`` a run folder of an older rayrec
_RUN_FILES = (PROGRESS_FILE, RESULT_FILE, CHECKPOINT_DIR, TENSORBOARD_DIR)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def resume_command(folder: Path) -> str:
    """The command that continues the run in ``folder``."""
    return f"rayrec train --resume {shlex.quote(str(folder))}"


# ------------------------------------------------------------------ the status
@dataclass
class RunStatus:
    """The content of ``status.json``.

    Attributes:
        status: one of :data:`STATES`.
        iteration: the last completed iteration (0 before the first).
        checkpoint: the last checkpoint's counters (``iteration``, ``env_steps``,
            ``train_seconds``), or None before the first.
        pid, host: the process that runs (or ran) it.
        started, updated, ended: UTC times (ISO 8601); ``ended`` None while running.
        command: the command line that started (or last resumed) the run.
        options: the run's options (:class:`rayrec.train.TrainOptions` as a dict).
        error: why a failed run failed.
        resume: the command that continues an interrupted or failed run.
    """

    status: str
    iteration: int = 0
    checkpoint: dict[str, float] | None = None
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)
    started: str = field(default_factory=_now)
    updated: str = field(default_factory=_now)
    ended: str | None = None
    command: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    resume: str | None = None

    @property
    def checkpoint_iteration(self) -> int | None:
        return None if self.checkpoint is None else int(self.checkpoint["iteration"])

    def describe(self) -> str:
        """``"an interrupted run (iteration 3, checkpoint at 3)"``."""
        ckpt = self.checkpoint_iteration
        at = f"iteration {self.iteration}" + (
            f", checkpoint at {ckpt}" if ckpt is not None else ", no checkpoint"
        )
        article = "an" if self.status[0] in "aeiou" else "a"
        return f"{article} {self.status} run ({at})"


def read_status(folder: Path) -> RunStatus | None:
    """``folder``'s ``status.json``, or None when it has none.

    Raises:
        InputError: naming the file when it is not a status rayrec wrote.
    """
    path = Path(folder) / STATUS_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        known = {f.name for f in dataclasses.fields(RunStatus)}
        status = RunStatus(**{k: v for k, v in data.items() if k in known})
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(f"{path}: expected a rayrec run status (JSON), got {exc}") from exc
    if status.status not in STATES:
        raise InputError(
            f"{path}: status: expected one of {', '.join(STATES)}, got {status.status!r}"
        )
    return status


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def writer_alive(status: RunStatus) -> bool:
    """Whether the process that wrote a ``running`` status still runs (on this host;
    a status from another host is taken as not running)."""
    return (
        status.status == RUNNING
        and status.host == socket.gethostname()
        and status.pid != os.getpid()
        and _alive(status.pid)
    )


# ------------------------------------------------------------ default folders
def default_run_root(algo: str, env: str, seed: int, base: Path = Path("runs/train")) -> Path:
    """``runs/train/<algo>-<env name>-s<seed>``: the folder of a run's numbered runs."""
    return base / f"{algo}-{Path(env).stem}-s{seed}"


def new_run_folder(root: Path, *, attempts: int = 10_000) -> Path:
    """A new, empty numbered run folder in ``root`` (``001``, ``002``, ...), created
    atomically: concurrent callers never get the same one. ``root/latest`` then points
    at it.

    Raises:
        InputError: when ``root`` cannot hold a new folder.
    """
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{root}: cannot create the run folder ({exc.strerror})") from exc
    numbers = [int(p.name) for p in root.iterdir() if p.name.isdigit()]
    number = max(numbers, default=0) + 1
    for _ in range(attempts):
        folder = root / f"{number:03d}"
        try:
            folder.mkdir()
        except FileExistsError:
            number += 1
            continue
        _point_latest(root, folder.name)
        return folder
    raise InputError(f"{root}: no free run folder after {attempts} tries")


def _point_latest(root: Path, name: str) -> None:
    """``root/latest`` -> ``name``: a relative symlink swapped in atomically, or a small
    file holding the name where symlinks cannot be made."""
    link = root / LATEST
    tmp = root / f".{LATEST}.{os.getpid()}.{threading.get_ident()}"
    try:
        tmp.symlink_to(name, target_is_directory=True)
        tmp.replace(link)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if link.is_symlink() or link.is_dir():
            with contextlib.suppress(OSError):
                link.unlink()
        atomic_write_text(link, name + "\n")


def latest_run(root: Path) -> Path | None:
    """The run ``root/latest`` points at, or None."""
    link = Path(root) / LATEST
    if link.is_symlink():
        target = Path(root) / os.readlink(link)
    elif link.is_file():
        target = Path(root) / link.read_text().strip()
    else:
        return None
    return target if target.is_dir() else None


def resolve_run_folder(path: Path) -> Path:
    """``path`` itself when it is a run folder, else the run its ``latest`` points at
    (``rayrec train --resume runs/train/hac-synthetic-s0`` continues the newest run);
    ``.../latest`` itself is the run it points at now."""
    path = Path(path)
    if path.name == LATEST and (path.is_symlink() or path.is_file()):
        target = latest_run(path.parent)
        if target is not None:
            return target
    if (path / STATUS_FILE).is_file():
        return path
    latest = latest_run(path)
    return latest if latest is not None else path


# ------------------------------------------------------------- claiming a folder
@dataclass
class RunFolder:
    """A claimed run folder and its status (kept in ``status.json``).

    Attributes:
        path: the folder.
        status: the current status, as last written.
        resumes_from: on resume, the iteration of the checkpoint the run continues
            from (0: no checkpoint, the run starts over); None for a new run.
        previous: on resume, the status the folder had.
    """

    path: Path
    status: RunStatus
    resumes_from: int | None = None
    previous: RunStatus | None = None

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT_DIR

    @property
    def progress(self) -> Path:
        return self.path / PROGRESS_FILE

    @property
    def result(self) -> Path:
        return self.path / RESULT_FILE

    @property
    def tensorboard(self) -> Path:
        return self.path / TENSORBOARD_DIR

    def write(self, **changes: Any) -> None:
        """Update the status (``updated`` set to now) and write it atomically."""
        self.status = dataclasses.replace(self.status, updated=_now(), **changes)
        text = json.dumps(dataclasses.asdict(self.status), indent=2, default=str) + "\n"
        atomic_write_text(self.path / STATUS_FILE, text)

    def iteration_done(self, iteration: int, checkpoint: Mapping[str, float] | None) -> None:
        """After an iteration: its number and, when one was taken, the checkpoint's
        counters."""
        changes: dict[str, Any] = {"iteration": iteration}
        if checkpoint is not None:
            changes["checkpoint"] = dict(checkpoint)
        self.write(**changes)

    def finished(self) -> None:
        self.write(status=FINISHED, ended=_now(), resume=None, error=None)

    def interrupted(self) -> None:
        self.write(status=INTERRUPTED, ended=_now(), resume=resume_command(self.path))

    def failed(self, error: BaseException) -> None:
        text = f"{type(error).__name__}: {error}".strip()
        self.write(status=FAILED, ended=_now(), error=text, resume=resume_command(self.path))


def _is_empty(folder: Path) -> bool:
    return not folder.exists() or (folder.is_dir() and not any(folder.iterdir()))


def claim(
    path: Path,
    existing: Existing,
    *,
    options: Mapping[str, Any],
    command: str,
    flags: tuple[str, str] = ("--resume", "--overwrite"),
) -> RunFolder:
    """Take ``path`` for a run and mark it ``running``.

    ``existing`` says what to do when ``path`` holds something: ``"refuse"`` (an
    :class:`InputError` naming the folder and ``flags``), ``"resume"`` (continue its
    run: the checkpoint's iteration is :attr:`RunFolder.resumes_from`; ``result.json``
    of a finished run is removed, the run is not finished any more) or
    ``"overwrite"`` (delete it first; only a run folder — one with ``status.json`` or
    the files an older rayrec wrote — is ever deleted). A folder whose ``running``
    status names a live process is never taken. A new folder is claimed atomically:
    of two runs starting into one folder, the second is refused.

    Raises:
        InputError: the folder is refused, in use, or not a folder rayrec can resume.
    """
    path = Path(path)
    resume_flag, overwrite_flag = flags
    if path.exists() and not path.is_dir():
        raise InputError(f"{path}: expected a folder for the run's outputs, got a file")
    status = read_status(path) if path.is_dir() else None
    if status is not None and writer_alive(status):
        raise InputError(
            f"{path}: a run (pid {status.pid}, started {status.started}) is still writing"
            " this folder; wait for it to end or choose another --out"
        )
    if existing == "resume":
        return _claim_for_resume(path, status, options, command)
    if not _is_empty(path):
        if existing == "refuse":
            what = status.describe() if status is not None else "files"
            raise InputError(
                f"{path}: the output folder already holds {what}; pass {resume_flag} to"
                f" continue it, {overwrite_flag} to replace it, or choose another --out"
            )
        if status is None and not any((path / name).exists() for name in _RUN_FILES):
            raise InputError(
                f"{path}: not a rayrec run folder (no {STATUS_FILE}); {overwrite_flag} only"
                " replaces run folders — choose another --out"
            )
        shutil.rmtree(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path / STATUS_FILE, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError as exc:
        raise InputError(
            f"{path}: another run claimed this folder just now; choose another --out"
        ) from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot create the run folder ({exc.strerror})") from exc
    os.close(fd)
    folder = RunFolder(path, RunStatus(RUNNING, command=command, options=dict(options)))
    folder.write()
    return folder


def _claim_for_resume(
    path: Path, status: RunStatus | None, options: Mapping[str, Any], command: str
) -> RunFolder:
    if status is None:
        if _is_empty(path):
            raise InputError(f"{path}: no run to resume (the folder is empty or missing)")
        raise InputError(
            f"{path}: no {STATUS_FILE}, so not a run rayrec can resume (made by an older"
            " rayrec, or not a run folder); --overwrite replaces it"
        )
    checkpoint_at = status.checkpoint_iteration
    resumes_from = checkpoint_at if checkpoint_at is not None and _has_checkpoint(path) else 0
    (path / RESULT_FILE).unlink(missing_ok=True)
    folder = RunFolder(
        path,
        dataclasses.replace(
            status,
            status=RUNNING,
            iteration=resumes_from,
            checkpoint=status.checkpoint if resumes_from else None,
            pid=os.getpid(),
            host=socket.gethostname(),
            ended=None,
            command=command,
            options=dict(options),
            error=None,
            resume=None,
        ),
        resumes_from=resumes_from,
        previous=status,
    )
    folder.write()
    return folder


def _has_checkpoint(path: Path) -> bool:
    ckpt = path / CHECKPOINT_DIR
    return ckpt.is_dir() and any(ckpt.iterdir())


# ------------------------------------------------------------------ progress
class ProgressLog:
    """``progress.csv``: one row per iteration, appended.

    Columns are ``leading`` (those present) then the others sorted, so their order is
    the same in every run. A row with a column the header lacks (the losses, once
    learning starts) rewrites the file once, atomically, with the wider header.

    Args:
        path: the CSV file (continued when it exists).
        leading: the columns that come first, in this order.
    """

    def __init__(self, path: Path, leading: Sequence[str] = ("iteration",)) -> None:
        self.path = Path(path)
        self.leading = tuple(leading)
        self.columns: list[str] = []
        if self.path.is_file():
            with self.path.open(newline="") as fh:
                self.columns = next(csv.reader(fh), [])

    def rows(self) -> list[dict[str, str]]:
        """The rows written so far (values as text)."""
        if not self.path.is_file():
            return []
        with self.path.open(newline="") as fh:
            return list(csv.DictReader(fh))

    def _order(self, keys: Iterable[str]) -> list[str]:
        keys = set(keys)
        first = [k for k in self.leading if k in keys]
        return first + sorted(keys - set(first))

    def keep_through(self, iteration: int) -> dict[str, str] | None:
        """Drop the rows after ``iteration`` (a resumed run trains them again); the
        last row kept, or None (then the file is removed)."""
        rows = [r for r in self.rows() if int(r["iteration"]) <= iteration]
        if not rows:
            self.path.unlink(missing_ok=True)
            self.columns = []
            return None
        self._rewrite(self.columns, rows)
        return rows[-1]

    def append(self, row: Mapping[str, Any]) -> None:
        """Add one iteration's row."""
        if not self.columns:
            self.columns = self._order(row)
            self._rewrite(self.columns, [row])
            return
        if any(k not in self.columns for k in row):
            self._rewrite(self._order([*self.columns, *row]), [*self.rows(), row])
            return
        with self.path.open("a", newline="") as fh:
            csv.DictWriter(fh, fieldnames=self.columns, lineterminator=CSV_LINE_END).writerow(row)

    def _rewrite(self, columns: list[str], rows: Iterable[Mapping[str, Any]]) -> None:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator=CSV_LINE_END)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.path, buf.getvalue())
        self.columns = list(columns)


# ---------------------------------------------------------------- interrupts
class RunInterrupted(KeyboardInterrupt):
    """A run stopped by SIGINT / SIGTERM; its folder is marked ``interrupted``.

    A :class:`KeyboardInterrupt`, so code that does not know runs treats it as the
    interrupt it is.

    Attributes:
        folder: the run folder.
        iteration: the last completed iteration.
        checkpoint_iteration: the iteration of the folder's checkpoint (None: none).
        signum: the signal (SIGINT when a plain KeyboardInterrupt stopped it).
        abandoned: whether an iteration in progress was abandoned (a second signal)
            rather than completed.
    """

    def __init__(
        self,
        folder: Path,
        iteration: int,
        checkpoint_iteration: int | None,
        signum: int,
        *,
        abandoned: bool = False,
    ) -> None:
        super().__init__(f"{folder}: interrupted after iteration {iteration}")
        self.folder = folder
        self.iteration = iteration
        self.checkpoint_iteration = checkpoint_iteration
        self.signum = signum
        self.abandoned = abandoned

    @property
    def exit_code(self) -> int:
        """128 + the signal: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name


class Interrupts:
    """SIGINT / SIGTERM while a run trains: the first asks the run to stop after the
    iteration in progress (:attr:`requested`; the run then checkpoints and marks its
    folder interrupted), a second abandons it at once (a ``KeyboardInterrupt``).

    A context manager; the handlers are installed only in the main thread and the
    previous ones are restored on exit. Enter it after ``ray.init`` (which installs
    its own SIGTERM handler).

    Args:
        notify: called with the signal number when the first signal arrives (from the
            signal handler: keep it short).
    """

    def __init__(self, notify: Callable[[int], None] | None = None) -> None:
        self.notify = notify
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum
        if self.notify is not None:
            self.notify(signum)

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


__all__ = [
    "CHECKPOINT_DIR",
    "FAILED",
    "FINISHED",
    "INTERRUPTED",
    "LATEST",
    "PROGRESS_FILE",
    "RESULT_FILE",
    "RUNNING",
    "STATUS_FILE",
    "Existing",
    "Interrupts",
    "ProgressLog",
    "RunFolder",
    "RunInterrupted",
    "RunStatus",
    "claim",
    "default_run_root",
    "latest_run",
    "new_run_folder",
    "read_status",
    "resolve_run_folder",
    "resume_command",
    "writer_alive",
]
