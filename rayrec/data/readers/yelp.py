"""Yelp Open Dataset reader: star ratings of businesses from the review JSON lines.

Formats (Yelp dataset documentation), in ``root`` or ``root/yelp_dataset``:

- ``yelp_academic_dataset_review.json``: one JSON object per line with ``review_id``,
  ``user_id``, ``business_id`` (strings), ``stars`` (1..5), ``useful``, ``funny``,
  ``cool`` (counts), ``text`` and ``date`` (``YYYY-MM-DD HH:MM:SS``, local time).
- ``yelp_academic_dataset_business.json`` (optional): ``business_id``, ``name``,
  ``city``, ``state``, ``stars``, ``review_count``, ``categories`` (a ``", "``-joined
  string or null) and nested fields that are not read.

The feedback is ``rating = stars``; ``timestamp`` is ``date`` read as UTC (Yelp gives
local times without a zone). ``text`` is not read; ``review_id`` is checked, not kept.

Files are checked with Arrow's JSON reader; only when it rejects a file is it read
line by line, so every problem — a line that is not JSON, a truncated last line, bytes
that are not UTF-8, a missing key, a value of the wrong type — is reported with its
line number and field.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from rayrec.data.io import find_file, read_bytes
from rayrec.data.parsing import ParsedTable
from rayrec.data.readers.base import DatasetReader, Parsed, register
from rayrec.data.schema import RATING, InteractionLog, build_log
from rayrec.errors import Problem, ProblemCollector

REVIEWS = "yelp_academic_dataset_review.json"
BUSINESSES = "yelp_academic_dataset_business.json"
SUBDIRS: tuple[str, ...] = ("yelp_dataset",)

JsonKind = Literal["str", "float", "int"]
_ARROW_TYPES: dict[str, pa.DataType] = {
    "str": pa.large_string(),
    "float": pa.float64(),
    "int": pa.int64(),
}
_EXPECTED: dict[str, str] = {"str": "a string", "float": "a number", "int": "an integer"}


@dataclass(frozen=True)
class JsonField:
    """One key of a JSON-lines record.

    Attributes:
        name: the key.
        kind: the JSON type expected (``float`` accepts integers too).
        required: whether the key must be present, non-null (and, for strings, non-empty).
        min_value / max_value: inclusive range for numbers.
    """

    name: str
    kind: JsonKind = "str"
    required: bool = True
    min_value: float | None = None
    max_value: float | None = None


REVIEW_FIELDS: tuple[JsonField, ...] = (
    JsonField("review_id"),
    JsonField("user_id"),
    JsonField("business_id"),
    JsonField("stars", "float", min_value=1, max_value=5),
    JsonField("useful", "int", required=False, min_value=0),
    JsonField("funny", "int", required=False, min_value=0),
    JsonField("cool", "int", required=False, min_value=0),
    JsonField("date"),
)
BUSINESS_FIELDS: tuple[JsonField, ...] = (
    JsonField("business_id"),
    JsonField("name", required=False),
    JsonField("city", required=False),
    JsonField("state", required=False),
    JsonField("stars", "float", required=False, min_value=0, max_value=5),
    JsonField("review_count", "int", required=False, min_value=0),
    JsonField("categories", required=False),
)


def _schema(fields: Sequence[JsonField]) -> pa.Schema:
    return pa.schema([(f.name, _ARROW_TYPES[f.kind]) for f in fields])


def _is_utf8(raw: bytes) -> bool:
    """Whether ``raw`` is valid UTF-8, checked by Arrow without copying or decoding."""
    offsets = pa.py_buffer(np.array([0, len(raw)], dtype=np.int64).tobytes())
    arr = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(raw)])
    try:
        arr.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _read_fast(raw: bytes, fields: Sequence[JsonField]) -> pa.Table | None:
    """The whole file through Arrow, or None when it needs the line-by-line pass.

    Arrow skips blank lines and does not check unread keys' encoding, so files with
    blank lines, bad UTF-8 or any parse error go through :func:`_read_slow`, which
    numbers lines exactly.
    """
    if b"\n\n" in raw or b"\n\r\n" in raw or raw.startswith((b"\n", b"\r")):
        return None
    n_lines = raw.count(b"\n") + (0 if raw.endswith(b"\n") else 1)
    if not _is_utf8(raw):
        return None
    try:
        table = pajson.read_json(
            pa.BufferReader(raw),
            read_options=pajson.ReadOptions(block_size=1 << 24),
            parse_options=pajson.ParseOptions(
                explicit_schema=_schema(fields), unexpected_field_behavior="ignore"
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return table if table.num_rows == n_lines else None


def _type_ok(value: Any, kind: JsonKind) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if isinstance(value, bool):
        return False
    if kind == "int":
        return isinstance(value, int)
    return isinstance(value, int | float)


def _read_slow(
    raw: bytes, fields: Sequence[JsonField], shown: str, problems: ProblemCollector
) -> tuple[pa.Table, np.ndarray]:
    """Line by line: every malformed line becomes a problem naming its line (and key)."""
    lines = raw.split(b"\n")
    ends_nl = raw.endswith(b"\n")
    if ends_nl:
        lines.pop()
    columns: dict[str, list[Any]] = {f.name: [] for f in fields}
    row_lines: list[int] = []
    for no, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped:
            problems.add(Problem(shown, no, None, "a JSON object", "an empty line"))
            continue
        try:
            text = stripped.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = stripped[exc.start : exc.start + 4]
            problems.add(
                Problem(shown, no, None, "text in utf-8 (wrong encoding?)", f"bytes {bad!r}")
            )
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            expected = "a JSON object on one line"
            if no == len(lines) and not ends_nl:
                expected += " (the last line has no newline: is the file truncated?)"
            problems.add(Problem(shown, no, None, expected, f"{exc.msg} (column {exc.colno})"))
            continue
        if not isinstance(record, dict):
            problems.add(Problem(shown, no, None, "a JSON object", type(record).__name__))
            continue
        values = [record.get(f.name) for f in fields]
        wrong = [
            (f, v)
            for f, v in zip(fields, values, strict=True)
            if v is not None and not _type_ok(v, f.kind)
        ]
        for f, v in wrong:
            problems.add(Problem(shown, no, f.name, _EXPECTED[f.kind], json.dumps(v)))
        if wrong:
            continue
        for f, v in zip(fields, values, strict=True):
            columns[f.name].append(float(v) if f.kind == "float" and v is not None else v)
        row_lines.append(no)
    table = pa.table({f.name: pa.array(columns[f.name], type=_ARROW_TYPES[f.kind]) for f in fields})
    return table, np.asarray(row_lines, dtype=np.int64)


def parse_json_lines(
    raw: bytes, fields: Sequence[JsonField], shown: str, problems: ProblemCollector
) -> ParsedTable:
    """Parse and check a JSON-lines file: types, required keys, numeric ranges.

    Returns:
        The rows that passed, with only ``fields`` as columns, and their line numbers.
    """
    if not raw.strip():
        problems.add(Problem(shown, None, None, "JSON lines", "an empty file"))
        return ParsedTable(pd.DataFrame({f.name: [] for f in fields}), np.zeros(0, np.int64), 0)
    n_lines = raw.count(b"\n") + (0 if raw.endswith(b"\n") else 1)
    table = _read_fast(raw, fields)
    if table is not None:
        lines = np.arange(1, table.num_rows + 1, dtype=np.int64)
    else:
        table, lines = _read_slow(raw, fields, shown, problems)
    ok = np.ones(table.num_rows, dtype=bool)
    for f in fields:
        values = table.column(f.name)
        bad = np.zeros(table.num_rows, dtype=bool)
        if f.required:
            bad |= np.asarray(values.is_null())
            expected = f"{_EXPECTED[f.kind]} (a required key)"
            _report(bad, lines, shown, f.name, expected, "nothing (missing or null)", problems)
            if f.kind == "str":
                empty = np.asarray(pc.fill_null(pc.equal(pc.utf8_length(values), 0), False))
                _report(empty, lines, shown, f.name, "a non-empty string", "''", problems)
                bad |= empty
        if f.min_value is not None or f.max_value is not None:
            lo = -np.inf if f.min_value is None else f.min_value
            hi = np.inf if f.max_value is None else f.max_value
            num = values.to_numpy(zero_copy_only=False).astype(np.float64)
            with np.errstate(invalid="ignore"):
                out = ~np.isnan(num) & ((num < lo) | (num > hi))
            _report(
                out, lines, shown, f.name, f"{_EXPECTED[f.kind]} in [{lo:g}, {hi:g}]", num, problems
            )
            bad |= out
        ok &= ~bad
    frame = table.filter(pa.array(ok)).to_pandas()
    return ParsedTable(frame=frame, lines=lines[ok], total_lines=n_lines)


def _report(
    mask: np.ndarray,
    lines: np.ndarray,
    shown: str,
    field: str,
    expected: str,
    found: str | np.ndarray,
    problems: ProblemCollector,
) -> None:
    idx = np.flatnonzero(mask)
    problems.extend(
        (
            Problem(
                shown,
                int(lines[i]),
                field,
                expected,
                found if isinstance(found, str) else f"{found[i]:g}",
            )
            for i in idx[: problems.cap]
        ),
        total=len(idx),
    )


def review_times(table: ParsedTable, shown: str, problems: ProblemCollector) -> np.ndarray:
    """``date`` as unix seconds (read as UTC); unparsable dates are problems.

    Returns:
        (R,) float64 seconds, NaN where the date is bad.
    """
    raw = table.frame["date"]
    dates = pd.to_datetime(raw, format="ISO8601", errors="coerce")
    bad = np.flatnonzero(dates.isna().to_numpy())
    problems.extend(
        (
            Problem(
                shown,
                int(table.lines[i]),
                "date",
                "a date-time like 2018-07-07 22:09:11",
                str(raw.iloc[i]),
            )
            for i in bad[: problems.cap]
        ),
        total=len(bad),
    )
    seconds: np.ndarray = (dates - pd.Timestamp(0)).dt.total_seconds().to_numpy()
    return seconds


def business_features(table: ParsedTable) -> pd.DataFrame:
    """Business features indexed by raw ``business_id`` (``stars`` -> ``avg_stars``)."""
    frame = table.frame.rename(columns={"stars": "avg_stars"})
    return frame.set_index("business_id")


def _data_dir(root: Path) -> Path:
    for directory in (root, *(root / s for s in SUBDIRS)):
        if directory.is_dir() and find_file(directory, REVIEWS, required=False) is not None:
            return directory
    return root


@register
class Yelp(DatasetReader):
    """Yelp reviews as star ratings (+ business features when the file is present)."""

    name = "yelp"
    title = "Yelp Open Dataset (reviews)"
    default_dir = "yelp"
    homepage = "https://www.yelp.com/dataset"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.data_dir = _data_dir(root)

    def _reviews(self) -> Path:
        path = find_file(self.data_dir, REVIEWS)
        assert path is not None
        return path

    def _businesses(self) -> Path | None:
        return find_file(self.data_dir, BUSINESSES, required=False)

    def source_files(self) -> list[Path]:
        business = self._businesses()
        return [self._reviews()] + ([business] if business is not None else [])

    def _parse_json(
        self, path: Path, fields: Sequence[JsonField], problems: ProblemCollector
    ) -> ParsedTable:
        shown = self.shown(path)
        return parse_json_lines(read_bytes(path, shown_as=shown), fields, shown, problems)

    def parse(self, problems: ProblemCollector) -> Parsed:
        path = self._reviews()
        reviews = self._parse_json(path, REVIEW_FIELDS, problems)
        out: Parsed = {
            "reviews": reviews,
            "times": review_times(reviews, self.shown(path), problems),
        }
        business = self._businesses()
        if business is not None:
            out["businesses"] = self._parse_json(business, BUSINESS_FIELDS, problems)
        return out

    def build(self, parsed: Parsed) -> InteractionLog:
        rows = parsed["reviews"].frame.assign(timestamp=parsed["times"])
        items = business_features(parsed["businesses"]) if "businesses" in parsed else None
        return build_log(
            self.name,
            rows,
            raw_user="user_id",
            raw_item="business_id",
            timestamp="timestamp",
            feedback={RATING: "stars"},
            item_features=items,
            meta={
                "timestamps": True,
                "notes": "timestamps are Yelp's local review times read as UTC",
            },
        )
