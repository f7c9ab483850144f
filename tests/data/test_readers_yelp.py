"""Yelp reader on generated JSON-lines fixtures in the original Yelp dataset format."""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rayrec.cli import main
from rayrec.data import get_reader
from rayrec.data.readers.yelp import Yelp
from rayrec.data.schema import RATING, TIMESTAMP
from rayrec.errors import DataValidationError, InputError, Problem

REVIEW_FILE = "yelp_academic_dataset_review.json"
BUSINESS_FILE = "yelp_academic_dataset_business.json"

#: uA reviews bX (2018, 5 stars) and bY (2014, 3 stars); uB reviews bX; uC reviews bZ.
REVIEWS: tuple[dict[str, Any], ...] = (
    {"review_id": "r1", "user_id": "uA", "business_id": "bX", "stars": 5.0, "useful": 1,
     "funny": 0, "cool": 0, "text": "Great café!\nWill return.", "date": "2018-07-07 22:09:11"},
    {"review_id": "r2", "user_id": "uB", "business_id": "bX", "stars": 2, "useful": 0,
     "funny": 0, "cool": 0, "text": "Meh", "date": "2012-01-03 15:28:18"},
    {"review_id": "r3", "user_id": "uA", "business_id": "bY", "stars": 3.0, "useful": 0,
     "funny": 1, "cool": 0, "text": "OK", "date": "2014-02-05 20:30:30"},
    {"review_id": "r4", "user_id": "uC", "business_id": "bZ", "stars": 4.0, "useful": 0,
     "funny": 0, "cool": 2, "text": "Nice", "date": "2015-01-04 00:01:03"},
)  # fmt: skip
BUSINESSES: tuple[dict[str, Any], ...] = (
    {"business_id": "bX", "name": "Café X", "address": "1 Main St", "city": "Tampa",
     "state": "FL", "postal_code": "33602", "latitude": 27.9, "longitude": -82.4,
     "stars": 4.5, "review_count": 7, "is_open": 1, "attributes": {"WiFi": "u'free'"},
     "categories": "Coffee & Tea, Cafes", "hours": None},
    {"business_id": "bY", "name": "Y Diner", "city": "Reno", "state": "NV", "stars": 3.0,
     "review_count": 12, "categories": None},
    {"business_id": "bZ", "name": "Z Bar", "city": "Boise", "state": "ID", "stars": 4.0,
     "review_count": 5, "categories": "Bars, Nightlife"},
)  # fmt: skip


def jsonl(records: tuple[dict[str, Any], ...] | list[Any], end: str = "\n") -> bytes:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    return ("\n".join(lines) + end).encode("utf-8")


