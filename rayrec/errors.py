"""Errors that reach the user.

Every error the CLI reports without a traceback derives from :class:`RayrecError`.
Input problems (a malformed file, a bad config value, a missing file) are
:class:`InputError` and exit with code 2; several problems found in one pass are
collected by :class:`ProblemCollector` and raised together, capped, as one
:class:`DataValidationError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

#: Exit code for bad user input (malformed data, invalid config, missing file).
EXIT_INPUT = 2
#: Exit code for anything else that went wrong inside rayrec.
EXIT_FAILURE = 1


class RayrecError(Exception):
    """Base of all errors reported to the user without a traceback."""

    exit_code: int = EXIT_FAILURE


class InputError(RayrecError):
    """The user's input (a file, a path, a config value) is not what rayrec expects."""

    exit_code = EXIT_INPUT


@dataclass(frozen=True)
class Problem:
    """One problem found in an input file.

    Attributes:
        file: the file's name as the user knows it (path relative to the dataset dir).
        line: 1-based line number, or None when the problem is about the whole file.
        field: the field (column) name, or None.
        expected: what rayrec expected there, in words.
        found: what was there instead (shortened), or None.
    """

    file: str
    line: int | None
    field: str | None
    expected: str
    found: str | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}, line {self.line}"
        what = f"field '{self.field}': " if self.field else ""
        got = "" if self.found is None else f", found {_shorten(self.found)!r}"
        return f"{where}: {what}expected {self.expected}{got}"


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class DataValidationError(InputError):
    """One or more problems in input files, reported together."""

    def __init__(self, problems: list[Problem], total: int | None = None) -> None:
        self.problems = problems
        self.total = len(problems) if total is None else total
        lines = [str(p) for p in problems]
        if self.total > len(problems):
            lines.append(f"... and {self.total - len(problems)} more problems")
        noun = "problem" if self.total == 1 else "problems"
        super().__init__(f"{self.total} {noun} in the input:\n  " + "\n  ".join(lines))


@dataclass
class ProblemCollector:
    """Collects problems up to ``cap`` while counting all of them.

    Readers add every problem they find, then call :meth:`raise_if_any` once the
    files are checked, so the user sees several problems at once.
    """

    cap: int = 20
    problems: list[Problem] = field(default_factory=list)
    total: int = 0

    def add(self, problem: Problem) -> None:
        self.total += 1
        if len(self.problems) < self.cap:
            self.problems.append(problem)

    def extend(self, problems: Iterable[Problem], total: int | None = None) -> None:
        """Add problems; ``total`` counts those the caller did not materialise."""
        count = 0
        for p in problems:
            self.add(p)
            count += 1
        if total is not None and total > count:
            self.total += total - count

    @property
    def full(self) -> bool:
        return len(self.problems) >= self.cap

    def __bool__(self) -> bool:
        return self.total > 0

    def raise_if_any(self) -> None:
        """Raise the collected problems, grouped by file and ordered by line."""
        if self.total:
            files = {p.file: k for k, p in reversed(list(enumerate(self.problems)))}
            ordered = sorted(self.problems, key=lambda p: (files[p.file], p.line or 0))
            raise DataValidationError(ordered, self.total)
