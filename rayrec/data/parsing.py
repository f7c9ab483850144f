"""Vectorised parsing *and* validation of delimited text files.

Readers describe a file with a :class:`TableFormat` (separator, header, encoding,
typed :class:`Column` s) and call :func:`parse_table`. The whole file is checked
with Arrow compute kernels — no Python loop over lines — and every problem is
recorded with its file, 1-based line number, field and what was expected:

- bytes that are not valid in the declared encoding;
- lines with missing or extra fields, with a hint when another separator is used;
- a last line without a newline that fails the checks ("truncated?"), or any last
  line without a newline when the format says the file always ends in one;
- a header line where none belongs, a missing/misspelt header, or a duplicate header;
- values that are not integers / numbers / timestamps / allowed choices, or out of range,
  integers that do not fit in 64 bits and numbers that overflow a 64-bit float.

Rows with problems are dropped from the result; the caller raises the collector
once every file is checked, so nothing long starts on bad input.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from rayrec.errors import Problem, ProblemCollector

Kind = Literal["int", "float", "str", "unix_time", "datetime"]

_INT_RE = r"^[+-]?[0-9]+$"
_FLOAT_RE = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
#: one decimal number token (no NaN/inf words), as lists of numbers are checked
FLOAT_TOKEN = _FLOAT_RE
_NAN_RE = r"^(?i:nan|[+-]?inf(?:inity)?)$"
#: A number or a nan/inf literal, in one pattern so each value is scanned once.
_NUMBER_RE = f"(?:{_FLOAT_RE})|(?:{_NAN_RE})"
#: Decimal integers of at most this many characters (sign included) always fit in int64.
_INT64_SAFE_CHARS = 18
_INT64_WORDS = "a 64-bit integer"
_FLOAT64_WORDS = "a number within the 64-bit float range"
_TRUNCATED_WORDS = "a complete last line ending in a newline (is the file truncated?)"
_CUT_IN_QUOTE_WORDS = "a closed quote and a newline at the end (is the file truncated?)"
#: Unix seconds accepted as timestamps: 1970-01-01 up to 2100-01-01.
_UNIX_MAX = 4102444800.0
_OTHER_SEPARATORS: tuple[str, ...] = ("::", "\t", ",", ";", "|", "@", " ")
_EXPECTED_WORDS: dict[str, str] = {
    "int": "an integer",
    "float": "a number",
    "str": "a non-empty value",
    "unix_time": "a unix timestamp in seconds (1970..2100)",
    "datetime": "an ISO-8601 date-time such as 2014-04-07T10:51:09.277Z",
}


@dataclass(frozen=True)
class Column:
    """One typed field of a delimited file.

    Attributes:
        name: the field's name (the header's spelling when the file has one).
        kind: how to parse and check it.
        nullable: whether an empty value is allowed (read as missing).
        min_value / max_value: inclusive numeric range, checked for int/float.
        choices: the allowed values of a ``str`` field.
        scale: a factor applied to ``unix_time`` values (e.g. 1e-3 for milliseconds).
    """

    name: str
    kind: Kind = "str"
    nullable: bool = False
    min_value: float | None = None
    max_value: float | None = None
    choices: tuple[str, ...] | None = None
    scale: float = 1.0


@dataclass(frozen=True)
class TableFormat:
    """The layout of a delimited text file.

    Attributes:
        columns: typed fields. Without a header they are positional; with a header
            they are matched by name and other header fields are kept as strings
            when ``extra_columns`` is true.
        sep: field separator (may be several characters, e.g. ``::``).
        header: whether the first line is a header naming the fields.
        encoding: text encoding of the file.
        quoted: whether fields may be wrapped in double quotes (CSV quoting).
        extra_columns: with a header, allow fields not listed in ``columns``.
        require_final_newline: the original file always ends in a newline, so a
            non-empty file without one was cut short — even when its last line still
            parses (``...,2145365`` cut from ``...,214536502``). Off for files whose
            originals lack the final newline.
    """

    columns: tuple[Column, ...]
    sep: str
    header: bool = False
    encoding: str = "utf-8"
    quoted: bool = False
    extra_columns: bool = False
    column_names: tuple[str, ...] = field(default=())
    require_final_newline: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@dataclass
class ParsedTable:
    """The rows of a file that passed every check, typed, with their line numbers.

    ``ends_with_newline`` tells whether the (non-empty) file ended in a newline.
    """

    frame: pd.DataFrame
    lines: np.ndarray  # (R,) int64, 1-based line number of each row
    total_lines: int
    ends_with_newline: bool = True


def decode(raw: bytes, encoding: str, shown: str, problems: ProblemCollector) -> str:
    """Decode ``raw``; an undecodable byte is reported with its line number."""
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        bad = raw[exc.start : exc.start + 4]
        problems.add(
            Problem(shown, line, None, f"text in {encoding} (wrong encoding?)", f"bytes {bad!r}")
        )
        return raw.decode(encoding, errors="replace")


def split_lines(text: str) -> tuple[pa.Array, bool]:
    """Split ``text`` into lines (``\\r\\n`` tolerated); return (lines, ends_with_newline)."""
    lines, ends_nl = _raw_lines(text.encode("utf-8"))
    if len(lines):
        lines = pc.utf8_rtrim(lines, characters="\r\n")
    return lines, ends_nl


#: Bytes scanned per step when locating newlines (bounds the temporary mask).
_SCAN_BLOCK = 1 << 26


def _raw_lines(data: bytes) -> tuple[pa.Array, bool]:
    """Split UTF-8 ``data`` at ``\\n`` without copying it; each line keeps its terminator.

    The lines are a view of ``data`` (Arrow offsets over the same buffer), so a 1 GB
    file is not copied again. Callers trim values, and strip the terminator with
    :func:`_strip_eol` where a line is shown. Like :func:`split_lines`, a file holding
    nothing or a single newline has no lines.

    Returns:
        (lines as a ``large_string`` array, whether ``data`` ends with a newline).
    """
    ends_nl = data.endswith(b"\n")
    if len(data) <= 1 and (not data or ends_nl):
        return pa.array([], type=pa.large_string()), ends_nl
    view = np.frombuffer(data, dtype=np.uint8)
    breaks = [
        np.flatnonzero(view[i : i + _SCAN_BLOCK] == 0x0A) + i
        for i in range(0, len(view), _SCAN_BLOCK)
    ]
    ends = np.concatenate(breaks).astype(np.int64) + 1  # (L,) one past each newline
    if not ends_nl:
        ends = np.append(ends, len(data))
    offsets = np.concatenate((np.zeros(1, dtype=np.int64), ends))  # (L + 1,)
    lines = pa.Array.from_buffers(
        pa.large_string(), len(ends), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    return lines, ends_nl


def _strip_eol(line: str) -> str:
    """A raw line as the user sees it: without its ``\\n`` and trailing ``\\r``."""
    return line.removesuffix("\n").rstrip("\r")


def _is_utf8(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return False


def _separator_hint(line: str, sep: str) -> str:
    for other in _OTHER_SEPARATORS:
        if other != sep and other.strip(" ") and other in line and sep not in line:
            return f" (the line seems to use {other!r}: wrong separator?)"
    return ""


def _report(
    problems: ProblemCollector,
    shown: str,
    line_numbers: np.ndarray,
    rows: np.ndarray,
    field_name: str | None,
    expected: str,
    values: pa.Array,
) -> None:
    """Add one problem per row in ``rows`` (materialising only those under the cap)."""
    if not len(rows):
        return
    listed = rows[: max(0, problems.cap - len(problems.problems))]
    found = values.take(pa.array(listed, type=pa.int64())).to_pylist()
    problems.extend(
        (
            Problem(shown, int(line_numbers[i]), field_name, expected, v)
            for i, v in zip(listed, found, strict=True)
        ),
        total=len(rows),
    )


def _matches(values: pa.Array, pattern: str) -> np.ndarray:
    """(R,) bool: which values match ``pattern``, a pattern every run of ASCII digits matches.

    Plain digit strings (ids, unix times: most values in these files) are recognised
    by the cheap ``ascii_is_decimal`` kernel; the regular expression runs on the rest.
    """
    match = np.array(pc.fill_null(pc.ascii_is_decimal(values), False), dtype=bool)  # (R,)
    rest = np.flatnonzero(~match)
    if 2 * len(rest) > len(values):  # mostly not plain digits: one pass over everything
        return np.array(pc.fill_null(pc.match_substring_regex(values, pattern), False), dtype=bool)
    if len(rest):
        others = values.take(pa.array(rest, type=pa.int64()))
        match[rest] = np.asarray(pc.fill_null(pc.match_substring_regex(others, pattern), False))
    return match


def _cast_int64(strings: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Cast strings that match ``_INT_RE`` (or are null) to int64.

    Arrow refuses a leading ``+`` and any value outside int64; the first is dropped
    and the second becomes null instead of failing the whole column.

    Returns:
        (int64 values, (R,) bool mask of the values that do not fit in 64 bits).
    """
    overflow = np.zeros(len(strings), dtype=bool)
    if pc.any(pc.starts_with(strings, "+")).as_py():
        strings = pc.utf8_ltrim(strings, characters="+")  # _INT_RE allows one sign
    try:
        return pc.cast(strings, pa.int64()), overflow
    except pa.ArrowInvalid:
        pass
    # Only a long digit string can overflow: check those few exactly.
    long = pc.greater(pc.utf8_length(strings), _INT64_SAFE_CHARS)
    candidates = np.flatnonzero(np.asarray(pc.fill_null(long, False)))
    text = strings.take(pa.array(candidates, type=pa.int64())).to_pylist()
    for i, value in zip(candidates, text, strict=True):
        overflow[i] = not -(2**63) <= int(value) < 2**63
    fits = pc.if_else(pa.array(~overflow), strings, pa.scalar(None, strings.type))
    return pc.cast(fits, pa.int64()), overflow


