"""MovieLens readers on generated fixtures in the original formats (and on the real copy)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rayrec.data import get_reader, load_dataset, log_stats
from rayrec.data.schema import RATING, TIMESTAMP
from rayrec.errors import DataValidationError, InputError
from tests.conftest import shared_dataset
from tests.data.movielens_fixtures import (
    RATINGS,
    ratings_text,
    write_folds,
    write_ml1m,
    write_ml100k,
)


@pytest.mark.parametrize("compression", [None, "gz", "xz", "zip"])
def test_ml1m_reads_every_compression(tmp_path: Path, compression: str | None) -> None:
    log = get_reader("ml-1m")(write_ml1m(tmp_path, compression=compression)).read()
    assert (log.n_users, log.n_items, log.n_interactions) == (3, 4, 6)
    # dense ids follow sorted raw ids; 0 is never used
    assert log.users["raw_user_id"].tolist() == [1, 2, 10]
    assert log.items["raw_item_id"].tolist() == [661, 914, 1193, 3408]
    df = log.interactions
    assert df["user"].min() == 1 and df["item"].min() == 1
    # rows are chronological within each user
    u1 = df[df["user"] == 1]
    assert u1[TIMESTAMP].is_monotonic_increasing
    assert u1[RATING].tolist() == [5.0, 3.0, 3.0]  # 978300760 < 978301968 < 978302109
    assert log.items.loc[3, "year"] == 1975
    assert log.users.loc[3, "gender"] == "F"
    assert log.feedback == (RATING,)


def test_ml1m_stats(tmp_path: Path) -> None:
    stats = log_stats(get_reader("ml-1m")(write_ml1m(tmp_path)).read())
    assert stats["users"] == 3 and stats["items"] == 4 and stats["interactions"] == 6
    assert stats["feedback"]["rating"]["histogram"] == {"1": 1, "3": 2, "4": 2, "5": 1}
    assert stats["sequence_length"]["per_user_median"] == 2.0
    assert stats["time_span"]["start"] == 978200000.0


def test_ml1m_corrupted_line_is_named(tmp_path: Path) -> None:
    lines = ratings_text().splitlines()
    lines[3] = "2::1193::four::978298413"
    write_ml1m(tmp_path, ratings="\n".join(lines) + "\n")
    with pytest.raises(DataValidationError) as err:
        get_reader("ml-1m")(tmp_path).validate()
    assert err.value.exit_code == 2
    problem = err.value.problems[0]
    assert (problem.file, problem.line, problem.field) == ("ratings.dat", 4, "Rating")


def test_ml1m_several_problems_listed_together(tmp_path: Path) -> None:
    text = ratings_text() + "3,4,5,978300760\n7::8::9::978300760\n"
    write_ml1m(tmp_path, ratings=text)
    (tmp_path / "users.dat").write_text("1::X::1::10::48067\n")
    with pytest.raises(DataValidationError) as err:
        get_reader("ml-1m")(tmp_path).validate()
    found = {(p.file, p.line) for p in err.value.problems}
    assert found == {("ratings.dat", 7), ("ratings.dat", 8), ("users.dat", 1)}


def test_ml1m_missing_file(tmp_path: Path) -> None:
    tmp_path.joinpath("movies.dat").write_text("")
    with pytest.raises(InputError, match=r"ratings\.dat"):
        get_reader("ml-1m")(tmp_path).read()
    with pytest.raises(InputError, match="not found"):
        get_reader("ml-1m")(tmp_path / "nope")


def test_inputs_are_not_modified(tmp_path: Path) -> None:
    root = write_ml1m(tmp_path / "d", compression="gz")
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in root.iterdir()}
    load_dataset("ml-1m", root)
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in root.iterdir()}
    assert before == after


def test_folds_variant(tmp_path: Path) -> None:
    log = get_reader("ml-1m-folds")(write_folds(tmp_path)).read()
    assert (log.n_users, log.n_items, log.n_interactions) == (3, 4, 6)
    assert not log.has_timestamps
    assert sorted(log.interactions["fold"].tolist()) == [1, 1, 2, 3, 4, 5]
    # the folder of fold files itself works too
    log2 = get_reader("ml-1m-folds")(tmp_path / "siren-5fold").read()
    assert log2.n_interactions == 6


def test_ml100k(tmp_path: Path) -> None:
    log = get_reader("ml-100k")(write_ml100k(tmp_path)).read()
    assert (log.n_users, log.n_items, log.n_interactions) == (2, 2, 3)
    assert log.items.loc[2, "genres"] == "Comedy|Drama"
    assert log.users.loc[2, "occupation"] == "writer"


def test_ratings_round_trip_matches_fixture(tmp_path: Path) -> None:
    log = get_reader("ml-1m")(write_ml1m(tmp_path)).read()
    df = log.interactions
    raw_u = log.users["raw_user_id"].to_numpy()[df["user"].to_numpy() - 1]
    raw_i = log.items["raw_item_id"].to_numpy()[df["item"].to_numpy() - 1]
    got = sorted(
        zip(raw_u, raw_i, df[RATING].astype(int), df[TIMESTAMP].astype(np.int64), strict=True)
    )
    assert got == sorted(RATINGS)


@pytest.mark.realdata
def test_real_ml1m_counts() -> None:
    root = shared_dataset("movielens-1m")
    stats = log_stats(load_dataset("ml-1m", root))
    assert (stats["users"], stats["items"], stats["interactions"]) == (2999, 3615, 487650)
    folds = log_stats(load_dataset("ml-1m-folds", root))
    assert (folds["users"], folds["items"], folds["interactions"]) == (6040, 3706, 1000209)
