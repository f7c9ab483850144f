"""The Parquet cache: round trip, fingerprint invalidation, atomic writes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from rayrec.data import load_dataset, prepare_dataset
from rayrec.data.datasets import cache_path, make_reader
from rayrec.data.io import atomic_dir
from rayrec.data.schema import InteractionLog
from rayrec.data.synthetic import SyntheticConfig, generate
from rayrec.errors import InputError
from tests.data.movielens_fixtures import ratings_text, write_ml1m


def test_round_trip_is_exact(tmp_path: Path) -> None:
    log = generate(SyntheticConfig(n_users=30, n_items=20, seed=3)).log
    log.save(tmp_path / "c")
    back = InteractionLog.load(tmp_path / "c")
    pd.testing.assert_frame_equal(back.interactions, log.interactions)
    pd.testing.assert_frame_equal(back.users, log.users)
    pd.testing.assert_frame_equal(back.items, log.items)
    assert back.feedback == log.feedback and back.name == log.name
    assert back.meta["synthetic_config"]["seed"] == 3


def test_cache_hit_and_invalidation(tmp_path: Path) -> None:
    root = write_ml1m(tmp_path / "ml")
    cache = tmp_path / "cache"
    first = load_dataset("ml-1m", root, cache_dir=cache)
    target = cache_path(make_reader("ml-1m", root), cache)
    assert (target / "interactions.parquet").is_file()
    again = load_dataset("ml-1m", root, cache_dir=cache)
    pd.testing.assert_frame_equal(first.interactions, again.interactions)
    # editing a source file changes the fingerprint: a new cache entry is built
    write_ml1m(root, ratings=ratings_text() + "11::661::2::978300000\n")
    changed = load_dataset("ml-1m", root, cache_dir=cache)
    assert changed.n_users == first.n_users + 1
    assert cache_path(make_reader("ml-1m", root), cache) != target


def test_prepare_writes_cache(tmp_path: Path) -> None:
    out = prepare_dataset("ml-1m", write_ml1m(tmp_path / "ml"), tmp_path / "out")
    assert InteractionLog.load(out).n_interactions == 6


def test_atomic_dir_keeps_old_content_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "t"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "a").write_text("new")
        raise RuntimeError("crash mid-write")
    assert (target / "a").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["t"]


def test_load_rejects_non_cache(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a rayrec dataset cache"):
        InteractionLog.load(tmp_path)


def test_no_path_message(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InputError, match="RAYREC_DATA"):
        load_dataset("ml-1m")
    with pytest.raises(InputError, match="unknown dataset"):
        load_dataset("nope", "/tmp")
