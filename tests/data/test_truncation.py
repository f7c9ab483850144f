"""A file cut inside its last number is reported, for formats whose originals end in a newline."""

from __future__ import annotations

import lzma
from pathlib import Path

import pytest

from rayrec.data import get_reader
from rayrec.data.readers.movielens import (
    DATA_100K,
    FOLDS_1M,
    ITEMS_100K,
    MOVIES_1M,
    RATINGS_1M,
    USERS_1M,
    USERS_100K,
)
from rayrec.data.readers.retailrocket import TEST_PAIRS, TRAIN_SESSIONS
from rayrec.data.readers.rl4rs import ITEM_INFO_FORMAT
from rayrec.errors import DataValidationError
from tests.conftest import shared_dataset
from tests.data.movielens_fixtures import (
    ratings_text,
    write_folds,
    write_ml1m,
    write_ml100k,
)

TRUNCATED = "a complete last line ending in a newline (is the file truncated?)"


def cut(path: Path, n_bytes: int) -> None:
    """Drop the final newline and ``n_bytes`` more: the last line still parses."""
    path.write_bytes(path.read_bytes()[: -(n_bytes + 1)])


def truncation_problems(name: str, root: Path) -> list[tuple[str, int | None, str | None]]:
    with pytest.raises(DataValidationError) as info:
        get_reader(name)(root).read()
    problems = info.value.problems
    assert all(p.expected == TRUNCATED for p in problems), [str(p) for p in problems]
    return [(p.file, p.line, p.field) for p in problems]


def test_ml1m_ratings_cut_inside_the_last_timestamp(tmp_path: Path) -> None:
    root = write_ml1m(tmp_path)
    cut(root / "ratings.dat", 4)  # 978200000 -> 97820: still a valid unix time
    assert truncation_problems("ml-1m", root) == [("ratings.dat", 6, "Timestamp")]


def test_ml1m_compressed_ratings_cut(tmp_path: Path) -> None:
    root = write_ml1m(tmp_path, compression="xz")
    text = ratings_text()[:-3]  # the last rating's timestamp loses two digits and "\n"
    (root / "ratings.dat.xz").write_bytes(lzma.compress(text.encode("latin-1")))
    assert truncation_problems("ml-1m", root) == [("ratings.dat.xz", 6, "Timestamp")]


@pytest.mark.parametrize(
    ("file", "line", "field"), [("users.dat", 3, "Zip-code"), ("movies.dat", 5, "Genres")]
)
def test_ml1m_side_files_cut(tmp_path: Path, file: str, line: int, field: str) -> None:
    root = write_ml1m(tmp_path)
    cut(root / file, 2)
    assert truncation_problems("ml-1m", root) == [(file, line, field)]


def test_ml1m_fold_cut_inside_the_last_rating_field(tmp_path: Path) -> None:
    root = write_folds(tmp_path)
    # "10,661,1\n" loses its newline: every field still parses.
    (root / "siren-5fold" / "test_1m1.dat").write_text("1,1193,5\n10,661,1")
    assert truncation_problems("ml-1m-folds", root) == [("siren-5fold/test_1m1.dat", 2, "Rating")]


@pytest.mark.parametrize(
    ("file", "n_bytes", "line", "field"),
    [("u.data", 3, 3, "timestamp"), ("u.user", 2, 2, "zip_code"), ("u.item", 0, 2, "Western")],
)
def test_ml100k_files_cut(tmp_path: Path, file: str, n_bytes: int, line: int, field: str) -> None:
    root = write_ml100k(tmp_path)
    cut(root / file, n_bytes)
    assert truncation_problems("ml-100k", root) == [(file, line, field)]


def test_retailrocket_test_pairs_cut_inside_the_last_target(tmp_path: Path) -> None:
    (tmp_path / "all_train_seq.sessions.txt").write_text("1 2 1 1\n3 4 3\n")
    (tmp_path / "test.pairs.tsv").write_text("prefix_items\ttarget_item\n2 6\t5\n7 7\t12")
    assert truncation_problems("retailrocket-sessions", tmp_path) == [
        ("test.pairs.tsv", 3, "target_item")
    ]


def test_retailrocket_sessions_cut(tmp_path: Path) -> None:
    (tmp_path / "all_train_seq.sessions.txt").write_text("1 2 1 1\n3 4 3\n5 6")
    assert truncation_problems("retailrocket-sessions", tmp_path) == [
        ("all_train_seq.sessions.txt", 3, "items")
    ]


def test_which_formats_require_the_final_newline() -> None:
    strict = (RATINGS_1M, USERS_1M, MOVIES_1M, FOLDS_1M, DATA_100K, USERS_100K, ITEMS_100K)
    assert all(fmt.require_final_newline for fmt in strict)
    assert TRAIN_SESSIONS.require_final_newline and TEST_PAIRS.require_final_newline
    # The real RL4RS item_info.csv has no final newline.
    assert not ITEM_INFO_FORMAT.require_final_newline


@pytest.mark.parametrize("name", ["ml-1m", "ml-1m-folds"])
def test_real_movielens_copies_end_in_newlines(name: str) -> None:
    reader = get_reader(name)(shared_dataset("movielens-1m"))
    reader.validate()