def _float_overflow(typed: pa.Array, strings: pa.Array) -> np.ndarray:
    """(R,) bool mask of finite-looking numbers (``1e999``) that became infinite."""
    overflow = np.zeros(len(typed), dtype=bool)
    inf = pc.fill_null(pc.is_inf(typed), False)
    if not pc.any(inf).as_py():
        return overflow
    rows = np.flatnonzero(np.asarray(inf))
    literal = pc.match_substring_regex(strings.take(pa.array(rows, type=pa.int64())), _NAN_RE)
    overflow[rows[~np.asarray(literal)]] = True
    return overflow


def check_values(
    values: pa.Array,
    column: Column,
    line_numbers: np.ndarray,
    shown: str,
    problems: ProblemCollector,
) -> tuple[pa.Array, np.ndarray]:
    """Check and convert one string column.

    Returns:
        (typed values, boolean mask (R,) of rows that passed).
    """
    values = pc.utf8_trim_whitespace(values)
    empty_np = np.asarray(pc.fill_null(pc.equal(pc.utf8_length(values), 0), True))
    ok = np.ones(len(values), dtype=bool)
    if not column.nullable:
        ok &= ~empty_np
    if column.kind == "int":
        ok &= _matches(values, _INT_RE) | empty_np
    elif column.kind in ("float", "unix_time"):
        ok &= _matches(values, _NUMBER_RE) | empty_np
    present = ok & ~empty_np
    clean = (
        values
        if present.all()
        else pc.if_else(pa.array(present), values, pa.scalar(None, values.type))
    )
    # Rows whose value is well-formed but does not fit its type: reported on their own.
    overflow = np.zeros(len(values), dtype=bool)
    typed: pa.Array
    if column.kind == "int":
        typed, overflow = _cast_int64(clean)
    elif column.kind in ("float", "unix_time"):
        typed = pc.cast(clean, pa.float64())
        if column.kind == "float":
            overflow = _float_overflow(typed, clean)
        else:
            if column.scale != 1.0:
                typed = pc.multiply(typed, column.scale)
            in_range = pc.and_(pc.greater_equal(typed, 0.0), pc.less(typed, _UNIX_MAX))
            ok &= np.asarray(pc.fill_null(in_range, True))
    elif column.kind == "datetime":
        parsed = pd.to_datetime(
            pd.Series(clean.to_numpy(zero_copy_only=False)),
            format="ISO8601",
            errors="coerce",
            utc=True,
        )
        bad_dt = parsed.isna().to_numpy() & ~empty_np
        ok &= ~bad_dt
        seconds = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
        typed = pa.array(seconds, type=pa.float64(), from_pandas=True)
    else:
        typed = clean
    ok &= ~overflow
    if column.kind in ("int", "float") and (
        column.min_value is not None or column.max_value is not None
    ):
        numeric = typed
        # A literal NaN in a column that allows missing values is a missing value, not a
        # range violation (comparisons with NaN are false).
        nan_ok = (
            np.asarray(pc.fill_null(pc.is_nan(numeric), False))
            if column.nullable and column.kind == "float"
            else np.zeros(len(numeric), dtype=bool)
        )
        if column.min_value is not None:
            in_lo = np.asarray(pc.fill_null(pc.greater_equal(numeric, column.min_value), True))
            ok &= in_lo | nan_ok
        if column.max_value is not None:
            in_hi = np.asarray(pc.fill_null(pc.less_equal(numeric, column.max_value), True))
            ok &= in_hi | nan_ok
    if column.choices is not None:
        member = pc.is_in(values, value_set=pa.array(column.choices, type=values.type))
        ok &= np.asarray(member) | (empty_np & column.nullable)
    if overflow.any():
        words = _INT64_WORDS if column.kind == "int" else _FLOAT64_WORDS
        _report(problems, shown, line_numbers, np.flatnonzero(overflow), column.name, words, values)
    bad = np.flatnonzero(~ok & ~overflow)
    if len(bad):
        expected = _EXPECTED_WORDS[column.kind]
        if column.min_value is not None or column.max_value is not None:
            lo = "-inf" if column.min_value is None else f"{column.min_value:g}"
            hi = "inf" if column.max_value is None else f"{column.max_value:g}"
            expected += f" in [{lo}, {hi}]"
        if column.choices is not None:
            expected = "one of " + ", ".join(repr(c) for c in column.choices)
        _report(problems, shown, line_numbers, bad, column.name, expected, values)
    return typed, ok


