"""Rating-walk records: the per-user chronological split and the train-fitted features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rayrec.data import load_dataset
from rayrec.data.rating_walk import RatingRecords, build_rating_records
from rayrec.data.schema import build_log
from rayrec.data.splits import per_user_ratio
from rayrec.errors import InputError
from tests.data.movielens_fixtures import write_folds

T0 = 978_300_000
#: records per raw user id (user 7 has one record: too short to split)
LENGTHS = {1: 12, 2: 10, 3: 7, 5: 2, 7: 1, 9: 20}
USERS_DAT = [
    "1::F::1::10::48067",
    "2::M::56::16::70072",
    "3::M::25::15::55117",
    "5::M::25::20::55455",
    "7::M::35::1::06810",
    "9::F::18::4::61614",
]
MOVIES_DAT = [
    "1::Toy Story (1995)::Animation|Children's|Comedy",
    "2::Jumanji (1995)::Adventure|Children's|Fantasy",
    "3::Grumpier Old Men (1995)::Comedy|Romance",
    "4::Waiting to Exhale (1995)::Comedy|Drama",
    "5::Father of the Bride Part II (1995)::Comedy",
    "6::Heat (1995)::Action|Crime|Thriller",
    "7::Sabrina (1995)::Comedy|Romance",
    "8::Tom and Huck (1995)::Adventure|Children's",
]


def ml1m_rows(seed: int = 0) -> list[tuple[int, int, int, int]]:
    """(user, movie, rating, timestamp) rows, shuffled in file order."""
    rng = np.random.default_rng(seed)
    rows = []
    for user, n in LENGTHS.items():
        for k in range(n):
            rows.append(
                (user, int(rng.integers(1, 9)), int(rng.integers(1, 6)), T0 + 1000 * user + k)
            )
    order = rng.permutation(len(rows))
    return [rows[i] for i in order]


def write_ml1m_fixture(
    root: Path, rows: list[tuple[int, int, int, int]] | None = None, *, users: bool = True
) -> Path:
    """A small ML-1M folder (ratings.dat, users.dat, movies.dat) in the original format."""
    root.mkdir(parents=True, exist_ok=True)
    rows = ml1m_rows() if rows is None else rows
    (root / "ratings.dat").write_text("".join(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in rows))
    if users:
        (root / "users.dat").write_text("\n".join(USERS_DAT) + "\n")
    (root / "movies.dat").write_text("\n".join(MOVIES_DAT) + "\n")
    return root


def write_ml100k_fixture(root: Path) -> Path:
    """A small ML-100K folder (u.data, u.user, u.item with 19 genre flags)."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    lines = []
    for user, n in ((10, 9), (20, 6), (30, 11)):
        for k in range(n):
            item, rating = int(rng.integers(1, 4)), int(rng.integers(1, 6))
            lines.append(f"{user}\t{item}\t{rating}\t{881250000 + 100 * user + k}\n")
    (root / "u.data").write_text("".join(lines))
    (root / "u.user").write_text(
        "10|49|M|writer|55105\n20|39|F|executive|00000\n30|25|M|writer|12345\n"
    )
    flags = {1: (1, 5), 2: (8,), 3: (5, 8, 14)}  # Action+Comedy, Drama, Comedy+Drama+Romance
    items = []
    for item, on in flags.items():
        row = ["1" if g in on else "0" for g in range(19)]
        items.append(f"{item}|Movie {item} (1996)|01-Jan-1996||http://x|" + "|".join(row))
    (root / "u.item").write_text("\n".join(items) + "\n")
    return root


def records_of(root: Path, name: str = "ml-1m", **kwargs: object) -> RatingRecords:
    return build_rating_records(load_dataset(name, root, use_cache=False), **kwargs)  # type: ignore[arg-type]


# ------------------------------------------------------------------------ split
def test_split_sizes_per_user_and_order(tmp_path: Path) -> None:
    rec = records_of(write_ml1m_fixture(tmp_path / "ml"))
    by_raw = {1: 0, 2: 1, 3: 2, 5: 3, 7: 4, 9: 5}  # dense ids follow the sorted raw ids
    for raw, k in by_raw.items():
        n = LENGTHS[raw]
        assert rec.lengths[k] == n
        expected = n if n == 1 else int(np.floor(0.8 * n))  # one record: kept whole
        assert rec.n_train[k] == expected, raw
        rows = slice(rec.offsets[k], rec.offsets[k + 1])
        assert (rec.users[rows] == k + 1).all()
        assert np.array_equal(rec.position[rows], np.arange(n))
        assert np.all(np.diff(rec.timestamps[rows]) > 0)  # time order
        assert not rec.is_test[rows][: rec.n_train[k]].any()
        assert rec.is_test[rows][rec.n_train[k] :].all()
    assert any("kept whole in train" in note for note in rec.notes)


