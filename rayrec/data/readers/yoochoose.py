"""YOOCHOOSE (RecSys Challenge 2015) readers: the raw click/buy logs and two subsets.

Formats (upstream ``dataset-README.txt`` and ``SOURCE.md`` of the shared copy):
- ``yoochoose-clicks.dat``: no header, ``SessionID,Timestamp,ItemID,Category``;
  ``Timestamp`` ISO-8601 (``2014-04-07T10:51:09.277Z``); ``Category`` a string
  (``0``, ``S``, a category number or a brand id).
- ``yoochoose-buys.dat`` (optional): no header, ``SessionID,Timestamp,ItemID,Price,Quantity``;
  price and quantity are integers and may be 0.
- ``yoochoose.csv`` (DynamicRec subset): no header, exactly 10 comma-separated integers
  per row, one session per row in click order, left-padded with 0; items 1..12,936.
- ``yoochoose_valid.txt`` (RecoHut validation split): CSV with the header
  ``uid,timestamp,sid`` where ``uid`` is the *session* id, ``timestamp`` unix seconds
  (with a millisecond fraction) and ``sid`` the *item* id.

The dataset has no user ids: in every reader a session is its own user.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rayrec.data.parsing import Column, ParsedTable, TableFormat
from rayrec.data.readers.base import DatasetReader, Parsed, register
from rayrec.data.schema import CLICK, PURCHASE, InteractionLog, build_log
from rayrec.errors import Problem, ProblemCollector

CLICKS_FILE = "yoochoose-clicks.dat"
BUYS_FILE = "yoochoose-buys.dat"
PADDED_FILE = "yoochoose.csv"
VALID_FILE = "yoochoose_valid.txt"
#: Width of a ``yoochoose.csv`` row (left-padded session).
PADDED_WIDTH = 10

CLICKS = TableFormat(
    columns=(
        Column("SessionID", "int", min_value=0),
        Column("Timestamp", "datetime"),
        Column("ItemID", "int", min_value=0),
        Column("Category", "str"),
    ),
    sep=",",
)
BUYS = TableFormat(
    columns=(
        Column("SessionID", "int", min_value=0),
        Column("Timestamp", "datetime"),
        Column("ItemID", "int", min_value=0),
        Column("Price", "int", min_value=0),
        Column("Quantity", "int", min_value=0),
    ),
    sep=",",
)
PADDED = TableFormat(
    columns=tuple(Column(f"item_{k}", "int", min_value=0) for k in range(1, PADDED_WIDTH + 1)),
    sep=",",
)
VALID = TableFormat(
    columns=(
        Column("uid", "int", min_value=0),
        Column("timestamp", "unix_time"),
        Column("sid", "int", min_value=0),
    ),
    sep=",",
    header=True,
)


#: Each variant's file -> the reader for it (to point users at the right one).
VARIANT_READERS: dict[str, str] = {
    CLICKS_FILE: "yoochoose",
    PADDED_FILE: "yoochoose-padded",
    VALID_FILE: "yoochoose-valid",
}


def _siblings(own: str) -> dict[str, str]:
    return {f: r for f, r in VARIANT_READERS.items() if f != own}


@register
class Yoochoose(DatasetReader):
    """YOOCHOOSE from the raw ``yoochoose-clicks.dat`` (+ ``yoochoose-buys.dat``).

    One row per click (``click`` 1, ``purchase`` 0) and per buy (``click`` 0,
    ``purchase`` 1); sessions are users, rows ordered by session then time (clicks
    before buys at equal times). Extra columns: ``category`` (clicks), ``price`` and
    ``quantity`` (buys), missing elsewhere.
    """

    name = "yoochoose"
    title = "YOOCHOOSE (RecSys Challenge 2015 clicks and buys)"
    default_dir = "yoochoose"
    homepage = "https://recsys.acm.org/recsys15/challenge/"

    def _clicks(self) -> Path:
        return self.find_required(CLICKS_FILE, _siblings(CLICKS_FILE))

    def source_files(self) -> list[Path]:
        buys = self.find(BUYS_FILE, required=False)
        return [self._clicks(), *([buys] if buys is not None else [])]

    def parse(self, problems: ProblemCollector) -> Parsed:
        out: Parsed = {"clicks": self.parse_file(self._clicks(), CLICKS, problems)}
        buys = self.find(BUYS_FILE, required=False)
        if buys is not None:
            out["buys"] = self.parse_file(buys, BUYS, problems)
        return out

    def build(self, parsed: Parsed) -> InteractionLog:
        clicks = parsed["clicks"].frame
        n_clicks = len(clicks)
        frames = [
            pd.DataFrame(
                {
                    "session_id": clicks["SessionID"].to_numpy(dtype=np.int64),
                    "item_id": clicks["ItemID"].to_numpy(dtype=np.int64),
                    "timestamp": clicks["Timestamp"].to_numpy(dtype=np.float64),
                    CLICK: np.ones(n_clicks, dtype=np.float32),
                    PURCHASE: np.zeros(n_clicks, dtype=np.float32),
                    "category": clicks["Category"].to_numpy(dtype=object),
                    "price": np.full(n_clicks, np.nan),
                    "quantity": np.full(n_clicks, np.nan),
                }
            )
        ]
        notes = ""
        if "buys" in parsed:
            buys = parsed["buys"].frame
            n_buys = len(buys)
            frames.append(
                pd.DataFrame(
                    {
                        "session_id": buys["SessionID"].to_numpy(dtype=np.int64),
                        "item_id": buys["ItemID"].to_numpy(dtype=np.int64),
                        "timestamp": buys["Timestamp"].to_numpy(dtype=np.float64),
                        CLICK: np.zeros(n_buys, dtype=np.float32),
                        PURCHASE: np.ones(n_buys, dtype=np.float32),
                        "category": np.full(n_buys, None, dtype=object),
                        "price": buys["Price"].to_numpy(dtype=np.float64),
                        "quantity": buys["Quantity"].to_numpy(dtype=np.float64),
                    }
                )
            )
        else:
            notes = f"clicks only (no {BUYS_FILE}): purchase is 0 on every row"
        rows = pd.concat(frames, ignore_index=True)
        # user == session, so the "user" order (user, time, file order) is session, time.
        return build_log(
            self.name,
            rows,
            raw_user="session_id",
            raw_item="item_id",
            timestamp="timestamp",
            raw_session="session_id",
            feedback={CLICK: CLICK, PURCHASE: PURCHASE},
            extra=("category", "price", "quantity"),
            meta={"timestamps": True, "notes": notes},
        )


@register
class YoochoosePadded(DatasetReader):
    """DynamicRec's YOOCHOOSE subset ``yoochoose.csv``: one left-padded click session a row.

    Every 0 is padding and dropped; session (and user) ``k`` is the k-th row. Feedback
    ``click`` is 1 everywhere; no timestamps.
    """

    name = "yoochoose-padded"
    title = "YOOCHOOSE (DynamicRec padded click sessions)"
    default_dir = "yoochoose"
    homepage = "https://github.com/Mehrab-Tanjim/DynamicRec"

    def _file(self) -> Path:
        return self.find_required(PADDED_FILE, _siblings(PADDED_FILE))

    def source_files(self) -> list[Path]:
        return [self._file()]

    def parse(self, problems: ProblemCollector) -> Parsed:
        path = self._file()
        table = self.parse_file(path, PADDED, problems)
        _drop_all_padding(table, self.shown(path), problems)
        return {"sessions": table}

    def build(self, parsed: Parsed) -> InteractionLog:
        table: ParsedTable = parsed["sessions"]
        grid = table.frame[list(PADDED.names)].to_numpy(dtype=np.int64)  # (R, 10)
        real = grid > 0  # (R, 10) non-padding positions
        rows = pd.DataFrame(
            {
                # row-major order keeps each session's click order
                "session_id": np.repeat(np.arange(1, len(grid) + 1), real.sum(axis=1)),
                "item_id": grid[real],
                CLICK: np.float32(1.0),
            }
        )
        return build_log(
            self.name,
            rows,
            raw_user="session_id",
            raw_item="item_id",
            raw_session="session_id",
            feedback={CLICK: CLICK},
            order="session",
            meta={
                "timestamps": False,
                "notes": (
                    "DynamicRec subset of YOOCHOOSE: re-indexed click sessions only, no"
                    " timestamps, buys or categories; each session is its own user"
                ),
            },
        )


def _drop_all_padding(table: ParsedTable, shown: str, problems: ProblemCollector) -> None:
    """Report and drop rows whose 10 fields are all 0 (a session with no item)."""
    grid = table.frame[list(PADDED.names)].to_numpy(dtype=np.int64)  # (R, 10)
    empty = np.flatnonzero(~(grid > 0).any(axis=1))
    if not len(empty):
        return
    cap = max(0, problems.cap - len(problems.problems))
    for i in empty[:cap]:
        problems.add(
            Problem(
                shown,
                int(table.lines[i]),
                None,
                "at least one non-zero item (0 is padding)",
                ",".join(["0"] * PADDED_WIDTH),
            )
        )
    problems.extend((), total=len(empty) - min(len(empty), cap))
    keep = np.ones(len(grid), dtype=bool)
    keep[empty] = False
    table.frame = table.frame.loc[keep].reset_index(drop=True)
    table.lines = table.lines[keep]


@register
class YoochooseValid(DatasetReader):
    """RecoHut's YOOCHOOSE validation split ``yoochoose_valid.txt`` (raw ids, clicks).

    ``uid`` is the session id (and user), ``sid`` the item id; rows ordered by session
    then time. Feedback ``click`` is 1 everywhere.
    """

    name = "yoochoose-valid"
    title = "YOOCHOOSE (RecoHut validation clicks, last two days)"
    default_dir = "yoochoose"
    homepage = "https://github.com/RecoHut-Datasets/yoochoose"

    def _file(self) -> Path:
        return self.find_required(VALID_FILE, _siblings(VALID_FILE))

    def source_files(self) -> list[Path]:
        return [self._file()]

    def parse(self, problems: ProblemCollector) -> Parsed:
        return {"clicks": self.parse_file(self._file(), VALID, problems)}

    def build(self, parsed: Parsed) -> InteractionLog:
        frame = parsed["clicks"].frame
        rows = pd.DataFrame(
            {
                "session_id": frame["uid"].to_numpy(dtype=np.int64),
                "item_id": frame["sid"].to_numpy(dtype=np.int64),
                "timestamp": frame["timestamp"].to_numpy(dtype=np.float64),
                CLICK: np.float32(1.0),
            }
        )
        # user == session, so the "user" order (user, time, file order) is session, time.
        return build_log(
            self.name,
            rows,
            raw_user="session_id",
            raw_item="item_id",
            timestamp="timestamp",
            raw_session="session_id",
            feedback={CLICK: CLICK},
            meta={
                "timestamps": True,
                "notes": (
                    "RecoHut validation split of YOOCHOOSE clicks (2014-09-29..30, sessions"
                    " of >= 20 clicks, items with >= 20 clicks): clicks only, no buys"
                ),
            },
        )
