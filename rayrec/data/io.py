"""File access for dataset readers: compressed variants, fingerprints, atomic writes.

Every dataset file may be stored plain or compressed (``.gz``, ``.xz``, ``.bz2``,
``.zip``). :func:`find_file` resolves a logical name such as ``ratings.dat`` to
whichever variant exists; :func:`read_bytes` returns the decompressed content.
Inputs are only ever opened for reading. What rayrec writes atomically (through a
temporary file or folder renamed into place) gets the modes of any file the user
creates (the umask's: 0644 / 0755 under the usual 022), and CSV files end their lines
with ``\n`` (:data:`CSV_LINE_END`).
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import lzma
import os
import secrets
import shutil
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from rayrec.errors import DataValidationError, InputError, Problem

T = TypeVar("T")

COMPRESSED_SUFFIXES: tuple[str, ...] = (".gz", ".xz", ".bz2", ".zip")

#: Environment variable naming the root that holds one folder per dataset.
DATA_ENV = "RAYREC_DATA"
#: Environment variable naming the cache root (default ``~/.cache/rayrec``).
CACHE_ENV = "RAYREC_CACHE"
#: The line ending of every CSV file rayrec writes (``csv.writer(..., lineterminator=)``;
#: the csv module's default is ``\r\n``).
CSV_LINE_END = "\n"


def candidates(directory: Path, name: str) -> list[Path]:
    """The paths under which ``name`` may be stored in ``directory``, plain first."""
    return [directory / name, *(directory / (name + s) for s in COMPRESSED_SUFFIXES)]


def find_file(directory: Path, names: str | Sequence[str], *, required: bool = True) -> Path | None:
    """Return the first existing plain or compressed variant of any of ``names``.

    Raises:
        InputError: when ``required`` and none exists; the message lists what was tried.
    """
    options = [names] if isinstance(names, str) else list(names)
    for name in options:
        for path in candidates(directory, name):
            if path.is_file():
                return path
    if required:
        tried = ", ".join(f"'{n}'" for n in options)
        raise InputError(
            f"{directory}: expected the file {tried} (plain or {'/'.join(COMPRESSED_SUFFIXES)}),"
            " found none"
        )
    return None


def display_name(path: Path, root: Path) -> str:
    """The path as shown in messages: relative to the dataset root when inside it."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def read_bytes(path: Path, *, shown_as: str | None = None) -> bytes:
    """Read a file, decompressing by suffix.

    Raises:
        DataValidationError: when the compressed stream is corrupt or truncated.
    """
    shown = shown_as or str(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        if suffix == ".xz":
            with lzma.open(path, "rb") as fh:
                return fh.read()
        if suffix == ".bz2":
            with bz2.open(path, "rb") as fh:
                return fh.read()
        if suffix == ".zip":
            return _read_zip_member(path, shown)
        return path.read_bytes()
    except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile) as exc:
        if isinstance(exc, FileNotFoundError):
            raise InputError(f"{shown}: file not found") from exc
        raise DataValidationError(
            [Problem(shown, None, None, f"a readable {suffix or 'plain'} file", str(exc))]
        ) from exc


def _read_zip_member(path: Path, shown: str) -> bytes:
    """A ``name.zip`` holds ``name`` (possibly in a folder) or exactly one file."""
    with zipfile.ZipFile(path) as zf:
        members = [m for m in zf.infolist() if not m.is_dir()]
        stem = path.name[: -len(".zip")]
        named = [m for m in members if Path(m.filename).name == stem]
        if len(named) == 1:
            return zf.read(named[0])
        if len(members) == 1:
            return zf.read(members[0])
        raise DataValidationError(
            [
                Problem(
                    shown,
                    None,
                    None,
                    f"a zip archive holding '{stem}' or exactly one file",
                    ", ".join(m.filename for m in members[:5]),
                )
            ]
        )


def fingerprint(paths: Sequence[Path], *, extra: str = "") -> str:
    """A content fingerprint of the source files (and reader options in ``extra``).

    Hashes each file's name, size and its whole content for files up to 64 MiB;
    larger files contribute size, mtime and their first and last 8 MiB, so a
    1.4 GB log is fingerprinted in well under a second.
    """
    h = hashlib.sha256(extra.encode())
    limit = 64 << 20
    chunk = 8 << 20
    for p in sorted(paths, key=lambda q: q.name):
        st = p.stat()
        h.update(f"{p.name}\0{st.st_size}\0".encode())
        with p.open("rb") as fh:
            if st.st_size <= limit:
                while block := fh.read(1 << 20):
                    h.update(block)
            else:
                h.update(str(st.st_mtime_ns).encode())
                h.update(fh.read(chunk))
                fh.seek(st.st_size - chunk)
                h.update(fh.read(chunk))
    return h.hexdigest()


def default_cache_root() -> Path:
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "rayrec"


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``target`` only if the block succeeds
    (its mode follows the umask, as :func:`temp_dir` says).

    A crash leaves the previous ``target`` (if any) untouched.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir(target.parent, f".{target.name}.tmp-")
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _fresh(directory: Path, prefix: str, create: Callable[[Path], T]) -> tuple[T, Path]:
    """``create(directory/<prefix><random>)`` with a new random name until the name is
    free (``create`` raises FileExistsError when it is taken)."""
    while True:
        path = directory / f"{prefix}{secrets.token_hex(6)}"
        try:
            return create(path), path
        except FileExistsError:
            continue


def temp_file(directory: Path, prefix: str) -> tuple[int, Path]:
    """A new, empty file ``directory/<prefix><random>`` opened for writing: (fd, path).

    Unlike :func:`tempfile.mkstemp` (always 0600), its mode follows the umask like
    any file the user creates (0644 under the usual 022), so a file renamed into place
    from it has the same mode as every other output.
    """
    return _fresh(
        directory, prefix, lambda path: os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    )


def temp_dir(directory: Path, prefix: str) -> Path:
    """A new, empty folder ``directory/<prefix><random>`` whose mode follows the umask
    (0755 under 022; :func:`tempfile.mkdtemp` makes 0700)."""
    return _fresh(directory, prefix, lambda path: path.mkdir(mode=0o777))[1]


def atomic_write_bytes(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary file and an atomic rename (the
    file's mode follows the umask: 0644 under the usual 022)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_file(target.parent, f".{target.name}.tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(target: Path, text: str) -> None:
    atomic_write_bytes(target, text.encode("utf-8"))


def read_versioned_meta(
    path: Path, key: str, expected: int, *, what: str, remedy: str
) -> dict[str, Any]:
    """Read a ``meta.json`` whose ``key`` must equal ``expected``.

    Raises:
        InputError: naming the file when it is unreadable, not JSON or of another version.
    """
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a {what} ({exc})") from exc
    if not isinstance(meta, dict):
        raise InputError(f"{path}: not a {what} (expected a JSON object)")
    if meta.get(key) != expected:
        raise InputError(
            f"{path}: {key.replace('_', ' ')} {meta.get(key)}, expected {expected}; {remedy}"
        )
    return meta
