"""RetailRocket readers: the raw Kaggle ``events.csv`` and the COTREC session-text variant.

Formats:
- ``events.csv`` (Kaggle "Retailrocket recommender system dataset"): CSV with the header
  ``timestamp,visitorid,event,itemid,transactionid``; ``timestamp`` in unix
  milliseconds; ``event`` one of ``view``, ``addtocart``, ``transaction``;
  ``transactionid`` set on transactions only (empty otherwise). 2,756,101 events.
  The item-property and category files are not read.
- Session-text variant (COTREC / SR-GNN preprocessing, see ``SOURCE.md`` of the shared
  copy): ``all_train_seq.sessions.txt`` holds one view session per line, item ids >= 1
  joined by single spaces; the optional ``test.pairs.tsv`` is TAB-separated with the
  header ``prefix_items<TAB>target_item`` (prefix space-separated). The folder may also
  hold the pickles ``all_train_seq.txt`` / ``test.txt`` they were converted from:
  rayrec never opens those (unpickling runs arbitrary code).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from rayrec.data.parsing import Column, ParsedTable, TableFormat, parse_int_lists
from rayrec.data.readers.base import DatasetReader, Parsed, register
from rayrec.data.schema import ADD_TO_CART, PURCHASE, VIEW, InteractionLog, build_log, row_order
from rayrec.errors import InputError, Problem, ProblemCollector

EVENTS_FILE = "events.csv"
TRAIN_SESSIONS_FILE = "all_train_seq.sessions.txt"
TEST_PAIRS_FILE = "test.pairs.tsv"
#: Pickled originals of the session-text files; detected by name only, never opened.
PICKLE_FILES: tuple[str, ...] = ("all_train_seq.txt", "test.txt")

#: Default inactivity gap (seconds) that closes a visitor's session.
DEFAULT_SESSION_GAP = 30 * 60.0

EVENT_VIEW = "view"
EVENT_ADD_TO_CART = "addtocart"
EVENT_TRANSACTION = "transaction"

EVENTS = TableFormat(
    columns=(
        Column("timestamp", "unix_time", scale=1e-3),
        Column("visitorid", "int", min_value=0),
        Column("event", "str", choices=(EVENT_VIEW, EVENT_ADD_TO_CART, EVENT_TRANSACTION)),
        Column("itemid", "int", min_value=0),
        Column("transactionid", "int", nullable=True, min_value=0),
    ),
    sep=",",
    header=True,
)
#: One session per line; the whole line is one field, split by :func:`parse_int_lists`.
#: Any prefix of a session is a valid session, so only the final newline shows a cut.
TRAIN_SESSIONS = TableFormat(
    columns=(Column("items", "str"),), sep="\t", require_final_newline=True
)
TEST_PAIRS = TableFormat(
    columns=(Column("prefix_items", "str"), Column("target_item", "int", min_value=1)),
    sep="\t",
    header=True,
    require_final_newline=True,
)


def session_ids(users: np.ndarray, seconds: np.ndarray, gap: float) -> np.ndarray:
    """Number each row's session: a user's events split where the time gap exceeds ``gap``.

    Args:
        users: (R,) raw user ids, in file order.
        seconds: (R,) event times in seconds.
        gap: inactivity (seconds) after which the next event opens a new session.

    Returns:
        (R,) int64 session numbers 1..S, increasing along (user, time, file order).
    """
    n = len(users)
    order = row_order(users, seconds)  # (R,) stable: by user, time, file order
    u, t = users[order], seconds[order]
    starts = np.ones(n, dtype=bool)  # (R,) in sorted order
    starts[1:] = (u[1:] != u[:-1]) | (np.diff(t) > gap)
    out = np.empty(n, dtype=np.int64)
    out[order] = np.cumsum(starts)
    return out


@register
class RetailRocket(DatasetReader):
    """RetailRocket from the raw Kaggle ``events.csv`` (views, add-to-carts, transactions).

    Users are visitors; sessions are each visitor's events split by an inactivity gap
    longer than ``session_gap`` seconds. Feedback: ``view``, ``add_to_cart`` and
    ``purchase`` (one of them is 1 on each row). The transaction id is kept in the
    ``transaction_id`` column (NaN on non-transaction rows).
    """

    name = "retailrocket"
    title = "RetailRocket (events.csv)"
    default_dir = "retailrocket"
    homepage = "https://www.kaggle.com/datasets/retailrocket/ecommerce-dataset"

    def __init__(self, root: Path, *, session_gap: float = DEFAULT_SESSION_GAP) -> None:
        super().__init__(root)
        if not (math.isfinite(session_gap) and session_gap > 0):
            raise InputError(
                f"session_gap: expected a positive number of seconds, found {session_gap!r}"
            )
        self.session_gap = float(session_gap)

    def options_key(self) -> str:
        return f"session_gap={self.session_gap:g}"

    def _events(self) -> Path:
        return self.find_required(EVENTS_FILE, {TRAIN_SESSIONS_FILE: "retailrocket-sessions"})

    def source_files(self) -> list[Path]:
        return [self._events()]

    def parse(self, problems: ProblemCollector) -> Parsed:
        path = self._events()
        table = self.parse_file(path, EVENTS, problems)
        _check_transaction_ids(table, self.shown(path), problems)
        return {"events": table}

    def build(self, parsed: Parsed) -> InteractionLog:
        events = parsed["events"].frame
        event = events["event"]
        rows = pd.DataFrame(
            {
                "visitorid": events["visitorid"].to_numpy(dtype=np.int64),
                "itemid": events["itemid"].to_numpy(dtype=np.int64),
                "timestamp": events["timestamp"].to_numpy(dtype=np.float64),
                VIEW: event.eq(EVENT_VIEW).to_numpy(dtype=np.float32),
                ADD_TO_CART: event.eq(EVENT_ADD_TO_CART).to_numpy(dtype=np.float32),
                PURCHASE: event.eq(EVENT_TRANSACTION).to_numpy(dtype=np.float32),
                "transaction_id": events["transactionid"].to_numpy(
                    dtype=np.float64, na_value=np.nan
                ),
            }
        )
        rows["session_id"] = session_ids(
            rows["visitorid"].to_numpy(), rows["timestamp"].to_numpy(), self.session_gap
        )
        return build_log(
            self.name,
            rows,
            raw_user="visitorid",
            raw_item="itemid",
            timestamp="timestamp",
            raw_session="session_id",
            feedback={VIEW: VIEW, ADD_TO_CART: ADD_TO_CART, PURCHASE: PURCHASE},
            extra=("transaction_id",),
            meta={"timestamps": True, "session_gap_s": self.session_gap},
        )


def _check_transaction_ids(table: ParsedTable, shown: str, problems: ProblemCollector) -> None:
    """A transaction id is set exactly on ``transaction`` rows; offending rows are dropped."""
    frame = table.frame
    is_transaction = (frame["event"] == EVENT_TRANSACTION).to_numpy(dtype=bool)
    has_id = frame["transactionid"].notna().to_numpy(dtype=bool)
    bad = np.flatnonzero(is_transaction != has_id)
    if not len(bad):
        return
    cap = max(0, problems.cap - len(problems.problems))
    for i in bad[:cap]:
        if is_transaction[i]:
            expected = "a transaction id on a 'transaction' event"
            found = "an empty value"
        else:
            expected = f"an empty value on a '{frame['event'].iloc[i]}' event"
            found = str(int(frame["transactionid"].iloc[i]))
        problems.add(Problem(shown, int(table.lines[i]), "transactionid", expected, found))
    problems.extend((), total=len(bad) - min(len(bad), cap))
    keep = np.ones(len(frame), dtype=bool)
    keep[bad] = False
    table.frame = frame.loc[keep].reset_index(drop=True)
    table.lines = table.lines[keep]


@register
class RetailRocketSessions(DatasetReader):
    """RetailRocket as COTREC's view sessions (``all_train_seq.sessions.txt``, test pairs).

    Each session is its own user: train session ``k`` (k-th line, 1-based) has the raw
    user id ``k``; test pair ``j`` (j-th data row) has ``n_train + j`` and its session is
    the prefix items followed by the target item (the target row has ``is_target`` 1).
    The column ``part`` tells ``train`` from ``test``. Feedback ``view`` is 1 everywhere;
    there are no timestamps.
    """

    name = "retailrocket-sessions"
    title = "RetailRocket (COTREC view sessions, no timestamps)"
    default_dir = "retailrocket"
    homepage = "https://github.com/RecoHut-Datasets/retail_rocket"

    def _train(self) -> Path:
        path = self.find(TRAIN_SESSIONS_FILE, required=False)
        if path is None:
            pickles = [n for n in PICKLE_FILES if (self.root / n).is_file()]
            hint = ""
            if pickles:
                hint = (
                    f" ({', '.join(pickles)} are Python pickles, which rayrec does not open:"
                    " convert them to the plain-text files first)"
                )
            elif self.find(EVENTS_FILE, required=False) is not None:
                hint = f" (this folder holds '{EVENTS_FILE}': read it as 'retailrocket')"
            raise InputError(
                f"{self.root}: expected the file '{TRAIN_SESSIONS_FILE}'"
                f" (plain or .gz/.xz/.bz2/.zip), found none{hint}"
            )
        return path

    def source_files(self) -> list[Path]:
        test = self.find(TEST_PAIRS_FILE, required=False)
        return [self._train(), *([test] if test is not None else [])]

    def parse(self, problems: ProblemCollector) -> Parsed:
        train_path = self._train()
        shown = self.shown(train_path)
        table = self.parse_file(train_path, TRAIN_SESSIONS, problems)
        items, lengths, ok = parse_int_lists(
            _strings(table.frame["items"]),
            " ",
            "items",
            table.lines,
            shown,
            problems,
            min_value=1,
        )
        out: Parsed = {"train": _keep_lists(items, lengths, ok)}
        test_path = self.find(TEST_PAIRS_FILE, required=False)
        if test_path is not None:
            test_shown = self.shown(test_path)
            pairs = self.parse_file(test_path, TEST_PAIRS, problems)
            prefix, prefix_len, ok = parse_int_lists(
                _strings(pairs.frame["prefix_items"]),
                " ",
                "prefix_items",
                pairs.lines,
                test_shown,
                problems,
                min_value=1,
            )
            prefix, prefix_len = _keep_lists(prefix, prefix_len, ok)
            targets = pairs.frame["target_item"].to_numpy(dtype=np.int64)[ok]
            out["test"] = (prefix, prefix_len, targets)
        return out

    def build(self, parsed: Parsed) -> InteractionLog:
        train_items, train_len = parsed["train"]
        n_train = len(train_len)
        parts = [
            pd.DataFrame(
                {
                    "session_id": np.repeat(np.arange(1, n_train + 1), train_len),
                    "item_id": train_items,
                    "part": "train",
                    "is_target": np.zeros(len(train_items), dtype=np.int8),
                }
            )
        ]
        if "test" in parsed:
            prefix, prefix_len, targets = parsed["test"]
            n_test = len(targets)
            # Session j: its prefix items, then its target — placed after the prefix.
            ends = np.cumsum(prefix_len + 1)  # (T,) one past each session's target
            items = np.empty(int(ends[-1]) if n_test else 0, dtype=np.int64)
            is_target = np.zeros(len(items), dtype=np.int8)
            is_target[ends - 1] = 1
            items[is_target == 1] = targets
            items[is_target == 0] = prefix
            parts.append(
                pd.DataFrame(
                    {
                        "session_id": np.repeat(np.arange(1, n_test + 1) + n_train, prefix_len + 1),
                        "item_id": items,
                        "part": "test",
                        "is_target": is_target,
                    }
                )
            )
        rows = pd.concat(parts, ignore_index=True)
        rows[VIEW] = np.float32(1.0)
        return build_log(
            self.name,
            rows,
            raw_user="session_id",
            raw_item="item_id",
            raw_session="session_id",
            feedback={VIEW: VIEW},
            order="session",
            extra=("part", "is_target"),
            meta={
                "timestamps": False,
                "notes": (
                    "COTREC-preprocessed RetailRocket: view sessions only, no timestamps,"
                    " event types (add-to-cart, transaction) or visitor ids; each session is"
                    " its own user"
                ),
            },
        )


def _strings(values: pd.Series) -> pa.Array:
    """A parsed string column as an Arrow string array (empty when the file had no rows)."""
    if not len(values):
        return pa.array([], type=pa.large_string())
    return pa.array(values.to_numpy(dtype=object), type=pa.large_string())


def _keep_lists(
    flat: np.ndarray, lengths: np.ndarray, ok: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Drop the rejected rows of a flattened list column: (flat values, (R',) lengths)."""
    return flat[np.repeat(ok, lengths)], lengths[ok]