def parse_table(
    raw: bytes, fmt: TableFormat, shown: str, problems: ProblemCollector
) -> ParsedTable:
    """Parse and check a delimited file held in ``raw`` (already decompressed)."""
    before = problems.total
    text = decode(raw, fmt.encoding, shown, problems)
    if fmt.quoted:
        return _parse_quoted(text, fmt, shown, problems)
    # Arrow wants UTF-8: valid UTF-8 input is used as is, anything else re-encoded.
    data = raw if problems.total == before and _is_utf8(fmt.encoding) else text.encode("utf-8")
    del text
    lines, ends_nl = _raw_lines(data)
    n_lines = len(lines)
    line_no = np.arange(1, n_lines + 1, dtype=np.int64)
    start = 0
    names = fmt.names
    header_line = ""
    if fmt.header:
        if n_lines == 0:
            problems.add(Problem(shown, None, None, "a header line and data", "an empty file"))
            return _empty(fmt)
        header_line = _strip_eol(lines[0].as_py())
        checked = _check_header(header_line, fmt, shown, problems)
        if checked is None:
            return _empty(fmt)
        names = checked
        start = 1
    body = lines.slice(start)
    body_lines = line_no[start:]
    if n_lines - start == 0:
        problems.add(Problem(shown, None, None, "at least one data line", "no data"))
        return _empty(fmt)
    # Raw lines are never empty (each keeps its newline): blank means all whitespace.
    blank = np.asarray(pc.utf8_is_space(body))
    parts = pc.split_pattern(body, fmt.sep)
    n_fields = np.asarray(pc.list_value_length(parts))
    wrong = np.flatnonzero((n_fields != len(names)) & ~blank)
    for i in np.flatnonzero(blank)[: problems.cap]:
        problems.add(Problem(shown, int(body_lines[i]), None, "a record", "an empty line"))
    if len(wrong):
        cap = max(0, problems.cap - len(problems.problems))
        for i in wrong[:cap]:
            line = _strip_eol(body[int(i)].as_py())
            expected = f"{len(names)} fields separated by {fmt.sep!r}" + _separator_hint(
                line, fmt.sep
            )
            if int(i) == len(body) - 1 and not ends_nl:
                expected += " (the last line has no newline: is the file truncated?)"
            found = f"{n_fields[i]} field{'s' if n_fields[i] != 1 else ''}: {line}"
            problems.add(Problem(shown, int(body_lines[i]), None, expected, found))
        problems.extend((), total=len(wrong) - min(len(wrong), cap))
    keep = (n_fields == len(names)) & ~blank
    if fmt.header:
        dup = _duplicate_headers(body, header_line)
        for i in np.flatnonzero(dup):
            problems.add(
                Problem(shown, int(body_lines[i]), None, "a data line", "a duplicate header line")
            )
        keep &= ~dup
    if not fmt.header and len(body) and keep[0]:
        _check_no_header(_strip_eol(body[0].as_py()), fmt, shown, int(body_lines[0]), problems)
    if not keep.all():
        parts = parts.filter(pa.array(keep))
    row_lines = body_lines[keep]
    by_name = {c.name: c for c in fmt.columns}
    cols: dict[str, pa.Array] = {}
    ok = np.ones(len(row_lines), dtype=bool)
    for j, name in enumerate(names):
        values = pc.list_element(parts, j)
        column = by_name.get(name, Column(name, "str", nullable=True))
        typed, col_ok = check_values(values, column, row_lines, shown, problems)
        cols[name] = typed
        ok &= col_ok
    if not ends_nl and keep[-1]:
        # (A last line with the wrong field count was reported with the truncation hint.)
        if not ok[-1]:
            problems.add(Problem(shown, n_lines, None, _TRUNCATED_WORDS, _last_line(lines)))
        elif fmt.require_final_newline:
            problems.add(Problem(shown, n_lines, names[-1], _TRUNCATED_WORDS, _last_line(lines)))
            ok[-1] = False
    return _finish(cols, ok, row_lines, n_lines, ends_nl)


