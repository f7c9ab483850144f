"""Logged click/purchase sessions as replay rows: SQN's data (Xin et al., SIGIR 2020).

``../shared/specs/cal4rec.md`` ("Data and protocol"). :func:`build_session_data` turns
any reader's :class:`~rayrec.data.schema.InteractionLog` into a :class:`SessionData`:
events in sessions, each event a **click** or a **purchase**, the sessions dealt 8 : 1 : 1
to train / valid / test with a seed. Every rule is a field of :class:`SessionSettings`
(the env spec's ``sessions:`` section); the order they apply in is fixed:

1. **drop** the rows with a positive value in a ``drop_feedback`` column (SQN's
   RetailRocket code drops the rows with a transaction id: ``drop_feedback:
   [purchase]`` on the ``retailrocket`` log, whose reader sets a transaction id exactly
   on the ``purchase`` rows); session-text test pairs are merged or dropped
   (``prefix_pairs``);
2. **sessions**: the log's session column or the user (``session``), optionally split
   where the time gap exceeds ``session_gap_s``; events sorted by (session, time, file
   order), as SQN sorts by (session, timestamp);
3. **keep sessions** with at least ``min_session_events`` events (SQN: more than 2),
   counting every event or only the clicks (``session_count``; RC15 counts clicks);
4. **keep items** with at least ``min_item_events`` events among those left (SQN's
   RetailRocket rule; 0: no item filter). Steps 3 and 4 run **once each, in this order**,
   as SQN's ``preprocess_kaggle.py`` does (not iterated to a fixed point): after step 4
   a session may hold fewer than ``min_session_events`` events, and is kept (a session
   left empty disappears);
5. **sample** ``max_sessions`` sessions without replacement, seeded (RC15: 200,000);
6. **re-index** the items left densely ``1..N`` in the log's item order (the log's ids
   follow the sorted raw ids, as SQN's ``LabelEncoder``). **0 is padding**: SQN pads
   with the item ``N`` (its items are ``0..N-1``); ours is the same with the ids shifted;
7. **split** the sessions at random, seeded, into ``fractions`` (8 : 1 : 1), as
   :func:`rayrec.data.splits.random_session` does (the same permutation for the same
   seed and session order; SQN does not seed it).

Replay rows (one per event, :meth:`SessionData.batch`): the state is the previous ≤ L
events' items (L = ``state_length``), **end-padded** by default as the reference code
(items then 0s, read at ``len_state - 1``) or left-padded (0s then items, the last at
``L - 1``); ``len_state = max(1, min(L, #previous))``, so a session's first event has an
all-padding state with ``len_state`` 1 and is still a row; the action is the event's
item; ``is_done`` marks a session's last event; the next state is the state after the
event. States are gathered on demand from the flat ``items`` stream; no (E, L) copy
is held.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from rayrec.config import to_dict
from rayrec.data.schema import ITEM, SESSION, TIMESTAMP, USER, InteractionLog, row_order
from rayrec.errors import InputError

PART_TRAIN, PART_VALID, PART_TEST = "train", "valid", "test"
#: part name -> its code in :attr:`SessionData.session_part`
PARTS: dict[str, int] = {PART_TRAIN: 0, PART_VALID: 1, PART_TEST: 2}

# replay-row columns (:meth:`SessionData.batch`)
STATE = "state"  #: (B, L) int64 items before the event, 0 padding
LEN_STATE = "len_state"  #: (B,) int64 max(1, min(L, #previous))
ACTION = "action"  #: (B,) int64 the event's item
IS_BUY = "is_buy"  #: (B,) bool the event is a purchase
NEXT_STATE = "next_state"  #: (B, L) int64 the state after the event
LEN_NEXT_STATE = "len_next_state"  #: (B,) int64
IS_DONE = "is_done"  #: (B,) bool the session's last event
REWARD = "reward"  #: (B,) float32 purchase_reward if is_buy else click_reward
BATCH_KEYS: tuple[str, ...] = (
    STATE,
    LEN_STATE,
    ACTION,
    IS_BUY,
    NEXT_STATE,
    LEN_NEXT_STATE,
    IS_DONE,
    REWARD,
)

#: ``purchase`` value of click-only data
PURCHASE_NONE = "none"
_THRESHOLD_RULE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*>=\s*([-+0-9.eE]+)\s*$")
#: columns of a session-text log's test pairs (``retailrocket-sessions``)
PAIR_PART, PAIR_TARGET, PAIR_TEST = "part", "is_target", "test"


@dataclass(frozen=True)
class SessionSettings:
    """How a log becomes sessions and replay rows (the env spec's ``sessions:`` section;
    module doc for the order the rules apply in).

    Attributes:
        state_length: L, the previous ≤ L items that form a state (SQN: 10).
        padding: ``end`` (the reference: items then 0s, the encoder read at
            ``len_state - 1``) or ``left`` (0s then items, read at ``L - 1``).
        session: the unit a session starts from: ``log`` (the log's session column) or
            ``user`` (SQN's RetailRocket: session = visitorid).
        session_gap_s: when set, a unit's events are split where the time between two
            consecutive events exceeds it (seconds; ML-1M: 86,400); None: no split.
        drop_feedback: feedback columns whose positive rows are dropped first
            (RetailRocket ``events.csv``: ``[purchase]``, the transactions).
        purchase: which events are purchases: a feedback column (positive value:
            ``purchase``, ``add_to_cart``), ``<column>>=<number>`` (``rating>=4``), or
            ``none`` for click-only data (the purchase reward never fires). Every other
            event is a click.
        min_session_events: keep sessions with at least this many counted events
            (SQN: more than 2, i.e. 3).
        session_count: what ``min_session_events`` counts: ``events`` or ``clicks``
            (RC15: sessions with more than 2 clicks).
        min_item_events: keep items with at least this many events after the session
            filter (SQN RetailRocket: 3); 0 keeps every item.
        prefix_pairs: a session-text log's test pairs (``retailrocket-sessions``: each a
            session prefix and its next item, every prefix ≥ 2 of a test session a pair):
            ``merge`` rebuilds each test session once (a pair whose items are the
            previous pair's prefix is dropped), ``keep`` makes each pair a session,
            ``drop`` drops them. No effect on logs without test pairs.
        fractions: (train, valid, test) shares of the sessions.
        seed: seed of the split and of the session sample.
        max_sessions: a seeded sample of this many sessions (RC15: 200,000); None: all.
        click_reward: the reward of a click event (SQN: 0.2).
        purchase_reward: the reward of a purchase event (SQN: 1.0).
    """

    state_length: int = 10
    padding: Literal["end", "left"] = "end"
    session: Literal["log", "user"] = "log"
    session_gap_s: float | None = None
    drop_feedback: tuple[str, ...] = ()
    purchase: str = "purchase"
    min_session_events: int = 3
    session_count: Literal["events", "clicks"] = "events"
    min_item_events: int = 3
    prefix_pairs: Literal["merge", "keep", "drop"] = "merge"
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    max_sessions: int | None = None
    click_reward: float = 0.2
    purchase_reward: float = 1.0

    def check(self, where: str = "sessions") -> None:
        """Raise :class:`InputError` naming the field (``<where>.<field>``) and what was
        expected, for a value out of range (before any data is read)."""
        if isinstance(self.state_length, bool) or self.state_length < 1:
            raise InputError(
                f"{where}.state_length: expected an integer >= 1, got {self.state_length!r}"
            )
        _choice(where, "padding", self.padding, ("end", "left"))
        _choice(where, "session", self.session, ("log", "user"))
        _choice(where, "session_count", self.session_count, ("events", "clicks"))
        _choice(where, "prefix_pairs", self.prefix_pairs, ("merge", "keep", "drop"))
        gap = self.session_gap_s
        if gap is not None and not (math.isfinite(gap) and gap > 0):
            raise InputError(
                f"{where}.session_gap_s: expected a positive number of seconds or null, got {gap!r}"
            )
        purchase_rule(self.purchase, where)
        for name in ("min_session_events", "min_item_events"):
            value = getattr(self, name)
            if isinstance(value, bool) or value < 0:
                raise InputError(f"{where}.{name}: expected an integer >= 0, got {value!r}")
        if self.max_sessions is not None and self.max_sessions < 1:
            raise InputError(
                f"{where}.max_sessions: expected an integer >= 1 or null, got {self.max_sessions!r}"
            )
        fr = tuple(self.fractions)
        if len(fr) != 3 or any(not 0.0 <= f <= 1.0 for f in fr) or fr[0] <= 0:
            raise InputError(
                f"{where}.fractions: expected [train, valid, test] shares in [0, 1] with"
                f" train > 0, got {list(fr)}"
            )
        if abs(sum(fr) - 1.0) > 1e-6:
            raise InputError(f"{where}.fractions: expected shares summing to 1, got {list(fr)}")
        if isinstance(self.seed, bool) or self.seed < 0:
            raise InputError(f"{where}.seed: expected an integer >= 0, got {self.seed!r}")
        for name in ("click_reward", "purchase_reward"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise InputError(f"{where}.{name}: expected a finite number, got {value!r}")


def _choice(where: str, name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(
            f"{where}.{name}: expected one of {', '.join(map(repr, choices))}, got {value!r}"
        )


def purchase_rule(rule: str, where: str = "sessions") -> tuple[str, float | None] | None:
    """The parsed ``purchase`` rule: None for ``none``, else (column, threshold), the
    threshold None for "positive value".

    Raises:
        InputError: naming ``<where>.purchase`` for a rule of another form.
    """
    if not isinstance(rule, str) or not rule.strip():
        raise InputError(
            f"{where}.purchase: expected 'none', a feedback column or '<column>>=<number>',"
            f" got {rule!r}"
        )
    if rule == PURCHASE_NONE:
        return None
    match = _THRESHOLD_RULE.match(rule)
    if match:
        try:
            return match.group(1), float(match.group(2))
        except ValueError:
            pass
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", rule):
        return rule, None
    raise InputError(
        f"{where}.purchase: expected 'none', a feedback column or '<column>>=<number>',"
        f" got {rule!r}"
    )


@dataclass(frozen=True, eq=False)
class SessionData:
    """Logged sessions and their replay rows (module doc).

    Attributes:
        n_items: N: item ids ``1..N``, 0 padding; score arrays have N + 1 columns.
        items: (E,) int64 the events' items, sessions contiguous, in event order.
        is_buy: (E,) bool the event is a purchase.
        session_start: (S + 1,) int64 offsets of the sessions into ``items``.
        session_part: (S,) int8 0 train, 1 valid, 2 test (:data:`PARTS`).
        state_length: L.
        padding: ``end`` or ``left``.
        click_reward / purchase_reward: the events' rewards.
        has_purchases: False for click-only data (the purchase reward never fires).
        description: dataset, files, rules and counts per part: what every result states.
        log_items: (N,) the log's item id of each item ``1..N`` (its raw id in
            ``log.items``).
    """

    n_items: int
    items: np.ndarray
    is_buy: np.ndarray
    session_start: np.ndarray
    session_part: np.ndarray
    state_length: int
    padding: str
    click_reward: float
    purchase_reward: float
    has_purchases: bool
    description: dict[str, Any]
    log_items: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def n_sessions(self) -> int:
        return len(self.session_part)

    @property
    def n_events(self) -> int:
        return len(self.items)

    def sessions(self, part: str) -> np.ndarray:
        """(S_p,) the indices of the sessions of ``part``, increasing."""
        return np.flatnonzero(self.session_part == _part_code(part))

    def rows(self, part: str) -> np.ndarray:
        """(R,) int64 the event indices of ``part``'s sessions, in order."""
        s = self.sessions(part)
        return _ranges(self.session_start[s], self.session_start[s + 1])

    def session_of(self, rows: np.ndarray) -> np.ndarray:
        """(B,) the session index of each event index."""
        return np.searchsorted(self.session_start, rows, side="right") - 1

    def states(self, rows: np.ndarray, *, after: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The state before each event (``after``: the state after it, the next state).

        Args:
            rows: (B,) event indices.

        Returns:
            ((B, L) int64 states, (B,) int64 ``len_state = max(1, min(L, #previous))``);
            a session's first event has an all-padding state with ``len_state`` 1.
        """
        rows = np.asarray(rows, dtype=np.int64)
        start = self.session_start[self.session_of(rows)]  # (B,)
        end = rows + 1 if after else rows  # (B,) one past the state's last item
        return self.states_at(start, end)

    def states_at(self, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The state holding the items ``items[max(start, end - L) : end]`` of one
        session each (``start`` its first event).

        Returns:
            ((B, L) int64 states padded as :attr:`padding` says, (B,) int64 len_state).
        """
        big_l = self.state_length
        n = np.minimum(end - start, big_l)  # (B,) items in the state
        j = np.arange(big_l)  # (L,)
        if self.padding == "end":
            src = end[:, None] - n[:, None] + j[None, :]  # (B, L) items first, then 0s
            real = j[None, :] < n[:, None]  # (B, L)
        else:
            src = end[:, None] - big_l + j[None, :]  # (B, L) 0s first, last item at L - 1
            real = j[None, :] >= big_l - n[:, None]  # (B, L)
        state = np.where(real, self.items[np.where(real, src, 0)], 0)  # (B, L)
        return state.astype(np.int64, copy=False), np.maximum(n, 1).astype(np.int64)

    def rewards(self, rows: np.ndarray) -> np.ndarray:
        """(B,) float32 the logged events' rewards."""
        buy = self.is_buy[np.asarray(rows, dtype=np.int64)]
        return np.where(buy, self.purchase_reward, self.click_reward).astype(np.float32)

    def batch(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The replay rows of the events ``rows`` (B,): the :data:`BATCH_KEYS` columns."""
        rows = np.asarray(rows, dtype=np.int64)
        session = self.session_of(rows)  # (B,)
        start = self.session_start[session]  # (B,)
        state, len_state = self.states_at(start, rows)  # (B, L), (B,)
        next_state, len_next = self.states_at(start, rows + 1)  # (B, L), (B,)
        return {
            STATE: state,
            LEN_STATE: len_state,
            ACTION: self.items[rows].astype(np.int64),
            IS_BUY: self.is_buy[rows].copy(),
            NEXT_STATE: next_state,
            LEN_NEXT_STATE: len_next,
            IS_DONE: rows == self.session_start[session + 1] - 1,
            REWARD: self.rewards(rows),
        }

    def popularity(self) -> np.ndarray:
        """(N + 1,) int64 event counts of each item in the train part (0 for padding)."""
        items = self.items[self.rows(PART_TRAIN)]
        return np.bincount(items, minlength=self.n_items + 1).astype(np.int64)


def _part_code(part: str) -> int:
    if part not in PARTS:
        raise ValueError(f"part: expected one of {', '.join(PARTS)}, got {part!r}")
    return PARTS[part]


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The concatenated ``arange(s, e)`` of each pair, without a Python loop."""
    lengths = (ends - starts).astype(np.int64)
    if not len(lengths):
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
    return np.arange(int(lengths.sum()), dtype=np.int64) + offsets


# ------------------------------------------------------------------ building
def build_session_data(
    log: InteractionLog,
    settings: SessionSettings,
    *,
    name: str | None = None,
    where: str = "sessions",
    note: str = "",
) -> SessionData:
    """The sessions and replay rows of a log under ``settings`` (module doc).

    Args:
        log: any reader's log.
        settings: the rules.
        name: the dataset name stated in the description (default ``log.name``).
        where: how messages name the settings (``<spec file>: sessions``).
        note: what exactly is used (the spec's ``dataset.note``), stated in the
            description.

    Raises:
        InputError: a setting the log cannot serve (naming ``<where>.<field>`` and what
            was expected), checked before the work; or no session left.
    """
    settings.check(where)
    df = log.interactions
    rule = purchase_rule(settings.purchase, where)
    columns = set(df.columns)
    if rule is not None and rule[0] not in columns:
        raise InputError(
            f"{where}.purchase: {log.name} has no column {rule[0]!r}: expected 'none' or a"
            f" rule on one of its feedback columns ({', '.join(log.feedback) or 'none'})"
        )
    for col in settings.drop_feedback:
        if col not in columns:
            raise InputError(
                f"{where}.drop_feedback: {log.name} has no column {col!r}: expected feedback"
                f" columns among {', '.join(log.feedback) or 'none'}"
            )
    if settings.session == "log" and not log.has_sessions:
        raise InputError(
            f"{where}.session: {log.name} has no session column: expected 'user' (a user's"
            f" events, split by session_gap_s when set)"
        )
    if settings.session_gap_s is not None and not log.has_timestamps:
        raise InputError(
            f"{where}.session_gap_s: {log.name} has no timestamps: expected null"
            f" (sessions without a time-gap split)"
        )
    counts: dict[str, Any] = {"log_rows": len(df)}

    # 1. drop rows
    keep = np.ones(len(df), dtype=bool)
    for col in settings.drop_feedback:
        dropped = df[col].to_numpy(dtype=np.float64) > 0
        counts[f"rows_dropped_{col}"] = int((keep & dropped).sum())
        keep &= ~dropped
    pairs = _prefix_pairs(log, settings.prefix_pairs, counts)
    if pairs is not None:
        keep &= pairs
    rows = np.flatnonzero(keep)  # (R,) log rows kept

    # 2. sessions, sorted by (unit, time, file order)
    unit = df[SESSION if settings.session == "log" else USER].to_numpy()[rows]
    times = df[TIMESTAMP].to_numpy(dtype=np.float64)[rows]
    timed = bool(len(times)) and not np.isnan(times).all()
    order = row_order(unit.astype(np.int64), times if timed else None)
    rows, unit, times = rows[order], unit[order], times[order]
    new = np.ones(len(rows), dtype=bool)  # (R,) the row opens a session
    new[1:] = unit[1:] != unit[:-1]
    if settings.session_gap_s is not None:
        new[1:] |= np.diff(times) > settings.session_gap_s
    items = df[ITEM].to_numpy().astype(np.int64)[rows]  # (R,) log item ids
    is_buy = _purchases(df, rule, rows)  # (R,)
    sess = np.cumsum(new) - 1  # (R,) 0..S-1
    counts["sessions_formed"] = int(new.sum())

    # 3. keep sessions with >= min_session_events counted events
    counted = np.ones(len(rows)) if settings.session_count == "events" else (~is_buy) * 1.0
    per_session = np.bincount(sess, weights=counted, minlength=int(new.sum()))  # (S,)
    m = per_session[sess] >= settings.min_session_events  # (R,)
    counts["sessions_after_session_filter"] = int(
        (per_session >= settings.min_session_events).sum()
    )
    rows, items, is_buy, sess = rows[m], items[m], is_buy[m], sess[m]

    # 4. keep items with >= min_item_events events (once, after the session filter)
    if settings.min_item_events > 0 and len(items):
        per_item = np.bincount(items)  # (I + 1,)
        m = per_item[items] >= settings.min_item_events
        counts["items_dropped_by_item_filter"] = int(
            ((per_item > 0) & (per_item < settings.min_item_events)).sum()
        )
        rows, items, is_buy, sess = rows[m], items[m], is_buy[m], sess[m]

    # sessions left, numbered 0..S-1 again
    first = np.ones(len(sess), dtype=bool)
    first[1:] = sess[1:] != sess[:-1]
    sess = np.cumsum(first) - 1
    n_sessions = int(first.sum())
    counts["sessions_after_item_filter"] = n_sessions

    # 5. seeded sample of sessions
    if settings.max_sessions is not None and n_sessions > settings.max_sessions:
        sample_rng = np.random.default_rng([settings.seed, 1])
        chosen = np.zeros(n_sessions, dtype=bool)
        chosen[sample_rng.choice(n_sessions, settings.max_sessions, replace=False)] = True
        m = chosen[sess]
        items, is_buy, sess = items[m], is_buy[m], sess[m]
        first = first[m]
        sess = np.cumsum(first) - 1
        n_sessions = settings.max_sessions
    if n_sessions == 0:
        raise InputError(
            f"{where}: no session of {log.name} is left after the rules"
            f" (min_session_events {settings.min_session_events}, min_item_events"
            f" {settings.min_item_events}): expected at least one"
        )

    # 6. re-index the items densely 1..N (0 padding)
    log_items, dense = np.unique(items, return_inverse=True)
    items = dense.astype(np.int64).reshape(-1) + 1
    session_start = np.r_[np.flatnonzero(first), len(items)].astype(np.int64)  # (S + 1,)

    # 7. seeded random split of the sessions, as splits.random_session cuts it
    shuffled = np.random.default_rng(settings.seed).permutation(n_sessions)  # (S,)
    rank = np.empty(n_sessions, dtype=np.int64)
    rank[shuffled] = np.arange(n_sessions)
    cuts = np.cumsum(settings.fractions)
    bounds = [math.floor(n_sessions * float(cuts[0])), math.floor(n_sessions * float(cuts[1]))]
    part = np.where(rank < bounds[0], 0, np.where(rank < bounds[1], 1, 2)).astype(np.int8)

    data = SessionData(
        n_items=len(log_items),
        items=items,
        is_buy=is_buy.astype(bool),
        session_start=session_start,
        session_part=part,
        state_length=settings.state_length,
        padding=settings.padding,
        click_reward=float(settings.click_reward),
        purchase_reward=float(settings.purchase_reward),
        has_purchases=rule is not None,
        description={},
        log_items=log_items.astype(np.int64),
    )
    data.description.update(_describe(data, log, settings, name or log.name, note, counts))
    return data


def _purchases(df: Any, rule: tuple[str, float | None] | None, rows: np.ndarray) -> np.ndarray:
    """(R,) bool: the rows that are purchases under the parsed rule."""
    if rule is None:
        return np.zeros(len(rows), dtype=bool)
    column, threshold = rule
    values = df[column].to_numpy(dtype=np.float64)[rows]
    return values >= threshold if threshold is not None else values > 0


def _prefix_pairs(log: InteractionLog, how: str, counts: dict[str, Any]) -> np.ndarray | None:
    """Row mask of a session-text log's test pairs under ``prefix_pairs`` (None: the log
    has none, or ``keep``).

    ``merge``: the pairs of one test session come in a run, longest first; a pair whose
    items (prefix + target) equal the previous pair's prefix is one of its shorter
    prefixes and is dropped, so each test session is kept once, whole.
    """
    df = log.interactions
    if PAIR_PART not in df.columns or PAIR_TARGET not in df.columns:
        return None
    test = np.asarray(df[PAIR_PART].to_numpy() == PAIR_TEST, dtype=bool)  # (R,)
    t = np.flatnonzero(test)
    counts["test_pairs"] = int(np.asarray(df[PAIR_TARGET].to_numpy())[t].sum())
    counts["prefix_pairs"] = how
    if how == "keep" or not len(t):
        return None
    if how == "drop":
        return ~test
    sess = df[SESSION].to_numpy()[t]
    new = np.ones(len(t), dtype=bool)
    new[1:] = sess[1:] != sess[:-1]
    start = np.flatnonzero(new)  # (T,) offsets into t
    length = np.diff(np.r_[start, len(t)])  # (T,)
    items = df[ITEM].to_numpy()[t]
    # pair j continues pair j-1 when it is one item shorter and equals its prefix
    cand = np.flatnonzero(length[:-1] == length[1:] + 1) + 1  # (C,) j
    drop_pair = np.zeros(len(start), dtype=bool)
    if len(cand):
        own = _ranges(start[cand], start[cand] + length[cand])
        prev = _ranges(start[cand - 1], start[cand - 1] + length[cand])
        equal = items[own] == items[prev]
        offsets = np.r_[0, np.cumsum(length[cand])[:-1]]
        drop_pair[cand] = np.logical_and.reduceat(equal, offsets)
    mask = np.ones(len(df), dtype=bool)
    mask[t[np.repeat(drop_pair, length)]] = False
    counts["test_sessions_merged"] = int((~drop_pair).sum())
    return mask


def _describe(
    data: SessionData,
    log: InteractionLog,
    settings: SessionSettings,
    name: str,
    note: str,
    counts: dict[str, Any],
) -> dict[str, Any]:
    """What the data actually is: dataset, files, rules and counts per part."""
    parts: dict[str, dict[str, int]] = {}
    for part in (*PARTS, "all"):
        rows = np.arange(data.n_events) if part == "all" else data.rows(part)
        buy = data.is_buy[rows]
        parts[part] = {
            "sessions": len(data.sessions(part)) if part != "all" else data.n_sessions,
            "events": len(rows),
            "items": len(np.unique(data.items[rows])),
            "clicks": int((~buy).sum()),
            "purchases": int(buy.sum()),
        }
    out: dict[str, Any] = {
        "dataset": name,
        "source_files": log.meta.get("source_files", []),
        "n_items": data.n_items,
        "rules": to_dict(settings),
        "order": (
            "drop rows -> sessions -> session filter -> item filter (once each) ->"
            " sample -> re-index items 1..N (0 padding) -> seeded session split"
        ),
        "filtering": counts,
        "parts": parts,
        "purchase_reward_fires": data.has_purchases and parts["all"]["purchases"] > 0,
    }
    if note:
        out["note"] = note
    if log.meta.get("notes"):
        out["log_notes"] = log.meta["notes"]
    if not out["purchase_reward_fires"]:
        out["purchases_note"] = (
            "no purchase event: every target is a click and the purchase reward never fires"
        )
    return out
