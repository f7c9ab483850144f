"""Train / valid / test splits of an :class:`~rayrec.data.schema.InteractionLog`.

Every split function takes a log and returns a frozen :class:`Split`: one boolean
row mask per part (``train``, optional ``valid``, ``test``) over
``log.interactions``. The parts are disjoint and together cover every row. Views
are taken with :meth:`Split.view`, which keeps the log's dense ids unchanged, so a
model trained on one part can score another.

The kinds (registered in :data:`SPLITS`, built from a spec by :func:`make_split`):

- ``per_user_ratio``: each user's history in time order (ties by log order; log
  order alone when the log has no timestamps); the first 80 % → train, the rest →
  test (or 80/10/10 with a valid part). Part boundaries are
  ``floor(n · cumulative_fraction)``. A user whose train share would be below
  ``min_train`` interactions is kept whole in train.
- ``global_time``: one cut on the time axis at the ``train_frac`` quantile of the
  interaction timestamps (so ``train_frac`` of the *interactions*, not of the time
  span, fall before it). Rows at exactly a cut time go to the later part, so every
  train timestamp is strictly below every valid/test timestamp.
- ``random_session``: whole sessions (or whole users when the log has no
  ``session`` column) are shuffled with a seeded generator and dealt 8:1:1; no
  session crosses parts.
- ``leave_last_k``: each user's last ``k`` interactions → test, the ``valid_k``
  before them → valid; users with ``k + valid_k`` or fewer interactions stay whole
  in train.

All implementations are vectorised (``lexsort`` + group offsets): no Python loop runs
over users or sessions, so million-row logs split in well under a second.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rayrec.data.schema import SESSION, TIMESTAMP, USER, InteractionLog
from rayrec.errors import InputError

TRAIN = "train"
VALID = "valid"
TEST = "test"
PARTS: tuple[str, ...] = (TRAIN, VALID, TEST)

#: Tolerance for fractions that must sum to one, and for ``floor(n · fraction)``.
_EPS = 1e-9


@dataclass(frozen=True, eq=False)
class Split:
    """Row masks of one split of a log (all of length ``n_rows``).

    Attributes:
        kind: the registry name of the split (``per_user_ratio``, ...).
        params: the arguments it was made with.
        train / test: boolean masks (R,), read-only.
        valid: boolean mask (R,), or None when the split has no valid part.
        info: summary computed when the split was made (users per part, time
            ranges, cut times, notes); see :meth:`describe`.
    """

    kind: str
    params: Mapping[str, Any]
    train: np.ndarray
    test: np.ndarray
    valid: np.ndarray | None = None
    info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return len(self.train)

    @property
    def parts(self) -> tuple[str, ...]:
        """The part names present, in order (``train``, [``valid``,] ``test``)."""
        return (TRAIN, VALID, TEST) if self.valid is not None else (TRAIN, TEST)

    def mask(self, part: str) -> np.ndarray:
        """The boolean row mask (R,) of ``part``."""
        if part == TRAIN:
            return self.train
        if part == TEST:
            return self.test
        if part == VALID and self.valid is not None:
            return self.valid
        raise KeyError(f"split '{self.kind}' has no part '{part}'; it has {', '.join(self.parts)}")

    def indices(self, part: str) -> np.ndarray:
        """The row indices (int64, increasing) of ``part``."""
        return np.flatnonzero(self.mask(part))

    def view(self, log: InteractionLog, part: str) -> InteractionLog:
        """The log restricted to ``part``'s rows; ids and id tables are unchanged.

        Raises:
            ValueError: when ``log`` is not the log (row count) the split was made from.
        """
        if log.n_interactions != self.n_rows:
            raise ValueError(
                f"split '{self.kind}' was made for {self.n_rows} rows, the log has"
                f" {log.n_interactions}"
            )
        out = log.subset(self.mask(part), name=f"{log.name}:{part}")
        out.meta["split"] = {"kind": self.kind, "part": part, "params": dict(self.params)}
        return out

    def views(self, log: InteractionLog) -> dict[str, InteractionLog]:
        """``{part: view}`` for every part present."""
        return {part: self.view(log, part) for part in self.parts}

    def describe(self) -> dict[str, Any]:
        """A short JSON-able summary: kind, params, rows and fractions per part, info."""
        rows = {part: int(self.mask(part).sum()) for part in self.parts}
        total = max(self.n_rows, 1)
        return {
            "kind": self.kind,
            "params": dict(self.params),
            "rows": rows,
            "fractions": {p: round(n / total, 4) for p, n in rows.items()},
            **self.info,
        }


#: name -> split function; filled by :func:`register_split`.
SPLITS: dict[str, Callable[..., Split]] = {}
#: name -> the parameter that positional values of a string spec fill (a tuple
#: parameter takes all of them; otherwise they fill the listed names in order).
_POSITIONAL: dict[str, tuple[str, ...]] = {}
#: parameters that take a sequence of fractions.
_SEQUENCE_PARAMS = frozenset({"ratios", "fractions"})


def register_split(
    name: str, positional: tuple[str, ...]
) -> Callable[[Callable[..., Split]], Callable[..., Split]]:
    """Register a split function under ``name`` for :func:`make_split`."""

    def wrap(fn: Callable[..., Split]) -> Callable[..., Split]:
        if name in SPLITS:
            raise ValueError(f"split '{name}' registered twice")
        SPLITS[name] = fn
        _POSITIONAL[name] = positional
        return fn

    return wrap


# --------------------------------------------------------------------- helpers
def _check_fractions(
    name: str, values: Any, *, sizes: tuple[int, ...] = (2, 3)
) -> tuple[float, ...]:
    """Validate positive fractions summing to one; a lone ``x`` (or ``(x,)``) means ``(x, 1-x)``."""
    if isinstance(values, int | float) and not isinstance(values, bool):
        values = (float(values), 1.0 - float(values))
    expected = f"{' or '.join(map(str, sizes))} positive fractions summing to 1"
    try:
        fracs = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise InputError(f"split parameter '{name}': expected {expected}, got {values!r}") from None
    if len(fracs) == 1 and 0 < fracs[0] < 1:
        fracs = (fracs[0], 1.0 - fracs[0])
    if (
        len(fracs) not in sizes
        or not all(math.isfinite(f) and f > 0 for f in fracs)
        or abs(sum(fracs) - 1.0) > 1e-6
    ):
        raise InputError(f"split parameter '{name}': expected {expected}, got {values!r}")
    return fracs


def _check_fraction(name: str, value: Any, *, low: float, high: float, allow_low: bool) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value >= low if allow_low else value > low) and value < high
    if not ok:
        bracket = "[" if allow_low else "("
        raise InputError(
            f"split parameter '{name}': expected a number in {bracket}{low:g}, {high:g}), got"
            f" {value!r}"
        )
    return float(value)


def _check_int(name: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InputError(
            f"split parameter '{name}': expected an integer ≥ {minimum}, got {value!r}"
        )
    return int(value)


def _boundaries(n: np.ndarray, fractions: Sequence[float]) -> list[np.ndarray]:
    """Per-row part boundaries ``floor(n · cumsum(fractions))`` (the last one is ``n``)."""
    cums = np.cumsum(fractions)[:-1]
    bounds = [np.minimum(np.floor(n * c + _EPS).astype(np.int64), n) for c in cums]
    return [*bounds, n]


def _chronological_positions(log: InteractionLog) -> tuple[np.ndarray, np.ndarray]:
    """Each row's 0-based position in its user's time-ordered history, and that length.

    Order: timestamp (NaN last), ties by row order; row order alone without timestamps.

    Returns:
        (position (R,) int64, history length of the row's user (R,) int64).
    """
    df = log.interactions
    n_rows = len(df)
    users = df[USER].to_numpy()
    rows = np.arange(n_rows, dtype=np.int64)
    if log.has_timestamps:
        order = np.lexsort((rows, df[TIMESTAMP].to_numpy(dtype=np.float64), users))
    else:
        order = np.argsort(users, kind="stable")
    sorted_users = users[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]]) if n_rows else rows
    counts = np.diff(np.r_[starts, n_rows])
    group = np.repeat(np.arange(len(starts)), counts)  # (R,) group of each sorted row
    position = np.empty(n_rows, dtype=np.int64)
    length = np.empty(n_rows, dtype=np.int64)
    position[order] = rows - starts[group]
    length[order] = counts[group]
    return position, length


def _freeze(mask: np.ndarray) -> np.ndarray:
    out = np.ascontiguousarray(mask, dtype=bool)
    out.setflags(write=False)
    return out


def _summary(log: InteractionLog, masks: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Users per part and each part's time range (UTC seconds) when timestamps exist."""
    df = log.interactions
    users = df[USER].to_numpy()
    info: dict[str, Any] = {
        "users": {part: int(pd.unique(users[m]).size) for part, m in masks.items()}
    }
    if log.has_timestamps:
        ts = df[TIMESTAMP].to_numpy(dtype=np.float64)
        ranges: dict[str, list[float] | None] = {}
        for part, m in masks.items():
            part_ts = ts[m]
            part_ts = part_ts[~np.isnan(part_ts)]
            ranges[part] = [float(part_ts.min()), float(part_ts.max())] if part_ts.size else None
        info["time_range"] = ranges
    return info


def _make(
    kind: str,
    params: Mapping[str, Any],
    log: InteractionLog,
    masks: dict[str, np.ndarray],
    info: Mapping[str, Any],
) -> Split:
    summary = _summary(log, masks)
    summary.update(info)
    return Split(
        kind=kind,
        params=dict(params),
        train=_freeze(masks[TRAIN]),
        test=_freeze(masks[TEST]),
        valid=_freeze(masks[VALID]) if VALID in masks else None,
        info=summary,
    )


def _order_note(log: InteractionLog) -> list[str]:
    if log.has_timestamps:
        return []
    return ["the log has no timestamps: each user's history is taken in log order"]


# ---------------------------------------------------------------------- splits
@register_split("per_user_ratio", positional=("ratios",))
def per_user_ratio(
    log: InteractionLog,
    ratios: Sequence[float] | float = (0.8, 0.2),
    min_train: int = 1,
) -> Split:
    """Split each user's chronological history by ratio.

    Args:
        ratios: (train, test) or (train, valid, test) fractions summing to 1; a single
            number x means (x, 1 - x).
        min_train: users whose train share ``floor(n · ratios[0])`` is below this are
            kept whole in train (a user with one interaction always is, for 0.8).

    A user with n interactions gets rows ``[0, b1)`` in train, ``[b1, b2)`` in valid and
    ``[b2, n)`` in test of their time-ordered history, ``b_k = floor(n · Σ ratios[:k])``.
    """
    fracs = _check_fractions("ratios", ratios)
    min_train = _check_int("min_train", min_train, minimum=0)
    position, length = _chronological_positions(log)
    bounds = _boundaries(length, fracs)
    kept_whole = bounds[0] < min_train  # (R,) the row's user is too short to split
    train = (position < bounds[0]) | kept_whole
    masks = {TRAIN: train}
    if len(fracs) == 3:
        masks[VALID] = (position >= bounds[0]) & (position < bounds[1]) & ~kept_whole
    masks[TEST] = (position >= bounds[-2]) & ~kept_whole
    n_whole = int(pd.unique(log.interactions[USER].to_numpy()[kept_whole]).size)
    notes = _order_note(log)
    if n_whole:
        notes.append(f"{n_whole} users with too few interactions kept whole in train")
    info: dict[str, Any] = {
        "users_kept_in_train": n_whole,
        "order": "time" if log.has_timestamps else "log",
    }
    if notes:
        info["notes"] = notes
    return _make("per_user_ratio", {"ratios": fracs, "min_train": min_train}, log, masks, info)


@register_split("global_time", positional=("train_frac", "valid_frac"))
def global_time(log: InteractionLog, train_frac: float = 0.8, valid_frac: float = 0.0) -> Split:
    """Cut the whole log at global timestamps.

    Args:
        train_frac: the cut is the timestamp at this quantile of the interaction
            timestamps (``sorted_ts[floor(R · train_frac)]``); rows strictly before it
            are train. Rows sharing the cut time go to the next part, so train may hold
            slightly fewer than ``train_frac`` of the rows.
        valid_frac: when > 0, a second cut at the ``train_frac + valid_frac`` quantile;
            rows between the two cuts are valid.

    Raises:
        InputError: when the log has no timestamps, or some rows lack one.
    """
    train_frac = _check_fraction("train_frac", train_frac, low=0.0, high=1.0, allow_low=False)
    valid_frac = _check_fraction("valid_frac", valid_frac, low=0.0, high=1.0, allow_low=True)
    if train_frac + valid_frac >= 1.0 - _EPS:
        raise InputError(
            f"split parameters 'train_frac' + 'valid_frac': expected a sum below 1, got"
            f" {train_frac:g} + {valid_frac:g}"
        )
    if not log.has_timestamps:
        raise InputError(
            f"{log.name}: split 'global_time' needs timestamps and this log has none; use"
            " 'per_user_ratio', 'leave_last_k' or 'random_session'"
        )
    ts = log.interactions[TIMESTAMP].to_numpy(dtype=np.float64)
    missing = int(np.isnan(ts).sum())
    if missing:
        raise InputError(
            f"{log.name}: split 'global_time' needs a timestamp on every row; {missing} of"
            f" {len(ts)} rows have none"
        )
    ordered = np.sort(ts)
    n_rows = len(ts)

    def cut_at(frac: float) -> float:
        return float(ordered[min(math.floor(n_rows * frac + _EPS), n_rows - 1)])

    t_train = cut_at(train_frac)
    masks = {TRAIN: ts < t_train}
    cuts = {"train_end": t_train}
    if valid_frac > 0:
        t_valid = cut_at(train_frac + valid_frac)
        masks[VALID] = (ts >= t_train) & (ts < t_valid)
        masks[TEST] = ts >= t_valid
        cuts["valid_end"] = t_valid
    else:
        masks[TEST] = ts >= t_train
    info = {
        "cut_times": cuts,
        "cut_rule": "quantile of interaction timestamps; rows at a cut go to the later part",
    }
    params = {"train_frac": train_frac, "valid_frac": valid_frac}
    return _make("global_time", params, log, masks, info)


@register_split("random_session", positional=("fractions",))
def random_session(
    log: InteractionLog,
    fractions: Sequence[float] | float = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> Split:
    """Deal whole sessions to the parts at random (seeded).

    Args:
        fractions: (train, test) or (train, valid, test) shares of the *sessions*;
            the shuffled session list is cut at ``floor(S · Σ fractions[:k])``.
        seed: seed of the shuffle; the same seed gives the same split.

    Without a ``session`` column each user's whole history is one group (noted in
    :meth:`Split.describe`).
    """
    fracs = _check_fractions("fractions", fractions)
    seed = _check_int("seed", seed, minimum=0)
    group_col = SESSION if log.has_sessions else USER
    codes, uniques = pd.factorize(log.interactions[group_col], sort=True)
    n_groups = len(uniques)
    shuffled = np.random.default_rng(seed).permutation(n_groups)  # (S,) group at each rank
    rank = np.empty(n_groups, dtype=np.int64)
    rank[shuffled] = np.arange(n_groups)
    bounds = [int(b[0]) for b in _boundaries(np.array([n_groups]), fracs)]
    row_rank = rank[codes]  # (R,) the row's session rank in the shuffle
    masks = {TRAIN: row_rank < bounds[0]}
    if len(fracs) == 3:
        masks[VALID] = (row_rank >= bounds[0]) & (row_rank < bounds[1])
    masks[TEST] = row_rank >= bounds[-2]
    groups = {TRAIN: bounds[0]}
    if len(fracs) == 3:
        groups[VALID] = bounds[1] - bounds[0]
    groups[TEST] = n_groups - bounds[-2]
    info: dict[str, Any] = {"group": group_col, "groups": groups}
    if group_col == USER:
        info["notes"] = ["the log has no 'session' column: whole users are dealt instead"]
    return _make("random_session", {"fractions": fracs, "seed": seed}, log, masks, info)


@register_split("leave_last_k", positional=("k", "valid_k"))
def leave_last_k(log: InteractionLog, k: int = 1, valid_k: int = 0) -> Split:
    """Hold out each user's last interactions.

    Args:
        k: each user's last ``k`` interactions (time order, ties by log order) → test.
        valid_k: the ``valid_k`` interactions before those → valid (0: no valid part).

    Users with ``k + valid_k`` or fewer interactions are kept whole in train, so every
    user keeps at least one train interaction.
    """
    k = _check_int("k", k, minimum=1)
    valid_k = _check_int("valid_k", valid_k, minimum=0)
    position, length = _chronological_positions(log)
    held = k + valid_k
    split_user = length > held  # (R,)
    from_end = length - position  # (R,) 1 for the user's last row
    masks = {TRAIN: ~split_user | (from_end > held)}
    if valid_k:
        masks[VALID] = split_user & (from_end > k) & (from_end <= held)
    masks[TEST] = split_user & (from_end <= k)
    n_whole = int(pd.unique(log.interactions[USER].to_numpy()[~split_user]).size)
    notes = _order_note(log)
    if n_whole:
        notes.append(f"{n_whole} users with ≤ {held} interactions kept whole in train")
    info: dict[str, Any] = {"users_kept_in_train": n_whole}
    if notes:
        info["notes"] = notes
    return _make("leave_last_k", {"k": k, "valid_k": valid_k}, log, masks, info)


# ------------------------------------------------------------------------ spec
def _parse_value(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def parse_spec(spec: str | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Turn a split spec into ``(kind, keyword arguments)``.

    A string is ``kind`` or ``kind:arg,arg,...`` where each arg is a number (positional,
    see below) or ``key=value``: ``"per_user_ratio:0.8"``, ``"per_user_ratio:0.8,0.1,0.1"``,
    ``"global_time:0.8,0.1"``, ``"random_session:0.8,0.1,0.1,seed=3"``,
    ``"leave_last_k:1,1"``. Positional numbers fill ``ratios`` / ``fractions`` (all of
    them), or ``train_frac, valid_frac`` / ``k, valid_k`` in order. A mapping is
    ``{"kind": ..., <keyword arguments>}``.

    Raises:
        InputError: naming the unknown kind, the unknown key, or the malformed part.
    """
    known = ", ".join(sorted(SPLITS))
    if isinstance(spec, Mapping):
        if "kind" not in spec:
            raise InputError(f"split spec {dict(spec)!r}: expected a 'kind' key (one of: {known})")
        kind = spec["kind"]
        kwargs = {str(k): v for k, v in spec.items() if k != "kind"}
    elif isinstance(spec, str):
        head, _, tail = spec.strip().partition(":")
        kind = head.strip()
        kwargs = {}
        positional: list[Any] = []
        for raw in (p.strip() for p in tail.split(",")) if tail.strip() else ():
            if not raw:
                raise InputError(f"split spec '{spec}': empty argument between commas")
            key, eq, value = raw.partition("=")
            if eq:
                kwargs[key.strip()] = _parse_value(value.strip())
            else:
                value_ = _parse_value(raw)
                if isinstance(value_, str):
                    raise InputError(
                        f"split spec '{spec}': expected a number or key=value, got '{raw}'"
                    )
                positional.append(value_)
        if positional and kind in SPLITS:
            names = _POSITIONAL[kind]
            if names[0] in _SEQUENCE_PARAMS:
                kwargs[names[0]] = tuple(positional)
            elif len(positional) > len(names):
                raise InputError(
                    f"split spec '{spec}': '{kind}' takes at most {len(names)} positional"
                    f" values ({', '.join(names)}), got {len(positional)}"
                )
            else:
                kwargs.update(zip(names, positional, strict=False))
    else:
        raise InputError(f"split spec: expected a string or a mapping, got {type(spec).__name__}")
    if kind not in SPLITS:
        raise InputError(f"split spec: unknown kind '{kind}'; expected one of: {known}")
    return kind, kwargs


def make_split(
    log: InteractionLog, spec: str | Mapping[str, Any], *, seed: int | None = None
) -> Split:
    """Build a split from a spec string or mapping (see :func:`parse_spec`).

    Args:
        seed: used by seeded kinds when the spec does not give ``seed`` itself.

    Raises:
        InputError: on a bad spec, naming the key and what it expects.
    """
    kind, kwargs = parse_spec(spec)
    fn = SPLITS[kind]
    accepted = [p for p in _parameters(fn) if p != "log"]
    if seed is not None and "seed" in accepted:
        kwargs.setdefault("seed", seed)
    for key, value in kwargs.items():
        if key not in accepted:
            raise InputError(
                f"split spec for '{kind}': unknown key '{key}'; expected one of:"
                f" {', '.join(accepted)}"
            )
        if key in _SEQUENCE_PARAMS and isinstance(value, list):
            kwargs[key] = tuple(value)
    return fn(log, **kwargs)


def _parameters(fn: Callable[..., Split]) -> list[str]:
    return list(inspect.signature(fn).parameters)