def write_yelp(
    root: Path, *, reviews: bytes | None = None, businesses: bool = True, gz: bool = False
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    data = jsonl(REVIEWS) if reviews is None else reviews
    if gz:
        (root / f"{REVIEW_FILE}.gz").write_bytes(gzip.compress(data))
    else:
        (root / REVIEW_FILE).write_bytes(data)
    if businesses:
        (root / BUSINESS_FILE).write_bytes(jsonl(BUSINESSES))
    return root


def problems_of(root: Path) -> list[Problem]:
    with pytest.raises(DataValidationError) as err:
        Yelp(root).validate()
    assert err.value.exit_code == 2
    return err.value.problems


def utc(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


# -------------------------------------------------------------------- reading
@pytest.mark.parametrize("gz", [False, True])
def test_reviews_hand_checked(tmp_path: Path, gz: bool) -> None:
    log = get_reader("yelp")(write_yelp(tmp_path, gz=gz)).read()
    assert (log.n_users, log.n_items, log.n_interactions) == (3, 3, 4)
    assert log.users["raw_user_id"].tolist() == ["uA", "uB", "uC"]
    assert log.items["raw_item_id"].tolist() == ["bX", "bY", "bZ"]
    assert log.feedback == (RATING,)
    df = log.interactions
    # uA's two reviews in time order (bY in 2014, then bX in 2018), then uB, uC
    assert log.items.loc[df["item"], "raw_item_id"].tolist() == ["bY", "bX", "bX", "bZ"]
    assert df[RATING].tolist() == [3.0, 5.0, 2.0, 4.0]
    assert df[TIMESTAMP].tolist() == [
        utc("2014-02-05 20:30:30"),
        utc("2018-07-07 22:09:11"),
        utc("2012-01-03 15:28:18"),
        utc("2015-01-04 00:01:03"),
    ]
    assert df[TIMESTAMP].iloc[1] == 1531001351.0


def test_business_features(tmp_path: Path) -> None:
    items = Yelp(write_yelp(tmp_path)).read().items
    assert items["name"].tolist() == ["Café X", "Y Diner", "Z Bar"]
    assert items["avg_stars"].tolist() == [4.5, 3.0, 4.0]
    assert items["review_count"].tolist() == [7, 12, 5]
    assert items.loc[1, "categories"] == "Coffee & Tea, Cafes"
    assert items["categories"].isna().tolist() == [False, True, False]


def test_dataset_subfolder_and_extra_keys(tmp_path: Path) -> None:
    extra = [dict(r, sentiment=0.5, votes={"useful": 1}) for r in REVIEWS]
    write_yelp(tmp_path / "yelp_dataset", reviews=jsonl(extra), businesses=False)
    log = Yelp(tmp_path).read()
    assert log.n_interactions == 4
    assert log.meta["source_files"] == [f"yelp_dataset/{REVIEW_FILE}"]


def test_missing_reviews_named(tmp_path: Path) -> None:
    (tmp_path / BUSINESS_FILE).write_bytes(jsonl(BUSINESSES))
    with pytest.raises(InputError, match=re.escape(REVIEW_FILE)):
        Yelp(tmp_path).read()


# ------------------------------------------------------------- malformations
def review(**changes: Any) -> str:
    record = {k: v for k, v in {**REVIEWS[1], **changes}.items() if v is not ...}
    return json.dumps(record, ensure_ascii=False)


def with_line_3(line: str, end: str = "\n") -> bytes:
    """The fixture with its third line replaced."""
    lines: list[Any] = [REVIEWS[0], REVIEWS[1], line, REVIEWS[3]]
    return jsonl(lines, end=end)


CSV_LINE = "r3,uA,bY,3.0,0,1,0,OK,2014-02-05 20:30:30"
TWO_ON_ONE = review() + " " + review(review_id="r9")


@pytest.mark.parametrize(
    ("data", "line", "field", "words"),
    [
        (with_line_3(CSV_LINE), 3, None, "a JSON object"),
        (with_line_3(review(stars=...)), 3, "stars", "required"),
        (with_line_3(TWO_ON_ONE), 3, None, "Extra data"),
        (with_line_3(review(user_id=123)), 3, "user_id", "a string"),
        (with_line_3(review(stars="five")), 3, "stars", "a number"),
        (with_line_3(review(useful=1.5)), 3, "useful", "an integer"),
        (with_line_3(review(stars=6)), 3, "stars", "in [1, 5]"),
        (with_line_3(review(business_id="")), 3, "business_id", "non-empty"),
        (with_line_3(review(date="2018-02-30 10:00:00")), 3, "date", "date-time"),
        (with_line_3(review(date=None)), 3, "date", "required"),
        (jsonl(REVIEWS)[:-30], 4, None, "truncated"),
        (with_line_3(review(text="MARK")).replace(b"MARK", b"caf\xe9"), 3, None, "encoding"),
        (with_line_3(""), 3, None, "empty line"),
        (with_line_3("[1, 2]"), 3, None, "a JSON object"),
    ],
    ids=[
        "csv-line",
        "missing-key",
        "two-records-one-line",
        "numeric-user-id",
        "string-stars",
        "float-count",
        "stars-range",
        "empty-id",
        "bad-date",
        "null-date",
        "truncated",
        "encoding",
        "blank-line",
        "not-an-object",
    ],
)
def test_malformed_review_line_named(
    tmp_path: Path, data: bytes, line: int, field: str | None, words: str
) -> None:
    p = problems_of(write_yelp(tmp_path, reviews=data))[0]
    assert (p.file, p.line, p.field) == (REVIEW_FILE, line, field)
    assert words in str(p)


def test_line_numbers_exact_after_blank_lines(tmp_path: Path) -> None:
    lines: list[Any] = [REVIEWS[0], "", REVIEWS[1], review(date="yesterday"), "", "{oops"]
    problems = problems_of(write_yelp(tmp_path, reviews=jsonl(lines)))
    assert [(p.line, p.field) for p in problems] == [(2, None), (4, "date"), (5, None), (6, None)]
    assert "yesterday" in str(problems[1])


def test_problems_in_both_files_collected(tmp_path: Path) -> None:
    root = write_yelp(tmp_path, reviews=with_line_3(review(stars=0)))
    bad = [BUSINESSES[0], {k: v for k, v in BUSINESSES[1].items() if k != "business_id"}]
    (root / BUSINESS_FILE).write_bytes(jsonl(bad))
    found = {(p.file, p.line, p.field) for p in problems_of(root)}
    assert found == {(REVIEW_FILE, 3, "stars"), (BUSINESS_FILE, 2, "business_id")}


def test_cli_validate_reports_bad_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_yelp(tmp_path, reviews=with_line_3(review(stars="five")))
    assert main(["data", "validate", "yelp", "--path", str(root)]) == 2
    assert f"{REVIEW_FILE}, line 3: field 'stars'" in capsys.readouterr().err
