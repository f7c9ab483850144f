"""Load any dataset by name: locate its files, validate, build, and cache as Parquet.

``load_dataset("ml-1m", path=...)`` returns an :class:`InteractionLog`. The cache is
keyed by a fingerprint of the source files and the reader's version and options,
so editing a file or upgrading a reader rebuilds it; it is written atomically.
``synthetic`` and ``synthetic-sessions`` need no files: they are the seeded generators'
logs (:mod:`rayrec.data.synthetic`, :mod:`rayrec.data.synthetic_sessions`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from rayrec.data.io import DATA_ENV, default_cache_root, fingerprint
from rayrec.data.readers.base import DatasetReader, get_reader
from rayrec.data.schema import SESSION, TIMESTAMP, USER, InteractionLog
from rayrec.errors import InputError

log = logging.getLogger(__name__)

SYNTHETIC = "synthetic"
SYNTHETIC_SESSIONS = "synthetic-sessions"


def resolve_path(name: str, path: str | Path | None) -> Path:
    """The dataset directory: ``path`` if given, else ``$RAYREC_DATA/<default_dir>``.

    Raises:
        InputError: when neither is given, saying how to give one.
    """
    if path is not None:
        return Path(path).expanduser()
    reader = get_reader(name)
    root = os.environ.get(DATA_ENV)
    if root:
        return Path(root).expanduser() / reader.default_dir
    raise InputError(
        f"no data path for '{name}': pass --path DIR or set {DATA_ENV} to a folder holding"
        f" '{reader.default_dir}/' (get the files from {reader.homepage or 'the dataset site'}"
        f" or run `rayrec data download {reader.name}`)"
    )


def make_reader(name: str, path: str | Path | None) -> DatasetReader:
    return get_reader(name)(resolve_path(name, path))


def cache_key(reader: DatasetReader) -> str:
    extra = f"{reader.name}:v{reader.version}:{reader.options_key()}"
    return fingerprint(reader.source_files(), extra=extra)


def load_dataset(
    name: str,
    path: str | Path | None = None,
    *,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    seed: int = 0,
) -> InteractionLog:
    """Return the dataset's :class:`InteractionLog`, building its cache if needed.

    Args:
        name: registry name (``ml-1m``, ``retailrocket``, ..., ``synthetic`` or
            ``synthetic-sessions``).
        path: the dataset's folder (default ``$RAYREC_DATA/<folder>``).
        cache_dir: cache root (default ``$RAYREC_CACHE`` or ``~/.cache/rayrec``).
        use_cache: read and write the Parquet cache.
        seed: the generator seed for ``synthetic`` and ``synthetic-sessions``.
    """
    if name == SYNTHETIC and path is None:
        from rayrec.data.synthetic import SyntheticConfig, generate

        return generate(SyntheticConfig(seed=seed)).log
    if name == SYNTHETIC_SESSIONS and path is None:
        from rayrec.data.synthetic_sessions import SessionGeneratorConfig, generate_sessions

        return generate_sessions(SessionGeneratorConfig(seed=seed)).log
    reader = make_reader(name, path)
    if not use_cache:
        return reader.read()
    target = cache_path(reader, cache_dir)
    if (target / "meta.json").is_file():
        log.debug("cache hit: %s", target)
        return InteractionLog.load(target)
    data = _build_cache(reader, target)
    log.info("cached %s at %s", name, target)
    return data


def _build_cache(reader: DatasetReader, target: Path) -> InteractionLog:
    """Read (validating first), record the fingerprint, write the cache atomically."""
    data = reader.read()
    data.meta["fingerprint"] = target.name.rsplit("-", 1)[-1]
    data.save(target)
    return data


def cache_path(reader: DatasetReader, cache_dir: str | Path | None = None) -> Path:
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_root()
    return root / f"{reader.name}-{cache_key(reader)[:16]}"


def prepare_dataset(
    name: str, path: str | Path | None, out: str | Path | None = None, *, force: bool = False
) -> Path:
    """Validate and build the cache; return its directory."""
    reader = make_reader(name, path)
    target = cache_path(reader, out)
    if force or not (target / "meta.json").is_file():
        _build_cache(reader, target)
    return target


def log_stats(data: InteractionLog) -> dict[str, Any]:
    """Summary statistics of exactly what was read.

    Returns keys ``users``, ``items``, ``interactions``, ``feedback`` (per type:
    count of non-missing values, positives or a value histogram), ``time_span``,
    ``sequence_length`` (per user, and per session when sessions exist), ``notes``.
    """
    df = data.interactions
    feedback: dict[str, Any] = {}
    for fb in data.feedback:
        values = df[fb].dropna()
        entry: dict[str, Any] = {"count": len(values)}
        uniq = np.unique(values.to_numpy())
        if len(uniq) <= 11 and np.all(np.equal(np.mod(uniq, 1), 0)):
            counts = values.value_counts().sort_index()
            entry["histogram"] = {f"{k:g}": int(v) for k, v in counts.items()}
            if set(uniq.tolist()) <= {0.0, 1.0}:
                entry["positive"] = int((values > 0).sum())
        else:
            entry["mean"] = float(values.mean()) if len(values) else None
        feedback[fb] = entry
    stats: dict[str, Any] = {
        "dataset": data.name,
        "users": int(df[USER].nunique()),
        "items": int(df["item"].nunique()),
        "interactions": len(df),
        "feedback": feedback,
    }
    ts = df[TIMESTAMP].dropna()
    if len(ts):
        lo, hi = float(ts.min()), float(ts.max())
        stats["time_span"] = {
            "start": lo,
            "end": hi,
            "start_utc": _iso(lo),
            "end_utc": _iso(hi),
            "days": round((hi - lo) / 86400.0, 2),
        }
    else:
        stats["time_span"] = None
    per_user = df.groupby(USER).size()
    stats["sequence_length"] = {
        "per_user_mean": round(float(per_user.mean()), 3) if len(per_user) else 0.0,
        "per_user_median": float(per_user.median()) if len(per_user) else 0.0,
    }
    if SESSION in df.columns:
        per_session = df.groupby(SESSION).size()
        stats["sessions"] = len(per_session)
        stats["sequence_length"]["per_session_mean"] = round(float(per_session.mean()), 3)
        stats["sequence_length"]["per_session_median"] = float(per_session.median())
    notes = data.meta.get("notes")
    if notes:
        stats["notes"] = notes
    if "source_files" in data.meta:
        stats["source_files"] = data.meta["source_files"]
    return stats


def _iso(seconds: float) -> str:
    return np.datetime64(int(seconds), "s").astype(str) + "Z"
