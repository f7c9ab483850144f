"""Download a public dataset from its official source, verify it, and unpack it.

``download_dataset("ml-1m", dest)`` fetches the archive into
``<dest>/.downloads/<file>.part`` (resuming an interrupted download with an HTTP
``Range`` request), verifies its checksum *before* anything is extracted, then
unpacks it atomically into ``<dest>/<folder>``, the folder the dataset's reader looks
in (``get_reader(name).default_dir``; ``movielens-1m`` for ML-1M). An archive that
holds one top-level folder (``ml-1m.zip`` holds ``ml-1m/``) is flattened, so the
files land directly in ``<dest>/<folder>``. ``dest`` defaults to ``$RAYREC_DATA``,
else ``./data``. Only the standard library (``urllib``) is used.

Checksums pinned in :data:`SOURCES` and where they were verified:

- ``ml-1m.zip`` / ``ml-100k.zip``: SHA-256 and size from TensorFlow Datasets'
  ``url_checksums/movielens.txt`` (which pins these exact GroupLens URLs), the same
  SHA-256 pinned independently by many other projects; plus the MD5 GroupLens publish
  next to each zip (``ml-1m.zip.md5``: ``c4d9eecfca2ab87c1945afe126590906``;
  ``ml-100k.zip.md5``: ``0e33842e24a9c977be4e0107933c0723``). Both digests are checked.
- KuaiRec 2.0 (Zenodo record 18164998) and KuaiRand-Pure / KuaiRand-1K (Zenodo record
  10439422): no SHA-256 is published; the MD5s are those Zenodo lists for the files
  and that the KuaiRand README gives next to its ``wget`` commands. MD5 guards against
  corruption, not against a deliberately forged file.

RetailRocket, YOOCHOOSE, RL4RS and Yelp cannot be fetched without an account, a
licence click-through or an unverifiable checksum: asking for them raises
:class:`~rayrec.errors.InputError` with step-by-step manual instructions, unless a
``url`` and ``sha256`` are given explicitly.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from rayrec import __version__
from rayrec.data.io import DATA_ENV, atomic_dir, temp_file
from rayrec.errors import InputError

log = logging.getLogger(__name__)

#: Folder under the data root that holds archives and partial downloads.
DOWNLOADS_DIR = ".downloads"
#: File written into an unpacked dataset folder: what was downloaded, from where.
MARKER = ".rayrec-download.json"
DEFAULT_TIMEOUT_S = 60.0
CHUNK_BYTES = 1 << 20
USER_AGENT = f"rayrec/{__version__} (+urllib)"
#: Top-level archive entries that are packaging debris, dropped before flattening.
_JUNK = frozenset({"__MACOSX", ".DS_Store"})

#: ``progress(bytes_done, bytes_total_or_None)``, called as the download advances.
ProgressFn = Callable[[int, int | None], None]


@dataclass(frozen=True)
class Source:
    """Where a dataset comes from and how to check it.

    Attributes:
        name: registry name (``ml-1m``); ``aliases`` are other accepted names.
        title: human-readable name for messages.
        folder: folder under the data root, used when no reader is registered for
            the dataset (otherwise the reader's ``default_dir`` wins).
        url / filename: the official archive; None for manual-only datasets.
        sha256 / md5: published digests of the archive (hex); at least one is needed
            for an automatic download.
        size: archive size in bytes, a hint for progress and resume.
        homepage: the dataset's page.
        manual: instructions for getting the files by hand; ``{target}`` is replaced
            by the folder the files must go into.
    """

    name: str
    title: str
    folder: str
    url: str | None = None
    filename: str | None = None
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None
    homepage: str = ""
    manual: str = ""
    aliases: tuple[str, ...] = ()


SOURCES: dict[str, Source] = {}
_ALIASES: dict[str, str] = {}


def register_source(source: Source) -> Source:
    """Add a source to :data:`SOURCES` under its name and aliases."""
    for key in (source.name, *source.aliases):
        if key in _ALIASES:
            raise ValueError(f"download source '{key}' registered twice")
        _ALIASES[key] = source.name
    SOURCES[source.name] = source
    return source


register_source(
    Source(
        name="ml-1m",
        title="MovieLens-1M",
        folder="movielens-1m",
        url="https://files.grouplens.org/datasets/movielens/ml-1m.zip",
        filename="ml-1m.zip",
        sha256="a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
        md5="c4d9eecfca2ab87c1945afe126590906",
        size=5_917_549,
        homepage="https://grouplens.org/datasets/movielens/1m/",
        aliases=("movielens-1m",),
    )
)
register_source(
    Source(
        name="ml-100k",
        title="MovieLens-100K",
        folder="movielens-100k",
        url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        filename="ml-100k.zip",
        sha256="50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
        md5="0e33842e24a9c977be4e0107933c0723",
        size=4_924_029,
        homepage="https://grouplens.org/datasets/movielens/100k/",
        aliases=("movielens-100k",),
    )
)
register_source(
    Source(
        name="kuairec",
        title="KuaiRec 2.0",
        folder="kuairec",
        url="https://zenodo.org/records/18164998/files/KuaiRec.zip",
        filename="KuaiRec.zip",
        md5="261550d472c48eff4990fb13c0e5bcf7",
        size=431_964_858,
        homepage="https://kuairec.com/",
    )
)
register_source(
    Source(
        name="kuairand-pure",
        title="KuaiRand-Pure",
        folder="kuairand-pure",
        url="https://zenodo.org/records/10439422/files/KuaiRand-Pure.tar.gz",
        filename="KuaiRand-Pure.tar.gz",
        md5="0820331067a3784d9691136f772b35a7",
        size=47_432_272,
        homepage="https://kuairand.com/",
        aliases=("kuairand",),
    )
)
register_source(
    Source(
        name="kuairand-1k",
        title="KuaiRand-1K",
        folder="kuairand-1k",
        url="https://zenodo.org/records/10439422/files/KuaiRand-1K.tar.gz",
        filename="KuaiRand-1K.tar.gz",
        md5="6b0b9c8222d67fcd4c676218edca3f1f",
        homepage="https://kuairand.com/",
    )
)
register_source(
    Source(
        name="retailrocket",
        title="RetailRocket",
        folder="retailrocket",
        homepage="https://www.kaggle.com/datasets/retailrocket/ecommerce-dataset",
        manual=(
            "RetailRocket is distributed on Kaggle, which needs an account. Sign in, download"
            " https://www.kaggle.com/datasets/retailrocket/ecommerce-dataset (or run `kaggle"
            " datasets download -d retailrocket/ecommerce-dataset`), unzip it, and put"
            " events.csv (and, for item features, item_properties_part1.csv,"
            " item_properties_part2.csv, category_tree.csv) into {target}/"
        ),
    )
)
register_source(
    Source(
        name="yoochoose",
        title="YOOCHOOSE (RecSys Challenge 2015)",
        folder="yoochoose",
        homepage="https://www.kaggle.com/datasets/chadgostopp/recsys-challenge-2015",
        aliases=("rc15", "recsys15"),
        manual=(
            "YOOCHOOSE (RecSys Challenge 2015) is no longer served by its organisers; the"
            " copy on Kaggle needs an account. Sign in, download"
            " https://www.kaggle.com/datasets/chadgostopp/recsys-challenge-2015 (or run"
            " `kaggle datasets download -d chadgostopp/recsys-challenge-2015`), unpack it,"
            " and put yoochoose-clicks.dat and yoochoose-buys.dat into {target}/"
        ),
    )
)
register_source(
    Source(
        name="rl4rs",
        title="RL4RS",
        folder="rl4rs",
        homepage="https://github.com/fuxiAIlab/RL4RS",
        manual=(
            "RL4RS is published on Zenodo (https://zenodo.org/records/6622390, file"
            " rl4rs-dataset.tar.gz) without a checksum rayrec could verify, so it is not"
            " fetched automatically. Download and extract it by hand and put the"
            " rl4rs_dataset_*.csv files and item_info.csv into {target}/ -- or, with a"
            " checksum you trust, run `rayrec data download rl4rs --url"
            " https://zenodo.org/records/6622390/files/rl4rs-dataset.tar.gz --sha256 <hex>`"
        ),
    )
)
register_source(
    Source(
        name="yelp",
        title="Yelp Open Dataset",
        folder="yelp",
        homepage="https://www.yelp.com/dataset",
        manual=(
            "The Yelp Open Dataset can only be downloaded after accepting Yelp's dataset"
            " terms at https://www.yelp.com/dataset (download form). Extract yelp_dataset.tar"
            " and put yelp_academic_dataset_review.json (and, for features,"
            " yelp_academic_dataset_business.json and yelp_academic_dataset_user.json) into"
            " {target}/"
        ),
    )
)


# ----------------------------------------------------------------- resolution
def download_names() -> list[str]:
    """Names :func:`download_dataset` knows (automatic and manual)."""
    return sorted(SOURCES)


def get_source(name: str) -> Source:
    """Look up a source by name or alias.

    Raises:
        InputError: listing the known names.
    """
    key = _ALIASES.get(name.lower())
    if key is None:
        raise InputError(
            f"no download source for '{name}'; expected one of: {', '.join(download_names())}"
        )
    return SOURCES[key]


def data_root(dest: str | Path | None) -> Path:
    """``dest``, else ``$RAYREC_DATA``, else ``./data``."""
    if dest is not None:
        return Path(dest).expanduser()
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else Path("data")


def dataset_folder(source: Source) -> str:
    """The folder the dataset's reader reads by default (the source's own when none)."""
    from rayrec.data.readers.base import get_reader

    for key in (source.name, *source.aliases):
        try:
            return get_reader(key).default_dir
        except InputError:
            continue
    return source.folder


def manual_instructions(source: Source, target: Path) -> str:
    """The message for a dataset that must be fetched by hand."""
    steps = source.manual.format(target=target)
    return (
        f"{source.title} cannot be downloaded automatically. {steps}. Then check it with"
        f" `rayrec data validate {source.name} --path {target}`."
    )


# ------------------------------------------------------------------- download
def download_dataset(
    name: str,
    dest: str | Path | None = None,
    *,
    url: str | None = None,
    sha256: str | None = None,
    progress: ProgressFn | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    keep_archive: bool = False,
) -> Path:
    """Download, verify and unpack a dataset; return its folder.

    Args:
        name: dataset name (``ml-1m``, ``ml-100k``, ``kuairec``, ``kuairand-pure``, ...).
        dest: data root (default ``$RAYREC_DATA``, else ``./data``); the dataset lands in
            ``<dest>/<reader default_dir>``.
        url: fetch from this URL instead of the official one (a mirror, or a direct link
            for a manual-only dataset).
        sha256: expected SHA-256 of the archive. With ``url`` and no ``sha256`` the
            official digests are used (a mirror must serve the identical file).
        progress: called with (bytes done, total bytes or None) while downloading.
        timeout: seconds to wait on connect and on each read.
        keep_archive: keep the verified archive in ``<dest>/.downloads`` after unpacking.

    A second call returns at once when the folder already holds this archive's
    contents. An interrupted download resumes from its ``.part`` file.

    Raises:
        InputError: manual-only dataset (with instructions), network failure (naming the
            URL and the reason), checksum mismatch (naming the file, expected and got
            digests; the bad download is removed, nothing is extracted), an unsafe or
            corrupt archive, or a target folder holding files rayrec did not put there.
    """
    source = get_source(name)
    root = data_root(dest)
    target = root / dataset_folder(source)
    expected = _expected_digests(source, url, sha256, target)
    if url is None:
        url = source.url
    assert url is not None  # _expected_digests raised for manual sources without a url
    _check_url(url)
    official = url == source.url
    filename = source.filename if official and source.filename else _url_filename(url, name)
    size_hint = source.size if official or sha256 is None else None

    if _already_unpacked(target, expected):
        log.info("%s: already in %s", source.title, target)
        return target
    is_archive = _archive_kind(Path(filename)) is not None
    if is_archive:
        _check_replaceable(target)

    downloads = root / DOWNLOADS_DIR
    archive = downloads / filename
    part = downloads / (filename + ".part")
    got = _digests(archive) if archive.is_file() else {}
    if _matches(got, expected):
        log.info("%s: reusing verified %s", source.title, archive)
    else:
        archive.unlink(missing_ok=True)  # not the file we expect: never unpack it
        _fetch(url, part, timeout=timeout, progress=progress, size_hint=size_hint)
        got = _digests(part)
        if not _matches(got, expected):
            part.unlink(missing_ok=True)
            raise InputError(_mismatch_message(filename, url, expected, got, target))
        os.replace(part, archive)
    marker = {
        "dataset": source.name,
        "url": url,
        "file": filename,
        **got,
        "bytes": archive.stat().st_size,
        "downloaded_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if is_archive:
        _unpack(archive, target, marker)
    else:
        _place_file(archive, target)
    if not keep_archive:
        archive.unlink(missing_ok=True)
    log.info("%s: ready in %s", source.title, target)
    return target


def _expected_digests(
    source: Source, url: str | None, sha256: str | None, target: Path
) -> dict[str, str]:
    if sha256 is not None:
        value = sha256.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{64}", value):
            raise InputError(f"--sha256: expected 64 hexadecimal digits, got '{sha256}'")
        return {"sha256": value}
    if url is None and source.url is None:
        raise InputError(manual_instructions(source, target))
    pinned = {k: v for k, v in (("sha256", source.sha256), ("md5", source.md5)) if v}
    if not pinned:
        raise InputError(
            f"{source.title}: no published checksum is known for a download from {url};"
            " pass the archive's SHA-256 with --sha256"
        )
    return pinned


def _check_url(url: str) -> None:
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise InputError(f"{url}: expected an http:// or https:// URL")


def _url_filename(url: str, name: str) -> str:
    base = PurePosixPath(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")
    return safe or f"{name}.download"


# ------------------------------------------------------------------ checksums
def _digests(path: Path) -> dict[str, str]:
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(CHUNK_BYTES), b""):
            sha.update(block)
            md5.update(block)
    return {"sha256": sha.hexdigest(), "md5": md5.hexdigest()}


def _matches(got: dict[str, str], expected: dict[str, str]) -> bool:
    return all(got.get(algo) == value for algo, value in expected.items())


def _mismatch_message(
    filename: str, url: str, expected: dict[str, str], got: dict[str, str], target: Path
) -> str:
    diffs = "; ".join(
        f"expected {algo} {value}, got {got[algo]}"
        for algo, value in expected.items()
        if got.get(algo) != value
    )
    return (
        f"{filename}: checksum mismatch for the download from {url}: {diffs}. The download"
        f" was removed and nothing was extracted ({target} is unchanged)."
    )


# ----------------------------------------------------------------------- http
def _fetch(
    url: str,
    part: Path,
    *,
    timeout: float,
    progress: ProgressFn | None,
    size_hint: int | None,
) -> None:
    """Download ``url`` into ``part``, resuming from its current size when possible."""
    part.parent.mkdir(parents=True, exist_ok=True)
    for _attempt in range(2):  # a second pass only after discarding an unusable .part
        offset = part.stat().st_size if part.is_file() else 0
        if size_hint is not None and offset == size_hint:
            return  # a complete .part from an earlier run: verify it
        if size_hint is not None and offset > size_hint:
            part.unlink()
            offset = 0
        headers = {"User-Agent": USER_AGENT}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        request = urllib.request.Request(url, headers=headers)
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:
                total = _content_range_total(exc.headers.get("Content-Range"))
                if total == offset:
                    return  # the .part already holds the whole file
                log.warning("%s: server refused to resume; restarting", url)
                part.unlink()
                continue
            raise InputError(f"{url}: download failed: HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise InputError(f"{url}: download failed: {reason}") from exc
        with response:
            if offset and response.status == 206:
                start = _content_range_start(response.headers.get("Content-Range"))
                if start != offset:
                    log.warning(
                        "%s: server resumed at byte %s, not %d; restarting", url, start, offset
                    )
                    part.unlink()
                    continue
                mode = "ab"
            else:
                if offset:
                    log.info("%s: server ignored the Range request; restarting", url)
                offset, mode = 0, "wb"
            _stream(response, part, mode, offset, url=url, progress=progress, size_hint=size_hint)
        return
    raise InputError(f"{url}: download failed: the server could not resume or restart it")


def _stream(
    response: Any,
    part: Path,
    mode: str,
    offset: int,
    *,
    url: str,
    progress: ProgressFn | None,
    size_hint: int | None,
) -> None:
    length_header = response.headers.get("Content-Length")
    length = int(length_header) if length_header and length_header.isdigit() else None
    total = offset + length if length is not None else size_hint
    done = offset
    if progress is not None:
        progress(done, total)
    try:
        with part.open(mode) as fh:
            while chunk := response.read(CHUNK_BYTES):
                fh.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    except (OSError, http.client.HTTPException) as exc:
        raise InputError(
            f"{url}: download interrupted after {done} bytes ({exc or type(exc).__name__});"
            f" run the same command again to resume from {part}"
        ) from exc
    if length is not None and done - offset < length:
        raise InputError(
            f"{url}: download interrupted after {done} of {total} bytes; run the same command"
            f" again to resume from {part}"
        )


def _content_range_start(header: str | None) -> int | None:
    match = re.match(r"bytes\s+(\d+)-", header or "")
    return int(match.group(1)) if match else None


def _content_range_total(header: str | None) -> int | None:
    match = re.search(r"/(\d+)\s*$", header or "")
    return int(match.group(1)) if match else None


# ---------------------------------------------------------------- extraction
def _archive_kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(".zip"):
        return "zip"
    if name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")):
        return "tar"
    return None


def _already_unpacked(target: Path, expected: dict[str, str]) -> bool:
    marker = _read_marker(target)
    return marker is not None and _matches(marker, expected)


def _read_marker(target: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((target / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _check_replaceable(target: Path) -> None:
    """Refuse to replace a folder of files rayrec did not download itself."""
    if target.is_dir() and any(target.iterdir()) and _read_marker(target) is None:
        raise InputError(
            f"{target}: already holds files that rayrec did not download; remove or move"
            " them, or pass another --dest"
        )
    if target.exists() and not target.is_dir():
        raise InputError(f"{target}: exists and is not a directory")


def _unpack(archive: Path, target: Path, marker: dict[str, Any]) -> None:
    """Extract into a temporary folder next to ``target``, then rename it into place."""
    try:
        with atomic_dir(target) as tmp:
            if _archive_kind(archive) == "zip":
                _extract_zip(archive, tmp)
            else:
                _extract_tar(archive, tmp)
            _flatten(tmp)
            (tmp / MARKER).write_text(json.dumps(marker, indent=2))
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, OSError) as exc:
        raise InputError(
            f"{archive.name}: extraction failed ({exc}); {target} was left unchanged"
        ) from exc


def _safe_member(archive: Path, member: str) -> None:
    parts = PurePosixPath(member.replace("\\", "/")).parts
    if member.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
        raise InputError(f"{archive.name}: unsafe path in archive: '{member}'")


def _extract_zip(archive: Path, dest: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            _safe_member(archive, info.filename)
        zf.extractall(dest)


def _extract_tar(archive: Path, dest: Path) -> None:
    with tarfile.open(archive) as tf:
        for member in tf.getmembers():
            _safe_member(archive, member.name)
        tf.extractall(dest, filter="data")  # no links out, no devices, sane modes


def _flatten(folder: Path) -> None:
    """Drop packaging debris; lift the contents of a lone top-level folder one level."""
    for entry in list(folder.iterdir()):
        if entry.name in _JUNK:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    entries = list(folder.iterdir())
    if len(entries) != 1 or not entries[0].is_dir() or entries[0].is_symlink():
        return
    inner = folder / f".flatten-{uuid.uuid4().hex}"
    os.rename(entries[0], inner)  # so a child named like its parent cannot collide
    for child in inner.iterdir():
        os.rename(child, folder / child.name)
    inner.rmdir()


def _place_file(downloaded: Path, target: Path) -> None:
    """Put a single downloaded (non-archive) file into ``target`` atomically."""
    target.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_file(target, f".{downloaded.name}.tmp-")  # the umask's mode
    os.close(fd)
    try:
        shutil.copyfile(downloaded, tmp)
        os.replace(tmp, target / downloaded.name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