def _last_line(lines: pa.Array) -> str:
    return _strip_eol(lines[len(lines) - 1].as_py())


def _duplicate_headers(body: pa.Array, header_line: str) -> np.ndarray:
    """(R,) bool mask of body lines that repeat the header line exactly."""
    dup = np.asarray(pc.fill_null(pc.starts_with(body, header_line), False))
    for i in np.flatnonzero(dup):
        dup[i] = _strip_eol(body[int(i)].as_py()) == header_line
    return dup


def _finish(
    cols: dict[str, pa.Array],
    ok: np.ndarray,
    row_lines: np.ndarray,
    n_lines: int,
    ends_nl: bool,
) -> ParsedTable:
    table = pa.table(cols)
    if not ok.all():
        table = table.filter(pa.array(ok))
    frame = table.to_pandas()
    return ParsedTable(
        frame=frame, lines=row_lines[ok], total_lines=n_lines, ends_with_newline=ends_nl
    )


def _empty(fmt: TableFormat) -> ParsedTable:
    return ParsedTable(
        frame=pd.DataFrame({c.name: [] for c in fmt.columns}),
        lines=np.zeros(0, dtype=np.int64),
        total_lines=0,
    )


def _split_header(header_line: str, sep: str) -> list[str]:
    return [h.strip().strip('"').lstrip("\ufeff") for h in header_line.split(sep)]


