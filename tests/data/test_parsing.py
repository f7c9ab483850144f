"""The validating parser: every malformation is reported with file, line and field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from rayrec.cli import main
from rayrec.data.parsing import (
    Column,
    TableFormat,
    parse_float_lists,
    parse_int_lists,
    parse_table,
    split_lines,
)
from rayrec.errors import DataValidationError, Problem, ProblemCollector
from tests.data.movielens_fixtures import ratings_text, write_ml1m

FMT = TableFormat(
    columns=(
        Column("u", "int", min_value=1),
        Column("i", "int", min_value=1),
        Column("r", "float", min_value=0, max_value=5),
        Column("t", "unix_time"),
    ),
    sep="::",
    encoding="latin-1",
)


def parse(text: bytes | str, fmt: TableFormat = FMT) -> tuple[object, list[Problem]]:
    raw = text.encode("latin-1") if isinstance(text, str) else text
    problems = ProblemCollector()
    table = parse_table(raw, fmt, "f.dat", problems)
    return table, problems.problems


def test_good_file_types_and_line_numbers() -> None:
    table, problems = parse("1::2::3.5::978300760\n2::3::4::978300761\n")
    assert problems == []
    frame = table.frame  # type: ignore[attr-defined]
    assert frame["u"].tolist() == [1, 2]
    assert frame["r"].tolist() == [3.5, 4.0]
    assert frame["t"].tolist() == [978300760.0, 978300761.0]
    assert table.lines.tolist() == [1, 2]  # type: ignore[attr-defined]


def test_crlf_and_missing_final_newline_are_fine() -> None:
    table, problems = parse("1::2::3::978300760\r\n2::3::4::978300761")
    assert problems == []
    assert len(table.frame) == 2  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "line", "field", "needle"),
    [
        ("1::2::3::5\n1,2,3,5\n", 2, None, "wrong separator"),
        ("1::2::3::5\n1::2::3\n", 2, None, "4 fields"),
        ("1::2::3::5\n1::2::3::5::9\n", 2, None, "4 fields"),
        ("1::2::3::5\nx::2::3::5\n", 2, "u", "an integer"),
        ("1::2::3::5\n1::2::3::yesterday\n", 2, "t", "unix timestamp"),
        ("1::2::3::5\n1::2::3::-7\n", 2, "t", "unix timestamp"),
        ("1::2::3::5\n1::2::9::5\n", 2, "r", "in [0, 5]"),
        ("1::2::3::5\n\n1::2::3::5\n", 2, None, "a record"),
        ("1::2::3::5\n1::2::3::5\n1::2:", 3, None, "truncated"),
        ("1::2::3::5\n1::2::3::5\n1::2::3::5x", 3, None, "truncated"),
        ("u::i::r::t\n1::2::3::5\n", 1, None, "no header"),
    ],
)
def test_malformations_name_line_and_field(
    text: str, line: int, field: str | None, needle: str
) -> None:
    _, problems = parse(text)
    assert problems, "expected a problem"
    hit = [p for p in problems if p.line == line]
    assert hit, problems
    assert any(needle in str(p) for p in hit), [str(p) for p in hit]
    if field is not None:
        assert any(p.field == field for p in hit)
    assert all(p.file == "f.dat" for p in problems)


def test_wrong_encoding_names_the_line() -> None:
    fmt = TableFormat(columns=FMT.columns, sep="::", encoding="utf-8")
    _, problems = parse(b"1::2::3::5\n1::2::3::5\n1::\xff\xfe::3::5\n", fmt)
    assert any(p.line == 3 and "utf-8" in p.expected for p in problems)


HEADER_FMT = TableFormat(
    columns=(Column("a", "int"), Column("b", "str", choices=("x", "y"))), sep=",", header=True
)


def test_header_checks() -> None:
    _, problems = parse("a,b\n1,x\na,b\n2,y\n", HEADER_FMT)
    assert [(p.line, p.found) for p in problems] == [(3, "a duplicate header line")]
    _, problems = parse("a,c\n1,x\n", HEADER_FMT)
    assert problems[0].line == 1 and problems[0].field == "header"
    _, problems = parse("1,z\n", HEADER_FMT)
    assert problems[0].line == 1


def test_choices() -> None:
    _, problems = parse("a,b\n1,x\n2,q\n", HEADER_FMT)
    assert problems[0].line == 3 and problems[0].field == "b" and "'x'" in problems[0].expected


def test_quoted_csv_with_commas_inside_quotes() -> None:
    fmt = TableFormat(
        columns=(Column("id", "int"), Column("tag", "str", nullable=True)),
        sep=",",
        header=True,
        quoted=True,
        extra_columns=True,
    )
    raw = b'id,tag,rng\n1,"3,4","[1,5)"\n2,,x\nz,1,y\n3,4\n'
    problems = ProblemCollector()
    table = parse_table(raw, fmt, "q.csv", problems)
    assert table.frame["tag"].tolist()[0] == "3,4"
    assert {(p.line, p.field) for p in problems.problems} == {(4, "id"), (5, None)}


def test_problems_are_capped_but_counted() -> None:
    text = "".join(f"{i}::x::1::5\n" for i in range(1, 101))
    problems = ProblemCollector(cap=5)
    parse_table(text.encode(), FMT, "f.dat", problems)
    assert len(problems.problems) == 5 and problems.total == 100
    with pytest.raises(DataValidationError, match="95 more problems"):
        problems.raise_if_any()


def test_int_lists() -> None:
    problems = ProblemCollector()
    flat, lengths, ok = parse_int_lists(
        ["1 2 3", "4", "5 x", ""], " ", "items", np.array([1, 2, 3, 4]), "s.txt", problems
    )
    assert lengths.tolist()[:3] == [3, 1, 2]
    assert ok.tolist() == [True, True, False, False]
    assert {p.line for p in problems.problems} == {3, 4}
    assert flat[:4].tolist() == [1, 2, 3, 4]


def test_float_lists() -> None:
    """One problem per bad row: wrong length first, else the first non-number token;
    an empty value is an empty list; NaN words are not numbers here."""
    problems = ProblemCollector()
    flat, lengths, ok = parse_float_lists(
        [" 0.5, -1.2e1 ", "3,x,nan", "", "1,2,3"],
        ",",
        "vec",
        np.array([2, 3, 4, 5]),
        "s.csv",
        problems,
        length=2,
    )
    assert lengths.tolist() == [2, 3, 0, 3]
    assert ok.tolist() == [True, False, False, False]
    assert flat[:2].tolist() == [0.5, -12.0]
    assert [(p.line, p.field, p.found) for p in problems.problems] == [
        (3, "vec", "3,x,nan"),
        (4, "vec", ""),
        (5, "vec", "1,2,3"),
    ]
    problems = ProblemCollector()
    _, _, ok = parse_float_lists(["1,2", "1,z"], ",", "vec", np.array([1, 2]), "s", problems)
    assert ok.tolist() == [True, False]
    assert [(p.line, p.expected, p.found) for p in problems.problems] == [(2, "numbers", "z")]


# ------------------------------------------------------------ 64-bit overflow
INT_FMT = TableFormat(columns=(Column("id", "int"), Column("x", "float")), sep=",")


def test_int_that_overflows_int64_is_a_problem_not_a_crash() -> None:
    table, problems = parse("1,0.5\n123456789012345678901234,1\n3,2\n", INT_FMT)
    assert [(p.line, p.field, p.expected, p.found) for p in problems] == [
        (2, "id", "a 64-bit integer", "123456789012345678901234")
    ]
    assert table.frame["id"].tolist() == [1, 3]  # type: ignore[attr-defined]


def test_int64_bounds_and_plus_sign() -> None:
    text = "9223372036854775807,0\n-9223372036854775808,0\n+5,0\n-0000000000000000000007,0\n"
    table, problems = parse(text + "9223372036854775808,0\n-9223372036854775809,0\n", INT_FMT)
    assert table.frame["id"].tolist() == [2**63 - 1, -(2**63), 5, -7]  # type: ignore[attr-defined]
    assert [(p.line, p.expected) for p in problems] == [
        (5, "a 64-bit integer"),
        (6, "a 64-bit integer"),
    ]


def test_int_overflow_is_reported_alongside_other_problems() -> None:
    fmt = TableFormat(columns=(Column("id", "int", min_value=1),), sep=",")
    _, problems = parse("1\n99999999999999999999\nx\n0\n", fmt)
    assert [(p.line, p.expected) for p in problems] == [
        (2, "a 64-bit integer"),
        (3, "an integer in [1, inf]"),
        (4, "an integer in [1, inf]"),
    ]


def test_float_that_overflows_is_a_problem_but_inf_literal_is_not() -> None:
    table, problems = parse("1,1e999\n2,inf\n3,-Infinity\n4,1e308\n", INT_FMT)
    assert [(p.line, p.field, p.expected) for p in problems] == [
        (1, "x", "a number within the 64-bit float range")
    ]
    assert table.frame["id"].tolist() == [2, 3, 4]  # type: ignore[attr-defined]


def test_int_lists_overflow_and_plus_sign() -> None:
    problems = ProblemCollector()
    flat, lengths, ok = parse_int_lists(
        ["1 +2", "3 123456789012345678901234 4", "5"],
        " ",
        "items",
        np.array([1, 2, 3]),
        "s.txt",
        problems,
        min_value=1,
    )
    assert ok.tolist() == [True, False, True]
    assert lengths.tolist() == [2, 3, 1]
    assert flat.tolist() == [1, 2, 3, 0, 4, 5]
    assert [(p.line, p.field, p.expected, p.found) for p in problems.problems] == [
        (2, "items", "a 64-bit integer", "123456789012345678901234")
    ]


# ------------------------------------------------------------ final newline
STRICT = TableFormat(columns=FMT.columns, sep="::", require_final_newline=True)


def test_cut_inside_the_last_number_passes_without_the_option() -> None:
    table, problems = parse("1::2::3::978300760\n2::3::4::97830")
    assert problems == []
    assert table.ends_with_newline is False  # type: ignore[attr-defined]


def test_required_final_newline_reports_a_cut_last_line() -> None:
    table, problems = parse("1::2::3::978300760\n2::3::4::97830", STRICT)
    assert [(p.line, p.field, p.found) for p in problems] == [(2, "t", "2::3::4::97830")]
    assert problems[0].expected == (
        "a complete last line ending in a newline (is the file truncated?)"
    )
    assert table.frame["u"].tolist() == [1]  # type: ignore[attr-defined]


@pytest.mark.parametrize("text", ["1::2::3::5\n", "1::2::3::5\r\n", "1::2::3::5\n2::3::4::6\n"])
def test_required_final_newline_accepts_complete_files(text: str) -> None:
    table, problems = parse(text, STRICT)
    assert problems == []
    assert table.ends_with_newline is True  # type: ignore[attr-defined]


def test_required_final_newline_reports_once() -> None:
    # A last line with too few fields, or with a bad value, is reported once as truncated.
    for text in ("1::2::3::5\n1::2:", "1::2::3::5\n1::2::3::5x"):
        _, problems = parse(text, STRICT)
        assert [p.line for p in problems if "truncated" in str(p)] == [2], problems


def test_required_final_newline_in_quoted_csv() -> None:
    fmt = TableFormat(
        columns=(Column("id", "int"), Column("tag", "str")),
        sep=",",
        header=True,
        quoted=True,
        require_final_newline=True,
    )
    problems = ProblemCollector()
    table = parse_table(b'id,tag\n1,"a,b"\n2,c', fmt, "q.csv", problems)
    assert [(p.line, p.field, "truncated" in p.expected) for p in problems.problems] == [
        (3, "tag", True)
    ]
    assert table.frame["id"].tolist() == [1]
    assert table.ends_with_newline is False
    problems = ProblemCollector()
    assert len(parse_table(b'id,tag\n1,"a,b"\n2,c\n', fmt, "q.csv", problems).frame) == 2
    assert not problems


# ------------------------------------------------------------ line splitting
def test_split_lines_keeps_its_contract() -> None:
    assert split_lines("") == (pa.array([], type=pa.large_string()), False)
    lines, ends = split_lines("\n")
    assert len(lines) == 0 and ends
    lines, ends = split_lines("a\r\n\nb")
    assert lines.to_pylist() == ["a", "", "b"] and not ends


def test_values_lose_line_endings_and_keep_non_ascii_text() -> None:
    fmt = TableFormat(columns=(Column("id", "int"), Column("title", "str")), sep="|")
    for encoding in ("latin-1", "utf-8"):
        raw = "1|Amélie\r\n2|Léon".encode(encoding)
        problems = ProblemCollector()
        table = parse_table(raw, TableFormat(fmt.columns, "|", encoding=encoding), "m", problems)
        assert not problems
        assert table.frame["title"].tolist() == ["Amélie", "Léon"]


def test_duplicate_header_is_found_at_the_end_and_across_line_endings() -> None:
    _, problems = parse("a,b\r\n1,x\na,b", HEADER_FMT)
    assert [(p.line, p.found) for p in problems] == [(3, "a duplicate header line")]
    _, problems = parse("a,b\n1,x\na,bc\n", HEADER_FMT)  # starts like the header
    assert problems and "a duplicate header line" not in [p.found for p in problems]


def test_blank_and_wrong_lines_are_shown_without_their_newline() -> None:
    _, problems = parse("1::2::3::5\n \t\r\n1::2::3\r\n1::2::3::5\n")
    assert [(p.line, p.found) for p in problems] == [
        (2, "an empty line"),
        (3, "3 fields: 1::2::3"),
    ]


def test_cli_reports_an_overflowing_id_as_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = ratings_text().splitlines()
    rows[1] = "1::123456789012345678901234::3::978302109"
    root = write_ml1m(tmp_path, ratings="\n".join(rows) + "\n")
    assert main(["data", "validate", "ml-1m", "--path", str(root)]) == 2
    err = capsys.readouterr().err
    assert "internal error" not in err
    assert "ratings.dat, line 2: field 'MovieID': expected a 64-bit integer" in err


@pytest.mark.parametrize("final_newline_required", [False, True])
def test_quoted_csv_cut_inside_a_quote_is_reported_once(final_newline_required: bool) -> None:
    """Arrow closes a quote left open at the end of the data without a word; the cut
    last line is reported (once) and dropped, with or without require_final_newline."""
    fmt = TableFormat(
        columns=(Column("id", "int"), Column("tag", "str")),
        sep=",",
        header=True,
        quoted=True,
        require_final_newline=final_newline_required,
    )
    problems = ProblemCollector()
    table = parse_table(b'id,tag\n1,"a,b"\n2,"c, d', fmt, "q.csv", problems)
    assert [(p.line, "closed quote" in p.expected) for p in problems.problems] == [(3, True)]
    assert table.frame["id"].tolist() == [1]
    problems = ProblemCollector()  # an escaped quote ("") keeps the count even: fine
    table = parse_table(b'id,tag\n1,"a ""b"" c"', fmt, "q.csv", problems)
    assert not [p for p in problems.problems if "closed quote" in p.expected]


def test_quoted_csv_blank_line_keeps_line_numbers() -> None:
    fmt = TableFormat(
        columns=(Column("a", "int"), Column("b", "str")), sep=",", header=True, quoted=True
    )
    problems = ProblemCollector()
    parse_table(b'a,b\n1,x\n\n2,y\nz,"q"\n', fmt, "q.csv", problems)
    found = {(p.line, p.field) for p in problems.problems}
    assert (5, "a") in found  # the bad value is on physical line 5
    assert any(p.line == 3 for p in problems.problems)  # the blank line is reported


def test_literal_nan_is_missing_in_a_nullable_ranged_float() -> None:
    fmt = TableFormat(
        columns=(Column("x", "float", nullable=True, min_value=0.0),), sep=",", header=True
    )
    problems = ProblemCollector()
    table = parse_table(b"x\n1.5\nnan\n-2\n", fmt, "f.csv", problems)
    assert [(p.line, p.field) for p in problems.problems] == [(4, "x")]
    assert len(table.frame) == 2
