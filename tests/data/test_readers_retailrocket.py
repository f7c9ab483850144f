"""RetailRocket readers on generated fixtures in the original formats (and on the real copy)."""

from __future__ import annotations

import bz2
import gzip
import lzma
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from rayrec.cli import main
from rayrec.data import get_reader, load_dataset, log_stats
from rayrec.data.datasets import cache_path
from rayrec.data.readers.retailrocket import RetailRocket, session_ids
from rayrec.data.schema import ADD_TO_CART, PURCHASE, SESSION, TIMESTAMP, VIEW
from rayrec.errors import DataValidationError, InputError, Problem

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

# ------------------------------------------------------------------ fixtures
EVENTS_HEADER = "timestamp,visitorid,event,itemid,transactionid"
#: Visitor 257597: view, add-to-cart, transaction of 355908 within 668 s, then a view
#: of 111 about 2.2 h later (a new session at the 30 min gap). Visitor 992329: two views
#: 86 s apart (one session). Rows are not in time order within the file.
EVENTS_ROWS: tuple[str, ...] = (
    "1433221332117,257597,view,355908,",
    "1433224214164,992329,view,248676,",
    "1433221999827,257597,addtocart,355908,",
    "1433230000000,257597,view,111,",
    "1433222000000,257597,transaction,355908,4000",
    "1433224300000,992329,view,248676,",
)
TRAIN_SESSIONS: tuple[str, ...] = ("1 2 1 1", "3 4 3", "5 6 5")
PAIRS_HEADER = "prefix_items\ttarget_item"
TEST_PAIRS: tuple[str, ...] = ("2 6\t5", "7 7\t1")


def events_text(rows: tuple[str, ...] = EVENTS_ROWS) -> str:
    return "\n".join((EVENTS_HEADER, *rows)) + "\n"


def compress(path: Path, data: bytes, compression: str | None) -> Path:
    """Write ``data`` as ``path`` or its ``.gz`` / ``.xz`` / ``.bz2`` / ``.zip`` variant."""
    if compression is None:
        path.write_bytes(data)
        return path
    target = path.with_name(f"{path.name}.{compression}")
    if compression == "gz":
        target.write_bytes(gzip.compress(data))
    elif compression == "xz":
        target.write_bytes(lzma.compress(data))
    elif compression == "bz2":
        target.write_bytes(bz2.compress(data))
    else:
        with zipfile.ZipFile(target, "w") as zf:
            zf.writestr(path.name, data)
    return target