def test_split_matches_per_user_ratio(tmp_path: Path) -> None:
    log = load_dataset("ml-1m", write_ml1m_fixture(tmp_path / "ml"), use_cache=False)
    rec = build_rating_records(log)
    split = per_user_ratio(log, (0.8, 0.2))
    df = log.interactions
    train = set(zip(df["user"][split.train], df["timestamp"][split.train], strict=True))
    mine = set(zip(rec.users[~rec.is_test], rec.timestamps[~rec.is_test], strict=True))
    assert mine == train


def test_triples_are_the_train_part_and_the_scored_test_records(tmp_path: Path) -> None:
    rec = records_of(write_ml1m_fixture(tmp_path / "ml"), short_window=5)
    users, items, ratings = rec.triples("train")
    assert np.array_equal(items, rec.items[~rec.is_test])
    assert len(users) == int((~rec.is_test).sum())
    assert set(ratings) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    tu, ti, tr = rec.triples("test")
    scored = rec.is_test & (rec.position >= 5)
    assert np.array_equal(tu, rec.users[scored]) and np.array_equal(ti, rec.items[scored])
    assert np.array_equal(tr, rec.ratings[scored])
    # user 3 (7 records: 5 train, test at positions 5 and 6) and user 5 (2 records, test at
    # position 1 < m) -> user 5 is not scored
    assert 4 not in set(tu.tolist()) and 3 in set(tu.tolist())
    assert np.allclose(rec.normalised, (rec.ratings - 1) / 4)
    assert np.allclose(rec.denormalise(rec.normalised), rec.ratings)


# --------------------------------------------------------------------- features
def test_encodings_are_fitted_on_the_train_part_only(tmp_path: Path) -> None:
    rows = ml1m_rows()
    base = records_of(write_ml1m_fixture(tmp_path / "a", rows))
    # user 9's last record is in its test part: give it an extreme timestamp and a new
    # movie (the largest id, so the other dense ids stay) of a genre no train item has
    last = max((r for r in rows if r[0] == 9), key=lambda r: r[3])
    changed = [
        (u, 99, rt, T0 * 3) if (u, i, rt, t) == last else (u, i, rt, t) for u, i, rt, t in rows
    ]
    root = write_ml1m_fixture(tmp_path / "b", changed)
    with (root / "movies.dat").open("a") as f:
        f.write("99::Unforgiven (1992)::Western\n")
    moved = records_of(root)
    train = ~base.is_test
    assert np.array_equal(moved.is_test, base.is_test)
    assert moved.feature_names == base.feature_names  # no 'genre=Western': unseen in train
    assert np.array_equal(moved.features[train], base.features[train])
    row = np.flatnonzero(moved.is_test & (moved.users == 6))[-1]
    names = list(moved.feature_names)
    assert moved.features[row, names.index("timestamp")] > 1.0  # outside [0, 1]: not fitted
    assert moved.features[row, names.index("item_id")] > 1.0
    genres = [j for j, n in enumerate(names) if n.startswith("genre=")]
    assert not moved.features[row, genres].any()  # the unseen genre encodes as zeros