def _check_header(
    header_line: str, fmt: TableFormat, shown: str, problems: ProblemCollector
) -> tuple[str, ...] | None:
    got = _split_header(header_line, fmt.sep)
    missing = [c.name for c in fmt.columns if c.name not in got]
    extra = [g for g in got if g not in fmt.names]
    if missing or (extra and not fmt.extra_columns):
        expected = f"a header with the fields {fmt.sep.join(fmt.names)!r}"
        if missing:
            expected += f" (missing: {', '.join(missing)})"
        if _separator_hint(header_line, fmt.sep) and len(got) == 1:
            expected += _separator_hint(header_line, fmt.sep)
        problems.add(Problem(shown, 1, "header", expected, header_line))
        return None
    if len(set(got)) != len(got):
        problems.add(Problem(shown, 1, "header", "distinct field names", header_line))
        return None
    return tuple(got)


def _check_no_header(
    first: str, fmt: TableFormat, shown: str, line: int, problems: ProblemCollector
) -> None:
    """A headerless format whose first line reads like a header gets one clear message."""
    fields = [f.strip() for f in first.split(fmt.sep)]
    numeric_cols = [i for i, c in enumerate(fmt.columns) if c.kind in ("int", "float")]
    if numeric_cols and all(
        re.fullmatch(r"[A-Za-z_][A-Za-z0-9_ ]*", fields[i]) for i in numeric_cols
    ):
        problems.add(
            Problem(
                shown,
                line,
                None,
                f"data (this format has no header; fields: {', '.join(fmt.names)})",
                f"a header line: {first}",
            )
        )


