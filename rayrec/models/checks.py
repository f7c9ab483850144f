"""Type and range checks for the frozen model-config dataclasses (``__post_init__``).

Each check raises :class:`~rayrec.errors.InputError` naming the field as the user sets
it (``model.<field>``, the ``rayrec train --config`` key) and the value found, in the
house format ``model.n_layers: expected an integer >= 1, got -1``. Configs built by
:func:`rayrec.config.from_dict` get the file (or ``--config model``) prefixed.

Example:
    >>> check_int("model.n_layers", 2, low=1)
    2
    >>> check_number("model.dropout", 0, low=0.0, high=1.0, high_open=True)
    0.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from rayrec.errors import InputError


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_int(name: str, value: Any, *, low: int | None = None) -> int:
    """An integer (not a bool), at least ``low`` when given."""
    if not _is_int(value):
        raise InputError(f"{name}: expected an integer, got {value!r}")
    if low is not None and value < low:
        raise InputError(f"{name}: expected an integer >= {low}, got {value!r}")
    return int(value)


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real number (ints accepted, bools not) in the stated interval, as float.

    ``low_open`` / ``high_open`` exclude the bound: ``low=0, high=1, high_open=True`` is
    ``[0, 1)``.
    """
    if not _is_number(value) or value != value or value in (float("inf"), float("-inf")):
        raise InputError(f"{name}: expected a number, got {value!r}")
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        shown = int(value) if float(value).is_integer() else value  # 2.0 (from YAML 2) -> 2
        raise InputError(
            f"{name}: expected a number {_interval(low, high, low_open, high_open)}, got {shown!r}"
        )
    return float(value)


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    def show(x: float) -> str:
        return f"{x:g}"

    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{show(low)}, {show(high)}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {show(low)}"
    assert high is not None
    return f"{'<' if high_open else '<='} {show(high)}"


def check_bool(name: str, value: Any) -> bool:
    """``True`` or ``False`` (not 0/1, not a string)."""
    if not isinstance(value, bool):
        raise InputError(f"{name}: expected true or false, got {value!r}")
    return value


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """One of ``choices``."""
    if value not in choices:
        raise InputError(
            f"{name}: expected one of {', '.join(repr(c) for c in choices)}, got {value!r}"
        )
    return str(value)


def check_widths(name: str, value: Any) -> tuple[int, ...]:
    """A list of layer widths, each an integer >= 1 (an empty list: no hidden layer)."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InputError(f"{name}: expected a list of integers >= 1, got {value!r}")
    if not all(_is_int(w) and w >= 1 for w in value):
        raise InputError(f"{name}: expected a list of integers >= 1, got {value!r}")
    return tuple(int(w) for w in value)


def shared_fields(cls: Any, settings: object) -> dict[str, Any]:
    """The values of dataclass ``cls``'s fields that ``settings`` carries by the same names
    (an encoder's settings inside a model config; fields it lacks are left out, so they
    keep ``cls``'s defaults)."""
    return {f.name: getattr(settings, f.name) for f in fields(cls) if hasattr(settings, f.name)}
