"""Typed configs from YAML: frozen dataclasses filled from dicts with clear errors.

:func:`from_dict` builds a dataclass from a mapping, recursing into nested
dataclasses, and rejects unknown keys and wrong types with an
:class:`~rayrec.errors.InputError` naming the file, the key path and the expected
type (``envs/ml1m.yaml: env.slate_size: expected an integer, got 'ten'``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import yaml

from rayrec.errors import InputError

T = TypeVar("T")


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; errors name the file (and line for syntax errors)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise InputError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a YAML mapping at the top level")
    return data


def from_dict(cls: type[T], data: Any, where: str) -> T:
    """Build dataclass ``cls`` from ``data``; ``where`` prefixes error messages."""
    if not isinstance(data, Mapping):
        raise InputError(f"{where}: expected a mapping, got {_show(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise InputError(
            f"{where}: unknown key {', '.join(repr(u) for u in unknown)};"
            f" expected one of {', '.join(sorted(fields))}"
        )
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        kwargs[name] = _convert(hints[name], value, _join(where, name))
    missing = [
        n
        for n, f in fields.items()
        if n not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise InputError(f"{where}: missing required key {', '.join(repr(m) for m in missing)}")
    try:
        return cls(**kwargs)
    except (InputError, TypeError, ValueError) as exc:  # __post_init__ checks: add file and key
        raise InputError(f"{where}: {exc}") from exc


def _join(where: str, key: str) -> str:
    """``file.yaml`` + ``env`` -> ``file.yaml: env``; ``file.yaml: env`` + ``k`` -> ``...env.k``."""
    if not where:
        return key
    return f"{where}.{key}" if ": " in where else f"{where}: {key}"


def _show(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return from_dict(tp, value, where)
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            raise InputError(
                f"{where}: expected one of {', '.join(repr(c) for c in choices)}, got {value!r}"
            )
        return value
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, where)
            except InputError as exc:
                errors.append(str(exc).split(": ", 1)[-1])
        raise InputError(f"{where}: {' or '.join(errors)}")
    if origin is dict:
        key_t, val_t = get_args(tp) or (Any, Any)
        if not isinstance(value, Mapping):
            raise InputError(f"{where}: expected a mapping, got {_show(value)}")
        return {
            _convert(key_t, k, where): _convert(val_t, v, _join(where, str(k)))
            for k, v in value.items()
        }
    if origin in (tuple, list):
        args = get_args(tp)
        if not isinstance(value, list | tuple):
            raise InputError(f"{where}: expected a list, got {_show(value)}")
        item_t = args[0] if args else Any
        items = [_convert(item_t, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is bool:
        if not isinstance(value, bool):
            raise InputError(f"{where}: expected true or false, got {_show(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{where}: expected an integer, got {_show(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            if isinstance(value, str):
                try:
                    return float(value)  # YAML reads 1e-3 as a string
                except ValueError:
                    pass
            raise InputError(f"{where}: expected a number, got {_show(value)}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise InputError(f"{where}: expected a string, got {_show(value)}")
        return value
    return value


#: the value types a data field's current default can say (``--config`` checks)
_DEFAULT_TYPES: tuple[tuple[type, Any], ...] = (
    (bool, bool),  # before int: a bool is an int
    (int, int),
    (float, float),
    (str, str),
    (list, list[Any]),
    (tuple, list[Any]),
    (dict, dict[str, Any]),
)


def data_fields(obj: Any) -> dict[str, Any]:
    """The public, non-callable data attributes of ``obj`` and their current values:
    what a ``KEY=VALUE`` override may set. Its instance attributes, and properties with
    a setter (RLlib's ``train_batch_size_per_learner``) whose getter works (a deprecated
    alias raises); not methods, read-only properties, classes or private state."""
    fields = {
        name: value
        for name, value in vars(obj).items()
        if not name.startswith("_") and not callable(value)
    }
    for cls in type(obj).__mro__:
        for name, attr in vars(cls).items():
            if name.startswith("_") or name in fields or not isinstance(attr, property):
                continue
            if attr.fset is None:
                continue
            try:
                value = getattr(obj, name)
            except Exception:  # a deprecated alias refuses to be read
                continue
            if not callable(value):
                fields[name] = value
    return fields


def check_like(default: Any, value: Any, where: str) -> Any:
    """``value`` checked (and converted, as :func:`from_dict` does) against the type of
    a field's current ``default``: bool, int, float (an int or ``"1e-3"`` is taken),
    str, list or mapping; a field whose default is None, or of another type, takes
    any value. ``where`` names the field in the error."""
    if hasattr(value, "item") and type(value).__module__ == "numpy":
        value = value.item()  # a numpy scalar (Tune's samplers) as its Python value
    for kind, tp in _DEFAULT_TYPES:
        if isinstance(default, kind):
            converted = _convert(tp, value, where)
            return tuple(converted) if kind is tuple else converted
    return value


def check_field(cls: type, name: str, value: Any, where: str) -> Any:
    """``value`` checked (and converted) against the annotated type of field ``name`` of
    dataclass ``cls``, as :func:`from_dict` does; ``where`` names it in the error."""
    return _convert(typing.get_type_hints(cls)[name], value, where)


def lookup(registry: Mapping[str, T], name: str, what: str, hint: str = "") -> T:
    """``registry[name]``, or an :class:`InputError` naming the known names:
    ``unknown <what> 'x'; expected one of: a, b<hint>``."""
    try:
        return registry[name]
    except KeyError:
        known = ", ".join(sorted(registry))
        raise InputError(f"unknown {what} {name!r}; expected one of: {known}{hint}") from None


def to_dict(obj: Any) -> Any:
    """A dataclass (nested) as plain dicts/lists, for YAML/JSON."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_dict(v) for v in obj]
    return obj
