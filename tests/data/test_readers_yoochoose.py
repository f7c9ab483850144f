"""YOOCHOOSE readers on generated fixtures in the original formats (and on the real copy)."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from rayrec.cli import main
from rayrec.data import get_reader, load_dataset, log_stats
from rayrec.data.schema import CLICK, PURCHASE, SESSION, TIMESTAMP
from rayrec.errors import DataValidationError, InputError, Problem

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

# ------------------------------------------------------------------ fixtures
#: Session 11 and session 3 interleaved, and 11's clicks out of time order.
CLICK_ROWS: tuple[str, ...] = (
    "11,2014-04-07T10:51:09.277Z,214536502,0",
    "11,2014-04-07T10:54:09.868Z,214536500,0",
    "3,2014-04-06T18:00:00.000Z,214537888,S",
    "11,2014-04-07T10:53:00.000Z,214577561,2053639446",
    "3,2014-04-06T18:05:30.500Z,214536502,5",
)
#: A buy in each session; 11's buy has the same time as its last click, price 0.
BUY_ROWS: tuple[str, ...] = (
    "3,2014-04-06T18:44:58.314Z,214537888,12462,1",
    "11,2014-04-07T10:54:09.868Z,214536500,0,0",
)
#: The first three rows of the real yoochoose.csv.
PADDED_ROWS: tuple[str, ...] = (
    "0,0,0,0,1,2,3,1,3,2",
    "0,0,0,4,5,6,7,8,9,10",
    "0,0,0,0,0,0,11,12,13,14",
)
VALID_HEADER = "uid,timestamp,sid"
VALID_ROWS: tuple[str, ...] = (
    "11267046,1411990498.509,214718160",
    "11267046,1411992101.292,214516142",
    "9784,1411993634.408,214858790",
    "11267046,1411991000.000,214718160",
)
CLICKS = "yoochoose-clicks.dat"
BUYS = "yoochoose-buys.dat"
PADDED = "yoochoose.csv"
VALID = "yoochoose_valid.txt"


def lines_text(*rows: str) -> str:
    return "\n".join(rows) + "\n"


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


def write(root: Path, files: dict[str, str | bytes], compression: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        raw = data.encode("utf-8") if isinstance(data, str) else data
        compress(root / name, raw, compression)
    return root


def raw_files(
    clicks: str | bytes | None = None, buys: str | bytes | None = None
) -> dict[str, str | bytes]:
    return {
        CLICKS: lines_text(*CLICK_ROWS) if clicks is None else clicks,
        BUYS: lines_text(*BUY_ROWS) if buys is None else buys,
    }


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


def _bad_utf8(text: str, old: str, new: str) -> bytes:
    """``text`` with ``old`` replaced by ``new``, where ``new`` may hold a lone \\udcff."""
    return text.replace(old, new, 1).encode("utf-8", errors="surrogateescape")


# ------------------------------------------------- raw clicks and buys
@pytest.mark.parametrize("compression", [None, "gz", "xz", "bz2", "zip"])
def test_raw_reads_every_compression(tmp_path: Path, compression: str | None) -> None:
    root = write(tmp_path, raw_files(), compression)
    log = get_reader("yoochoose")(root).read()
    assert (log.n_users, log.n_items, log.n_interactions) == (2, 4, 7)
    assert log.users["raw_user_id"].tolist() == [3, 11]
    assert log.items["raw_item_id"].tolist() == [214536500, 214536502, 214537888, 214577561]
    assert log.feedback == (CLICK, PURCHASE)
    df = log.interactions
    # session 3, then 11; each by time; 11's tied click comes before its buy
    assert df[SESSION].tolist() == [1, 1, 1, 2, 2, 2, 2]
    assert df["user"].tolist() == df[SESSION].tolist()
    assert df["item"].tolist() == [3, 2, 3, 2, 4, 1, 1]
    assert df[CLICK].tolist() == [1, 1, 0, 1, 1, 1, 0]
    assert df[PURCHASE].tolist() == [0, 0, 1, 0, 0, 0, 1]
    # 2014-04-06T00:00Z = 1396742400; +18:00:00, +18:05:30.5, +18:44:58.314
    assert df[TIMESTAMP].tolist()[:4] == pytest.approx(
        [1396807200.0, 1396807530.5, 1396809898.314, 1396867869.277]
    )
    assert df["category"].tolist()[:2] == ["S", "5"]
    assert df["category"].isna().tolist() == [False, False, True, False, False, False, True]
    assert df["price"].tolist()[2] == 12462 and df["quantity"].tolist()[6] == 0
    assert np.isnan(df["price"].tolist()[0])
    assert log.meta["notes"] == ""


def test_raw_clicks_only(tmp_path: Path) -> None:
    root = write(tmp_path, {CLICKS: lines_text(*CLICK_ROWS)})
    reader = get_reader("yoochoose")(root)
    assert [p.name for p in reader.source_files()] == [CLICKS]
    log = reader.read()
    assert (log.n_users, log.n_items, log.n_interactions) == (2, 4, 5)
    assert (log.interactions[PURCHASE] == 0).all()
    assert "clicks only" in log.meta["notes"]


def test_raw_load_and_cache_roundtrip(tmp_path: Path) -> None:
    root = write(tmp_path / "yc", raw_files())
    first = load_dataset("yoochoose", root)
    again = load_dataset("yoochoose", root)
    assert again.interactions.equals(first.interactions)
    stats = log_stats(again)
    assert stats["sessions"] == 2 and stats["feedback"][PURCHASE]["positive"] == 2


_CLICKS_TEXT = lines_text(*CLICK_ROWS)
_BUYS_TEXT = lines_text(*BUY_ROWS)
_CLICKS_HEADER = "SessionID,Timestamp,ItemID,Category"

#: case -> (clicks content, buys content, file, line, field, words)
RAW_CASES: dict[str, tuple[str | bytes, str | bytes, str, int, str | None, str]] = {
    "wrong separator": (
        _CLICKS_TEXT.replace("3,2014-04-06T18:00:00.000Z,214537888,S", "3;2014-04-06T18:00;0;S"),
        _BUYS_TEXT,
        CLICKS,
        3,
        None,
        "wrong separator",
    ),
    "tab separated": (
        _CLICKS_TEXT.replace(CLICK_ROWS[1], CLICK_ROWS[1].replace(",", "\t")),
        _BUYS_TEXT,
        CLICKS,
        2,
        None,
        "wrong separator",
    ),
    "missing field": (
        _CLICKS_TEXT.replace(",214577561,2053639446", ",214577561"),
        _BUYS_TEXT,
        CLICKS,
        4,
        None,
        "3 fields",
    ),
    "extra field": (
        _CLICKS_TEXT.replace(",214536502,5", ",214536502,5,7"),
        _BUYS_TEXT,
        CLICKS,
        5,
        None,
        "5 fields",
    ),
    "missing buy field": (
        _CLICKS_TEXT,
        _BUYS_TEXT.replace(",12462,1", ",12462"),
        BUYS,
        1,
        None,
        "4 fields",
    ),
    "non-numeric session": (
        _CLICKS_TEXT.replace("3,2014-04-06T18:00", "S3,2014-04-06T18:00"),
        _BUYS_TEXT,
        CLICKS,
        3,
        "SessionID",
        "integer",
    ),
    "non-numeric item": (
        _CLICKS_TEXT.replace("214536500", "2145365OO"),
        _BUYS_TEXT,
        CLICKS,
        2,
        "ItemID",
        "integer",
    ),
    "empty category": (
        _CLICKS_TEXT.replace(",214536502,5", ",214536502,"),
        _BUYS_TEXT,
        CLICKS,
        5,
        "Category",
        "non-empty",
    ),
    "bad timestamp": (
        _CLICKS_TEXT.replace("2014-04-07T10:53:00.000Z", "07/04/2014 10:53"),
        _BUYS_TEXT,
        CLICKS,
        4,
        "Timestamp",
        "ISO-8601",
    ),
    "impossible date": (
        _CLICKS_TEXT,
        _BUYS_TEXT.replace("2014-04-06T18:44", "2014-13-06T18:44"),
        BUYS,
        1,
        "Timestamp",
        "ISO-8601",
    ),
    "negative price": (
        _CLICKS_TEXT,
        _BUYS_TEXT.replace(",12462,1", ",-3,1"),
        BUYS,
        1,
        "Price",
        "[0, inf]",
    ),
    "fractional quantity": (
        _CLICKS_TEXT,
        _BUYS_TEXT.replace(",0,0", ",0,1.5"),
        BUYS,
        2,
        "Quantity",
        "integer",
    ),
    "truncated last line": (
        _CLICKS_TEXT.rstrip("\n")[: -len("214536502,5")],
        _BUYS_TEXT,
        CLICKS,
        5,
        None,
        "truncated",
    ),
    "truncated last line (buys)": (
        _CLICKS_TEXT,
        _BUYS_TEXT.rstrip("\n")[: -len(",0")],
        BUYS,
        2,
        None,
        "truncated",
    ),
    "wrong encoding": (
        _bad_utf8(_CLICKS_TEXT, "214577561", "2145\udcff7561"),
        _BUYS_TEXT,
        CLICKS,
        4,
        None,
        "encoding",
    ),
    "wrong encoding (field)": (
        _bad_utf8(_CLICKS_TEXT, "214577561", "2145\udcff7561"),
        _BUYS_TEXT,
        CLICKS,
        4,
        "ItemID",
        "integer",
    ),
    "header line": (_CLICKS_HEADER + "\n" + _CLICKS_TEXT, _BUYS_TEXT, CLICKS, 1, None, "no header"),
    "duplicate header": (
        _CLICKS_TEXT + _CLICKS_HEADER + "\n" + CLICK_ROWS[0] + "\n",
        _BUYS_TEXT,
        CLICKS,
        6,
        "SessionID",
        "'SessionID'",
    ),
}


@pytest.mark.parametrize("case", list(RAW_CASES))
def test_raw_malformations_are_named(tmp_path: Path, case: str) -> None:
    clicks, buys, file, line, field, words = RAW_CASES[case]
    root = write(tmp_path, raw_files(clicks, buys))
    problems = problems_of(get_reader("yoochoose")(root).validate)
    assert_problem(problems, file, line, field, words)


def test_raw_problems_in_both_files_reported_together(tmp_path: Path) -> None:
    clicks = _CLICKS_TEXT.replace("214536500", "x")
    buys = _BUYS_TEXT.replace(",12462,", ",cheap,")
    root = write(tmp_path, raw_files(clicks, buys), compression="gz")
    problems = problems_of(get_reader("yoochoose")(root).read)
    assert {(p.file, p.line, p.field) for p in problems} == {
        (f"{CLICKS}.gz", 2, "ItemID"),
        (f"{BUYS}.gz", 1, "Price"),
    }


def test_raw_missing_file(tmp_path: Path) -> None:
    write(tmp_path, {BUYS: _BUYS_TEXT})
    with pytest.raises(InputError, match=r"yoochoose-clicks\.dat"):
        get_reader("yoochoose")(tmp_path).read()
    write(tmp_path, {PADDED: lines_text(*PADDED_ROWS)})
    with pytest.raises(InputError, match="yoochoose-padded"):
        get_reader("yoochoose")(tmp_path).source_files()


def test_raw_cli_reports_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path / "good", raw_files())
    assert main(["data", "validate", "yoochoose", "--path", str(good)]) == 0
    assert "valid" in capsys.readouterr().out
    bad = write(tmp_path / "bad", raw_files(buys=_BUYS_TEXT.replace("2014-04-07T10:54", "later")))
    assert main(["data", "validate", "yoochoose", "--path", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "yoochoose-buys.dat, line 2" in err and "Timestamp" in err


# --------------------------------------------------- padded DynamicRec subset
@pytest.mark.parametrize("compression", [None, "gz", "xz", "zip"])
def test_padded_reads_every_compression(tmp_path: Path, compression: str | None) -> None:
    root = write(tmp_path, {PADDED: lines_text(*PADDED_ROWS)}, compression)
    log = get_reader("yoochoose-padded")(root).read()
    assert (log.n_users, log.n_items, log.n_interactions) == (3, 14, 17)
    assert log.items["raw_item_id"].tolist() == list(range(1, 15))
    df = log.interactions
    assert df[SESSION].tolist() == [1] * 6 + [2] * 7 + [3] * 4
    assert df["user"].tolist() == df[SESSION].tolist()
    assert df["item"].tolist() == [1, 2, 3, 1, 3, 2, *range(4, 11), 11, 12, 13, 14]
    assert (df[CLICK] == 1).all() and df[TIMESTAMP].isna().all()
    assert log.feedback == (CLICK,)
    assert "no timestamps" in log.meta["notes"]


_PADDED_TEXT = lines_text(*PADDED_ROWS)

#: case -> (content, line, field, words)
PADDED_CASES: dict[str, tuple[str | bytes, int, str | None, str]] = {
    "wrong separator": (
        _PADDED_TEXT.replace(PADDED_ROWS[1], PADDED_ROWS[1].replace(",", ";")),
        2,
        None,
        "wrong separator",
    ),
    "missing field": (_PADDED_TEXT.replace("0,0,0,4,5", "0,0,4,5"), 2, None, "9 fields"),
    "extra field": (_PADDED_TEXT.replace("0,0,0,4,5", "0,0,0,0,4,5"), 2, None, "11 fields"),
    "non-numeric id": (_PADDED_TEXT.replace(",12,", ",l2,"), 3, "item_8", "integer"),
    "negative id": (_PADDED_TEXT.replace(",12,", ",-12,"), 3, "item_8", "[0, inf]"),
    "all padding": (_PADDED_TEXT + "0,0,0,0,0,0,0,0,0,0\n", 4, None, "non-zero"),
    "truncated last line": (_PADDED_TEXT.rstrip("\n")[:-5], 3, None, "truncated"),
    "wrong encoding": (_bad_utf8(_PADDED_TEXT, ",13,", ",1\udcff,"), 3, "item_9", "integer"),
    "wrong encoding (line)": (_bad_utf8(_PADDED_TEXT, ",13,", ",1\udcff,"), 3, None, "encoding"),
    "header line": (
        ",".join(f"item_{k}" for k in range(1, 11)) + "\n" + _PADDED_TEXT,
        1,
        None,
        "no header",
    ),
    "duplicate header": (
        _PADDED_TEXT + ",".join(f"item_{k}" for k in range(1, 11)) + "\n",
        4,
        "item_1",
        "integer",
    ),
    "empty line": (_PADDED_TEXT.replace("\n", "\n\n", 1), 2, None, "empty line"),
}


@pytest.mark.parametrize("case", list(PADDED_CASES))
def test_padded_malformations_are_named(tmp_path: Path, case: str) -> None:
    text, line, field, words = PADDED_CASES[case]
    root = write(tmp_path, {PADDED: text})
    problems = problems_of(get_reader("yoochoose-padded")(root).validate)
    assert_problem(problems, PADDED, line, field, words)


def test_padded_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"yoochoose\.csv"):
        get_reader("yoochoose-padded")(tmp_path).read()
    write(tmp_path, {VALID: lines_text(VALID_HEADER, *VALID_ROWS)})
    with pytest.raises(InputError, match="yoochoose-valid"):
        get_reader("yoochoose-padded")(tmp_path).validate()


def test_padded_cli_reports_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write(tmp_path, {PADDED: _PADDED_TEXT.replace("0,0,0,4,5", "0,0,0,4.0,5")})
    assert main(["data", "validate", "yoochoose-padded", "--path", str(root)]) == 2
    err = capsys.readouterr().err
    assert "yoochoose.csv, line 2" in err and "item_4" in err


# ------------------------------------------------ RecoHut validation clicks
@pytest.mark.parametrize("compression", [None, "gz", "xz", "zip"])
def test_valid_reads_every_compression(tmp_path: Path, compression: str | None) -> None:
    root = write(tmp_path, {VALID: lines_text(VALID_HEADER, *VALID_ROWS)}, compression)
    log = get_reader("yoochoose-valid")(root).read()
    assert (log.n_users, log.n_items, log.n_interactions) == (2, 3, 4)
    assert log.users["raw_user_id"].tolist() == [9784, 11267046]
    assert log.items["raw_item_id"].tolist() == [214516142, 214718160, 214858790]
    df = log.interactions
    # session 9784 first; 11267046's clicks by time (the file has them out of order)
    assert df[SESSION].tolist() == [1, 2, 2, 2]
    assert df["item"].tolist() == [3, 2, 2, 1]
    assert df[TIMESTAMP].tolist() == pytest.approx(
        [1411993634.408, 1411990498.509, 1411991000.0, 1411992101.292]
    )
    assert (df[CLICK] == 1).all()
    assert "no buys" in log.meta["notes"]


_VALID_TEXT = lines_text(VALID_HEADER, *VALID_ROWS)

#: case -> (content, line, field, words)
VALID_CASES: dict[str, tuple[str | bytes, int, str | None, str]] = {
    "wrong separator": (
        _VALID_TEXT.replace("9784,1411993634.408,", "9784\t1411993634.408\t"),
        4,
        None,
        "wrong separator",
    ),
    "wrong separator everywhere": (_VALID_TEXT.replace(",", ";"), 1, "header", "wrong separator"),
    "missing field": (_VALID_TEXT.replace("9784,1411993634.408,", "9784,"), 4, None, "2 fields"),
    "extra field": (_VALID_TEXT.replace(",214858790", ",214858790,1"), 4, None, "4 fields"),
    "non-numeric id": (_VALID_TEXT.replace("9784,", "97B4,"), 4, "uid", "integer"),
    "non-numeric item": (_VALID_TEXT.replace(",214858790", ",item"), 4, "sid", "integer"),
    "bad timestamp": (
        _VALID_TEXT.replace("1411993634.408", "2014-09-29T13:07:14Z"),
        4,
        "timestamp",
        "unix timestamp",
    ),
    "timestamp in ms": (
        _VALID_TEXT.replace("1411993634.408", "1411993634408000"),
        4,
        "timestamp",
        "1970..2100",
    ),
    "truncated last line": (_VALID_TEXT.rstrip("\n")[: -len(",214718160")], 5, None, "truncated"),
    "wrong encoding": (_bad_utf8(_VALID_TEXT, "9784,", "97\udcff4,"), 4, None, "encoding"),
    "wrong encoding (field)": (_bad_utf8(_VALID_TEXT, "9784,", "97\udcff4,"), 4, "uid", "integer"),
    "duplicate header": (_VALID_TEXT + VALID_HEADER + "\n", 6, None, "duplicate header"),
    "missing header": (lines_text(*VALID_ROWS), 1, "header", "uid"),
}


@pytest.mark.parametrize("case", list(VALID_CASES))
def test_valid_malformations_are_named(tmp_path: Path, case: str) -> None:
    text, line, field, words = VALID_CASES[case]
    root = write(tmp_path, {VALID: text})
    problems = problems_of(get_reader("yoochoose-valid")(root).validate)
    assert_problem(problems, VALID, line, field, words)


def test_valid_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"yoochoose_valid\.txt"):
        get_reader("yoochoose-valid")(tmp_path).read()


def test_valid_cli_reports_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write(tmp_path, {VALID: _VALID_TEXT.replace("1411992101.292", "soon")})
    assert main(["data", "validate", "yoochoose-valid", "--path", str(root)]) == 2
    err = capsys.readouterr().err
    assert "yoochoose_valid.txt, line 3" in err and "timestamp" in err


# ------------------------------------------------------------- real data
@pytest.mark.realdata
def test_real_yoochoose_counts() -> None:
    root = SHARED_DATA / "yoochoose"
    if not root.is_dir():
        pytest.skip(f"real data not available: {root}")
    with pytest.raises(InputError, match="yoochoose-padded"):
        get_reader("yoochoose")(root).source_files()
    # SOURCE.md: 80,183 sessions, 406,979 item events, items 1..12,936, lengths 4..9
    padded = get_reader("yoochoose-padded")(root).read()
    assert (padded.n_users, padded.n_items, padded.n_interactions) == (80_183, 12_936, 406_979)
    assert padded.items["raw_item_id"].tolist() == list(range(1, 12_937))
    lengths = padded.interactions.groupby(SESSION).size().value_counts().to_dict()
    assert lengths == {4: 38_516, 5: 16_921, 6: 13_259, 7: 5_057, 8: 4_513, 9: 1_917}
    # SOURCE.md: 7,954 clicks, 279 sessions of 20-69 clicks, 1,686 items, time span
    valid = get_reader("yoochoose-valid")(root).read()
    assert (valid.n_users, valid.n_items, valid.n_interactions) == (279, 1_686, 7_954)
    per_session = valid.interactions.groupby(SESSION).size()
    assert (per_session.min(), per_session.max()) == (20, 69)
    ts = valid.interactions[TIMESTAMP]
    assert (ts.min(), ts.max()) == pytest.approx((1411956907.366, 1412044780.514))
