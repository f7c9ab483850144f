"""The validating parser: every malformation is reported with file, line and field."""

from __future__ import annotations

import numpy as np
import pytest

from rayrec.data.parsing import Column, TableFormat, parse_int_lists, parse_table
from rayrec.errors import DataValidationError, Problem, ProblemCollector

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