def test_one_hot_and_multi_hot_by_hand() -> None:
    interactions = pd.DataFrame(
        {
            "u": [1, 1, 1, 1, 1, 2, 2, 2, 2, 2],
            "i": [10, 11, 10, 11, 12, 11, 10, 11, 10, 13],
            "r": [1, 2, 3, 4, 5, 5, 4, 3, 2, 1],
            "t": [0, 1, 2, 3, 4, 0, 1, 2, 3, 4],
        }
    )
    users = pd.DataFrame(
        {"gender": ["F", "M"], "age": [20, 40], "occupation": ["writer", "artist"]},
        index=[1, 2],
    )
    items = pd.DataFrame(
        {"genres": ["Drama|Comedy", "Comedy", "Horror", "Western"]}, index=[10, 11, 12, 13]
    )
    log = build_log(
        "tiny",
        interactions,
        raw_user="u",
        raw_item="i",
        timestamp="t",
        feedback={"rating": "r"},
        user_features=users,
        item_features=items,
    )
    rec = build_rating_records(log, short_window=1)
    assert rec.feature_names == (
        "user_id",
        "gender=F",
        "gender=M",
        "age",
        "occupation=artist",
        "occupation=writer",
        "item_id",
        "genre=Comedy",
        "genre=Drama",
        "timestamp",
    )  # Horror and Western: only test-part items have them
    assert rec.n_train.tolist() == [4, 4]
    # user 1 (F, 20, writer) rates item 10 (Drama|Comedy) at t = 0: train items 10, 11
    # span dense ids 1..2; time spans 0..3 in train
    assert rec.features[0].tolist() == [0, 1, 0, 0, 0, 1, 0, 1, 1, 0]
    # user 2's test record: item 13 (Western, unseen in train: no genre), t = 4 (> 1)
    last = rec.features[-1].tolist()
    assert last[:6] == [1, 0, 1, 1, 1, 0]
    assert last[6] == pytest.approx(3.0)  # dense id 4 on the train range 1..2
    assert last[7:9] == [0, 0] and last[9] == pytest.approx(4 / 3)
    # user 1's test record: item 12 (Horror, unseen in train) -> no genre
    assert rec.features[4, 7:9].tolist() == [0, 0]
    assert rec.features.dtype == np.float32


def test_ml100k_flags_and_string_occupations(tmp_path: Path) -> None:
    rec = records_of(write_ml100k_fixture(tmp_path / "ml100k"), name="ml-100k")
    names = rec.feature_names
    assert [n for n in names if n.startswith("occupation=")] == [
        "occupation=executive",
        "occupation=writer",
    ]
    assert {n for n in names if n.startswith("genre=")} <= {
        "genre=Action",
        "genre=Comedy",
        "genre=Drama",
        "genre=Romance",
    }
    log = load_dataset("ml-100k", tmp_path / "ml100k", use_cache=False)
    genres = log.items["genres"]
    for row in np.flatnonzero(~rec.is_test)[:10]:
        mine = {
            n[6:]
            for n, v in zip(names, rec.features[row], strict=True)
            if n.startswith("genre=") and v
        }
        assert mine == set(str(genres[rec.items[row]]).split("|"))
    assert rec.n_train.tolist() == [7, 4, 8]


def test_missing_user_table_leaves_its_blocks_out(tmp_path: Path) -> None:
    rec = records_of(write_ml1m_fixture(tmp_path / "ml", users=False))
    assert rec.feature_names[0] == "user_id" and rec.feature_names[1] == "item_id"
    assert not any(n.startswith(("gender", "occupation", "age")) for n in rec.feature_names)
    assert sum("no user feature" in n for n in rec.notes) == 3


# ---------------------------------------------------------------------- refusals
def test_a_log_without_ratings_or_timestamps_is_refused(tmp_path: Path) -> None:
    log = build_log(
        "clicks",
        pd.DataFrame({"u": [1, 1], "i": [1, 2], "c": [1, 0], "t": [0, 1]}),
        raw_user="u",
        raw_item="i",
        timestamp="t",
        feedback={"click": "c"},
    )
    with pytest.raises(InputError, match=r"^envs/x\.yaml: dataset: .*'rating' feedback"):
        build_rating_records(log, where="envs/x.yaml")
    folds = load_dataset("ml-1m-folds", write_folds(tmp_path / "folds"), use_cache=False)
    with pytest.raises(InputError, match=r"^envs/x\.yaml: dataset: .*timestamps"):
        build_rating_records(folds, where="envs/x.yaml")


def test_ratings_outside_the_scale_are_refused(tmp_path: Path) -> None:
    log = load_dataset("ml-1m", write_ml1m_fixture(tmp_path / "ml"), use_cache=False)
    with pytest.raises(InputError, match=r"^s\.yaml: walk\.rating_scale: expected every rating"):
        build_rating_records(log, rating_scale=(2.0, 5.0), where="s.yaml")


def test_ml1m_real_data_builds_fast() -> None:
    import time

    from tests.conftest import shared_dataset

    log = load_dataset("ml-1m", shared_dataset("movielens-1m"))
    start = time.perf_counter()
    rec = build_rating_records(log)
    elapsed = time.perf_counter() - start
    assert rec.n_records == log.n_interactions and rec.n_features == 45
    assert elapsed < 10.0