def _parse_quoted(
    text: str, fmt: TableFormat, shown: str, problems: ProblemCollector
) -> ParsedTable:
    """CSV with quoting, through Arrow's CSV reader. Assumes no newlines inside quotes."""
    if not text.strip():
        problems.add(Problem(shown, None, None, "a header line and data", "an empty file"))
        return _empty(fmt)
    data = text.encode("utf-8")
    first_line = text.split("\n", 1)[0].rstrip("\r")
    if fmt.header:
        names = _check_header(first_line, fmt, shown, problems)
        if names is None:
            return _empty(fmt)
    else:
        names = fmt.names
    invalid: list[tuple[int | None, str, int]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append((row.number, row.text, row.actual_columns))
        return "skip"

    def read(use_threads: bool) -> pa.Table:
        return pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(
                column_names=list(names),
                skip_rows=1 if fmt.header else 0,
                use_threads=use_threads,
                block_size=1 << 24,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=fmt.sep,
                quote_char='"',
                newlines_in_values=False,
                # Blank lines come back as invalid rows (reported, and physical line
                # numbers stay right); skipping them would shift every later line number.
                ignore_empty_lines=False,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.large_string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )

    table = read(use_threads=True)
    start = 2 if fmt.header else 1
    n_total = text.count("\n") + (0 if text.endswith("\n") else 1)
    if invalid and any(number is None for number, _, _ in invalid):
        invalid.clear()
        table = read(use_threads=False)
    bad_lines: list[int] = []
    for number, line_text, actual in invalid:
        # Arrow counts physical rows from 1 including skipped header rows.
        line = int(number) if number is not None else -1
        bad_lines.append(line)
        expected = f"{len(names)} fields separated by {fmt.sep!r}" + _separator_hint(
            line_text, fmt.sep
        )
        if line == n_total and not text.endswith("\n"):
            expected += " (the last line has no newline: is the file truncated?)"
        problems.add(Problem(shown, line, None, expected, f"{actual} fields: {line_text}"))
    all_lines = np.arange(start, start + table.num_rows + len(bad_lines), dtype=np.int64)
    row_lines = all_lines[~np.isin(all_lines, np.asarray(bad_lines, dtype=np.int64))]
    if fmt.header:
        dup = np.ones(table.num_rows, dtype=bool)
        for name in names:
            dup &= np.asarray(pc.fill_null(pc.equal(table.column(name), name), False))
        for i in np.flatnonzero(dup):
            problems.add(
                Problem(shown, int(row_lines[i]), None, "a data line", "a duplicate header line")
            )
        if dup.any():
            table = table.filter(pa.array(~dup))
            row_lines = row_lines[~dup]
    by_name = {c.name: c for c in fmt.columns}
    cols: dict[str, pa.Array] = {}
    ok = np.ones(table.num_rows, dtype=bool)
    for name in names:
        column = by_name.get(name, Column(name, "str", nullable=True))
        values = table.column(name).combine_chunks()
        typed, col_ok = check_values(values, column, row_lines, shown, problems)
        cols[name] = typed
        ok &= col_ok
    ends_nl = text.endswith("\n")
    # The last line made it into the table (else its field count was reported, with a
    # hint that the file may be truncated).
    last_parsed = not ends_nl and len(row_lines) > 0 and row_lines[-1] == n_total
    last = _strip_eol(text.rsplit("\n", 1)[-1])
    if last_parsed and last.count('"') % 2:
        # Arrow closes a quote left open at the end of the data silently: a file cut
        # inside a quoted field (5,...,"20,4) would pass with a shortened last value.
        problems.add(Problem(shown, n_total, None, _CUT_IN_QUOTE_WORDS, last))
        ok[-1] = False
    elif last_parsed and fmt.require_final_newline:
        problems.add(Problem(shown, n_total, names[-1], _TRUNCATED_WORDS, last))
        ok[-1] = False
    return _finish(cols, ok, row_lines, n_total, ends_nl)


def as_string_array(
    values: pa.Array | pa.ChunkedArray | pd.Series | Sequence[str | None],
) -> pa.Array:
    """A string column as one Arrow array, nulls as empty strings, whitespace trimmed."""
    if isinstance(values, pd.Series):
        arr = pa.array(values.to_numpy(dtype=object), type=pa.large_string(), from_pandas=True)
    elif isinstance(values, pa.ChunkedArray):
        arr = values.combine_chunks()
    elif isinstance(values, pa.Array):
        arr = values
    else:
        arr = pa.array(list(values), type=pa.large_string())
    return pc.utf8_trim_whitespace(pc.fill_null(arr, ""))


def parse_float_lists(
    values: pa.Array | pd.Series | Sequence[str],
    sep: str,
    field_name: str,
    line_numbers: np.ndarray,
    shown: str,
    problems: ProblemCollector,
    *,
    length: int | None = None,
    min_length: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse a column of ``sep``-joined number lists (``"0.5,-1.2,3e-2"``).

    The float counterpart of :func:`parse_int_lists`: one problem per bad row (wrong
    length first, then the first token that is not a number).

    Returns:
        (flat float64 values, (R,) list lengths, (R,) bool mask of rows that passed).
    """
    arr = as_string_array(values)
    empty = np.asarray(pc.equal(pc.utf8_length(arr), 0))
    parts = pc.split_pattern(arr, sep)
    lengths = np.asarray(pc.list_value_length(parts)).astype(np.int64)
    flat = pc.utf8_trim_whitespace(pc.list_flatten(parts))
    if empty.any():  # an empty value is an empty list, not one empty token
        flat = flat.filter(pa.array(~np.repeat(empty, lengths)))
        lengths[empty] = 0
    is_num = np.asarray(pc.fill_null(pc.match_substring_regex(flat, FLOAT_TOKEN), False))
    floats = pc.cast(pc.if_else(pa.array(is_num), flat, "nan"), pa.float64()).to_numpy()
    row_of = np.repeat(np.arange(len(arr)), lengths)
    if length is not None:
        wrong_len = lengths != length
        expected_len = f"a list of exactly {length} numbers joined by {sep!r}"
    else:
        wrong_len = lengths < min_length
        expected_len = f"a list of at least {min_length} numbers joined by {sep!r}"
    ok = ~wrong_len
    for i in np.flatnonzero(wrong_len):
        problems.add(
            Problem(shown, int(line_numbers[i]), field_name, expected_len, str(arr[int(i)]))
        )
    report_first_bad_tokens(
        ok, row_of, ~is_num, flat, line_numbers, shown, field_name, "numbers", problems
    )
    return floats, lengths, ok


def report_first_bad_tokens(
    ok: np.ndarray,
    row_of_token: np.ndarray,
    bad: np.ndarray,
    tokens: pa.Array,
    line_numbers: np.ndarray,
    shown: str,
    field_name: str,
    expected: str,
    problems: ProblemCollector,
) -> None:
    """For each row still ``ok`` that holds a ``bad`` token: one problem naming its first
    bad token, and the row marked not ok (in place). ``row_of_token`` maps the flat
    ``tokens`` to their rows."""
    bad_tok = np.flatnonzero(bad)
    if not len(bad_tok):
        return
    rows, first = np.unique(row_of_token[bad_tok], return_index=True)
    for r, tok in zip(rows, bad_tok[first], strict=True):
        if ok[r]:
            ok[r] = False
            problems.add(
                Problem(shown, int(line_numbers[r]), field_name, expected, str(tokens[int(tok)]))
            )


def parse_int_lists(
    values: pa.Array | Sequence[str],
    sep: str,
    field_name: str,
    line_numbers: np.ndarray,
    shown: str,
    problems: ProblemCollector,
    *,
    length: int | None = None,
    min_length: int = 1,
    min_value: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse a column of ``sep``-joined integer lists (e.g. ``"3 17 17 4"``).

    Returns:
        (flat int64 values, (R,) list lengths, (R,) bool mask of rows that passed).
    """
    arr = values if isinstance(values, pa.Array) else pa.array(values, type=pa.large_string())
    arr = pc.utf8_trim_whitespace(arr)
    parts = pc.split_pattern(arr, sep)
    lengths = np.asarray(pc.list_value_length(parts)).astype(np.int64)
    flat = pc.list_flatten(parts)
    is_int = _matches(flat, _INT_RE)
    row_of = np.repeat(np.arange(len(arr)), lengths)
    ok = np.ones(len(arr), dtype=bool)
    bad_tok = np.flatnonzero(~is_int)
    if len(bad_tok):
        ok[np.unique(row_of[bad_tok])] = False
    typed, overflow = _cast_int64(flat if is_int.all() else pc.if_else(pa.array(is_int), flat, "0"))
    big = np.flatnonzero(overflow)
    if len(big):
        is_int &= ~overflow
        ok[np.unique(row_of[big])] = False
    ints = pc.fill_null(typed, 0).to_numpy()
    if min_value is not None:
        low = np.flatnonzero(is_int & (ints < min_value))
        ok[np.unique(row_of[low])] = False
    else:
        low = np.zeros(0, dtype=np.int64)
    if length is not None:
        wrong_len = lengths != length
        expected_len = f"a list of exactly {length} integers joined by {sep!r}"
    else:
        wrong_len = lengths < min_length
        expected_len = f"a list of at least {min_length} integers joined by {sep!r}"
    ok &= ~wrong_len
    reported: set[int] = set()
    for i in np.flatnonzero(wrong_len):
        reported.add(int(i))
        problems.add(
            Problem(shown, int(line_numbers[i]), field_name, expected_len, str(arr[int(i)]))
        )
    expected_int = "integers" if min_value is None else f"integers >= {min_value}"
    for tokens, expected in ((bad_tok, expected_int), (big, _INT64_WORDS), (low, expected_int)):
        for tok in tokens:
            r = int(row_of[tok])
            if r in reported:
                continue
            reported.add(r)
            problems.add(
                Problem(shown, int(line_numbers[r]), field_name, expected, str(flat[int(tok)]))
            )
    return ints, lengths, ok