def write_events(
    root: Path, text: str | bytes | None = None, compression: str | None = None
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    data = events_text() if text is None else text
    raw = data.encode("utf-8") if isinstance(data, str) else data
    compress(root / "events.csv", raw, compression)
    return root


def write_sessions(
    root: Path,
    train: str | bytes | None = None,
    test: str | bytes | None = None,
    *,
    with_test: bool = True,
    compression: str | None = None,
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    train_data = "\n".join(TRAIN_SESSIONS) + "\n" if train is None else train
    test_data = "\n".join((PAIRS_HEADER, *TEST_PAIRS)) + "\n" if test is None else test
    for name, data in (("all_train_seq.sessions.txt", train_data), ("test.pairs.tsv", test_data)):
        if name == "test.pairs.tsv" and not with_test:
            continue
        raw = data.encode("utf-8") if isinstance(data, str) else data
        compress(root / name, raw, compression)
    return root


def problems_of(read: Callable[[], object]) -> list[Problem]:
    with pytest.raises(DataValidationError) as err:
        read()
    assert err.value.exit_code == 2
    return err.value.problems


def assert_problem(
    problems: list[Problem], file: str, line: int, field: str | None, words: str = ""
) -> None:
    """Some problem names ``file``, ``line`` and ``field`` and mentions ``words``."""
    hits = [p for p in problems if (p.file, p.line, p.field) == (file, line, field)]
    assert hits, f"no problem at {file}:{line} field {field}; got {[str(p) for p in problems]}"
    assert any(words in str(p) for p in hits), [str(p) for p in hits]


# ------------------------------------------------------------- events.csv
@pytest.mark.parametrize("compression", [None, "gz", "xz", "bz2", "zip"])
def test_events_read_every_compression(tmp_path: Path, compression: str | None) -> None:
    log = get_reader("retailrocket")(write_events(tmp_path, compression=compression)).read()
    assert (log.n_users, log.n_items, log.n_interactions) == (2, 3, 6)
    assert log.users["raw_user_id"].tolist() == [257597, 992329]
    assert log.items["raw_item_id"].tolist() == [111, 248676, 355908]
    assert log.feedback == (VIEW, ADD_TO_CART, PURCHASE)
    df = log.interactions
    # user 257597 first, in time order; then 992329
    assert df["user"].tolist() == [1, 1, 1, 1, 2, 2]
    assert df["item"].tolist() == [3, 3, 3, 1, 2, 2]
    assert df[TIMESTAMP].tolist() == pytest.approx(
        [1433221332.117, 1433221999.827, 1433222000.0, 1433230000.0, 1433224214.164, 1433224300.0]
    )
    assert df[VIEW].tolist() == [1, 0, 0, 1, 1, 1]
    assert df[ADD_TO_CART].tolist() == [0, 1, 0, 0, 0, 0]
    assert df[PURCHASE].tolist() == [0, 0, 1, 0, 0, 0]
    # a 7,999.9 s gap splits 257597's events; 992329's 86 s gap does not
    assert df[SESSION].tolist() == [1, 1, 1, 2, 3, 3]
    tid = df["transaction_id"].to_numpy()
    assert tid[2] == 4000 and np.isnan(np.delete(tid, 2)).all()
    assert log.meta["session_gap_s"] == 1800.0
    assert log.meta["source_files"] == [f"events.csv{'.' + compression if compression else ''}"]


def test_events_session_gap_option_keys_the_cache(tmp_path: Path) -> None:
    root = write_events(tmp_path)
    wide = RetailRocket(root, session_gap=3 * 3600.0)
    assert wide.read().interactions[SESSION].tolist() == [1, 1, 1, 1, 2, 2]
    assert wide.options_key() != RetailRocket(root).options_key()
    assert cache_path(wide) != cache_path(RetailRocket(root))
    with pytest.raises(InputError, match="session_gap"):
        RetailRocket(root, session_gap=0)


def test_session_ids_split_on_gap_only() -> None:
    users = np.array([5, 5, 7, 5, 7])
    seconds = np.array([0.0, 100.0, 0.0, 100.0 + 1801.0, 1800.0])
    # equal to the gap stays in the session; longer opens a new one
    assert session_ids(users, seconds, 1800.0).tolist() == [1, 1, 3, 2, 3]


def test_events_load_and_cache_roundtrip(tmp_path: Path) -> None:
    root = write_events(tmp_path / "rr")
    first = load_dataset("retailrocket", root)
    again = load_dataset("retailrocket", root)
    assert again.interactions.equals(first.interactions)
    stats = log_stats(again)
    assert stats["sessions"] == 3
    assert stats["feedback"][PURCHASE]["positive"] == 1


EventsEdit = Callable[[list[str]], str | bytes]


def _replace(i: int, text: str) -> EventsEdit:
    return lambda lines: "\n".join([*lines[:i], text, *lines[i + 1 :]]) + "\n"


EVENT_CASES: dict[str, tuple[EventsEdit, int, str | None, str]] = {
    "wrong separator": (
        _replace(2, "1433224214164;992329;view;248676;"),
        3,
        None,
        "wrong separator",
    ),
    "missing field": (_replace(2, "1433224214164,992329,view,248676"), 3, None, "5 fields"),
    "extra field": (_replace(2, "1433224214164,992329,view,248676,,7"), 3, None, "6 fields"),
    "non-numeric id": (_replace(2, "1433224214164,abc,view,248676,"), 3, "visitorid", "integer"),
    "non-numeric item": (_replace(5, "1433222000000,257597,view,x1,"), 6, "itemid", "integer"),
    "bad timestamp": (_replace(3, "2015-06-02,257597,view,111,"), 4, "timestamp", "unix"),
    "negative timestamp": (_replace(3, "-5,257597,view,111,"), 4, "timestamp", "unix"),
    "unknown event": (_replace(4, "1433222000000,257597,buy,355908,"), 5, "event", "addtocart"),
    "transaction without id": (
        _replace(5, "1433222000000,257597,transaction,355908,"),
        6,
        "transactionid",
        "transaction id",
    ),
    "view with transaction id": (
        _replace(1, "1433221332117,257597,view,355908,17"),
        2,
        "transactionid",
        "empty value",
    ),
    "truncated last line": (
        lambda lines: "\n".join(lines[:-1]) + "\n1433224300000,99232",
        7,
        None,
        "truncated",
    ),
    "wrong encoding": (
        lambda lines: (
            ("\n".join(lines) + "\n")
            .replace("248676", "2486\udcff6", 1)
            .encode("utf-8", errors="surrogateescape")
        ),
        3,
        None,
        "encoding",
    ),
    "duplicate header": (
        lambda lines: "\n".join([*lines[:4], EVENTS_HEADER, *lines[4:]]) + "\n",
        5,
        None,
        "duplicate header",
    ),
    "misspelt header": (
        _replace(0, "timestamp,visitor_id,event,itemid,transactionid"),
        1,
        "header",
        "visitorid",
    ),
}


@pytest.mark.parametrize("case", list(EVENT_CASES))
def test_events_malformations_are_named(tmp_path: Path, case: str) -> None:
    edit, line, field, words = EVENT_CASES[case]
    root = write_events(tmp_path, edit(events_text().splitlines()))
    problems = problems_of(get_reader("retailrocket")(root).validate)
    assert_problem(problems, "events.csv", line, field, words)


def test_events_wrong_encoding_also_names_the_field(tmp_path: Path) -> None:
    raw = events_text().replace("248676", "2486\udcff6", 1).encode("utf-8", "surrogateescape")
    problems = problems_of(get_reader("retailrocket")(write_events(tmp_path, raw)).read)
    assert_problem(problems, "events.csv", 3, "itemid", "integer")


def test_events_many_problems_are_counted_once(tmp_path: Path) -> None:
    rows = tuple(f"14332220{k:05d},{k},transaction,7," for k in range(30))
    root = write_events(tmp_path, events_text(rows))
    with pytest.raises(DataValidationError) as err:
        get_reader("retailrocket")(root).validate()
    assert err.value.total == 30 and len(err.value.problems) == 20
    assert "and 10 more problems" in str(err.value)


def test_events_problems_in_compressed_file_name_it(tmp_path: Path) -> None:
    text = events_text().replace("992329,view,248676", "992329,view,", 1)
    root = write_events(tmp_path, text, compression="gz")
    problems = problems_of(get_reader("retailrocket")(root).read)
    assert_problem(problems, "events.csv.gz", 3, "itemid", "integer")


def test_events_missing_file(tmp_path: Path) -> None:
    tmp_path.joinpath("item_properties_part1.csv").write_text("")
    with pytest.raises(InputError, match=r"events\.csv"):
        get_reader("retailrocket")(tmp_path).read()
    write_sessions(tmp_path)
    with pytest.raises(InputError, match="retailrocket-sessions"):
        get_reader("retailrocket")(tmp_path).source_files()


def test_events_cli_reports_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write_events(tmp_path / "good")
    assert main(["data", "validate", "retailrocket", "--path", str(good)]) == 0
    assert "valid" in capsys.readouterr().out
    bad = write_events(tmp_path / "bad", events_text().replace(",992329,", ",99x,", 1))
    assert main(["data", "validate", "retailrocket", "--path", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "events.csv, line 3" in err and "visitorid" in err


# -------------------------------------------------- session-text variant
@pytest.mark.parametrize("compression", [None, "gz", "xz", "zip"])
def test_sessions_read_every_compression(tmp_path: Path, compression: str | None) -> None:
    root = write_sessions(tmp_path, compression=compression)
    log = get_reader("retailrocket-sessions")(root).read()
    # 3 train sessions (10 events) + 2 test sessions (2 prefix items + target each)
    assert (log.n_users, log.n_items, log.n_interactions) == (5, 7, 16)
    assert log.users["raw_user_id"].tolist() == [1, 2, 3, 4, 5]
    assert log.items["raw_item_id"].tolist() == [1, 2, 3, 4, 5, 6, 7]
    df = log.interactions
    assert df["user"].tolist() == df[SESSION].tolist()
    assert df[SESSION].tolist() == [1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5]
    assert df["item"].tolist() == [1, 2, 1, 1, 3, 4, 3, 5, 6, 5, 2, 6, 5, 7, 7, 1]
    assert df["part"].tolist() == ["train"] * 10 + ["test"] * 6
    assert df["is_target"].tolist() == [0] * 12 + [1, 0, 0, 1]
    assert (df[VIEW] == 1).all() and df[TIMESTAMP].isna().all()
    assert log.feedback == (VIEW,)
    assert "no timestamps" in log.meta["notes"]


def test_sessions_without_test_pairs(tmp_path: Path) -> None:
    root = write_sessions(tmp_path, with_test=False)
    reader = get_reader("retailrocket-sessions")(root)
    assert [p.name for p in reader.source_files()] == ["all_train_seq.sessions.txt"]
    log = reader.read()
    assert (log.n_users, log.n_items, log.n_interactions) == (3, 6, 10)
    assert set(log.interactions["part"]) == {"train"}


def test_sessions_load_and_cache_roundtrip(tmp_path: Path) -> None:
    root = write_sessions(tmp_path / "rr")
    first = load_dataset("retailrocket-sessions", root)
    again = load_dataset("retailrocket-sessions", root)
    assert again.interactions.equals(first.interactions)
    assert log_stats(again)["sessions"] == 5


TRAIN = "all_train_seq.sessions.txt"
PAIRS = "test.pairs.tsv"
_TRAIN_TEXT = "\n".join(TRAIN_SESSIONS) + "\n"
_PAIRS_TEXT = "\n".join((PAIRS_HEADER, *TEST_PAIRS)) + "\n"
_BAD_BYTES = "3 4\udcff 3".encode("utf-8", "surrogateescape")

#: case -> (train file content, test file content, file, line, field, words)
SESSION_CASES: dict[str, tuple[str | bytes, str | bytes, str, int, str | None, str]] = {
    "wrong separator (train)": (
        "1 2 1 1\n3,4,3\n5 6 5\n",
        _PAIRS_TEXT,
        TRAIN,
        2,
        "items",
        "'3,4,3'",
    ),
    "wrong separator (test)": (
        _TRAIN_TEXT,
        f"{PAIRS_HEADER}\n2 6 5\n7 7\t1\n",
        PAIRS,
        2,
        None,
        "2 fields",
    ),
    "missing field": (
        _TRAIN_TEXT,
        f"{PAIRS_HEADER}\n2 6\t5\n7 7\n",
        PAIRS,
        3,
        None,
        "1 field: 7 7",
    ),
    "extra field": (
        _TRAIN_TEXT,
        f"{PAIRS_HEADER}\n2 6\t5\t1\n7 7\t1\n",
        PAIRS,
        2,
        None,
        "3 fields",
    ),
    "non-numeric item (train)": ("1 2 1 1\n3 x 3\n5 6 5\n", _PAIRS_TEXT, TRAIN, 2, "items", "'x'"),
    "non-numeric prefix": (
        _TRAIN_TEXT,
        f"{PAIRS_HEADER}\n2 b\t5\n7 7\t1\n",
        PAIRS,
        2,
        "prefix_items",
        "'b'",
    ),
    "non-numeric target": (
        _TRAIN_TEXT,
        f"{PAIRS_HEADER}\n2 6\tfive\n7 7\t1\n",
        PAIRS,
        2,
        "target_item",
        "integer",
    ),
    "padding item 0": ("1 2 1 1\n3 0 3\n5 6 5\n", _PAIRS_TEXT, TRAIN, 2, "items", ">= 1"),
    "double space": ("1 2 1 1\n3  4 3\n5 6 5\n", _PAIRS_TEXT, TRAIN, 2, "items", "integers"),
    "empty line": ("1 2 1 1\n\n5 6 5\n", _PAIRS_TEXT, TRAIN, 2, None, "empty line"),
    "truncated last line (train)": (
        "1 2 1 1\n3 4 3\n5 6",
        _PAIRS_TEXT,
        TRAIN,
        3,
        "items",
        "truncated",
    ),
    "truncated last line (test)": (
        _TRAIN_TEXT,
        f"{PAIRS_HEADER}\n2 6\t5\n7 7",
        PAIRS,
        3,
        None,
        "truncated",
    ),
    "wrong encoding": (
        b"1 2 1 1\n" + _BAD_BYTES + b"\n5 6 5\n",
        _PAIRS_TEXT,
        TRAIN,
        2,
        None,
        "encoding",
    ),
    "duplicate header": (
        _TRAIN_TEXT,
        f"{_PAIRS_TEXT}{PAIRS_HEADER}\n",
        PAIRS,
        4,
        None,
        "duplicate header",
    ),
    "header in headerless file": (
        "items\n" + _TRAIN_TEXT,
        _PAIRS_TEXT,
        TRAIN,
        1,
        "items",
        "'items'",
    ),
    "missing header": (
        _TRAIN_TEXT,
        "\n".join(TEST_PAIRS) + "\n",
        PAIRS,
        1,
        "header",
        "prefix_items",
    ),
}


@pytest.mark.parametrize("case", list(SESSION_CASES))
def test_sessions_malformations_are_named(tmp_path: Path, case: str) -> None:
    train, test, file, line, field, words = SESSION_CASES[case]
    root = write_sessions(tmp_path, train, test)
    problems = problems_of(get_reader("retailrocket-sessions")(root).validate)
    assert_problem(problems, file, line, field, words)


def test_sessions_problems_in_both_files_reported_together(tmp_path: Path) -> None:
    root = write_sessions(tmp_path, "1 2\n3 x\n", f"{PAIRS_HEADER}\n2 6\t-1\n", compression="xz")
    problems = problems_of(get_reader("retailrocket-sessions")(root).read)
    assert {(p.file, p.line) for p in problems} == {
        (f"{TRAIN}.xz", 2),
        (f"{PAIRS}.xz", 2),
    }


def test_sessions_missing_file_never_opens_pickles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(InputError, match=r"all_train_seq\.sessions\.txt"):
        get_reader("retailrocket-sessions")(tmp_path).read()
    # The pickles are only named in the message, never unpickled.
    for fn in ("load", "loads"):
        monkeypatch.setattr(pickle, fn, _no_unpickling)
    (tmp_path / "all_train_seq.txt").write_bytes(b"\x80\x03not a pickle")
    with pytest.raises(InputError, match="pickles"):
        get_reader("retailrocket-sessions")(tmp_path).source_files()
    write_events(tmp_path)
    with pytest.raises(InputError, match="pickles"):
        get_reader("retailrocket-sessions")(tmp_path).validate()


def test_sessions_cli_reports_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_sessions(tmp_path, test=f"{PAIRS_HEADER}\n2 6\t5\n7 x\t1\n")
    assert main(["data", "validate", "retailrocket-sessions", "--path", str(root)]) == 2
    err = capsys.readouterr().err
    assert "test.pairs.tsv, line 3" in err and "prefix_items" in err


def _no_unpickling(*args: object, **kwargs: object) -> object:
    raise AssertionError("a reader tried to unpickle a file")


# ------------------------------------------------------------- real data
@pytest.mark.realdata
def test_real_retailrocket_sessions_counts() -> None:
    root = SHARED_DATA / "retailrocket"
    if not root.is_dir():
        pytest.skip(f"real data not available: {root}")
    with pytest.raises(InputError, match="retailrocket-sessions"):
        get_reader("retailrocket")(root).source_files()
    log = get_reader("retailrocket-sessions")(root).read()
    df = log.interactions
    train = df[df["part"] == "train"]
    test = df[df["part"] == "test"]
    # SOURCE.md: 126,168 train sessions, 685,984 item events, items 1..36,968
    assert train[SESSION].nunique() == 126_168
    assert len(train) == 685_984
    assert train["item"].nunique() == 36_968
    assert log.items["raw_item_id"].tolist() == list(range(1, 36_969))
    # 15,132 test pairs; every test item also occurs in training sessions
    assert test[SESSION].nunique() == 15_132
    assert int(test["is_target"].sum()) == 15_132
    assert len(test) == 128_273
    assert (log.n_users, log.n_items, log.n_interactions) == (141_300, 36_968, 814_257)
    lengths = train.groupby(SESSION).size()
    assert (lengths.min(), lengths.max()) == (3, 285)
