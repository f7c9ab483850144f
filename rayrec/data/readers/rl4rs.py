"""RL4RS readers: the slate logs of a NetEase game's item recommender (Wang et al., 2023).

Formats (fuxiAIlab/RL4RS ``script/data_preprocess.py`` and ``FeatureUtil.record_split``),
in ``root``, ``root/raw_data`` or ``root/dataset``:

- slate logs ``rl4rs_dataset_{a,b}_{rl,sl}.csv``: ``@``-separated with the header
  ``timestamp@session_id@sequence_id@exposed_items@user_feedback@user_seqfeature@
  user_protrait@item_feature@behavior_policy_id``. One row is one exposed slate:
  ``exposed_items`` is 9 comma-joined item ids, ``user_feedback`` 9 comma-joined 0/1,
  ``user_seqfeature`` the comma-joined ids of the user's past items, ``user_protrait``
  comma-joined floats, ``item_feature`` 9 ``;``-joined per-item vectors of
  comma-joined floats (all the same length). ``sequence_id`` is the slate's 1-based
  step in the session; ``timestamp`` is unix seconds.
- ``item_info.csv``: SPACE-separated with the header
  ``item_id item_vec price location special_item``; ``item_vec`` is 40 comma-joined
  floats. The published file has no final newline.

Normalised as one row per exposed item: ``slate`` (the log row's 0-based index),
``position`` 0..8, ``session`` (from ``session_id``), ``timestamp`` and the 0/1
feedback ``click``. RL4RS has no user id, so each session is its own user.

Only ``item_info.csv`` is in ``shared/data``: the logs are missing, so :class:`RL4RS`
raises an :class:`InputError` naming the log it looked for, while
:func:`read_rl4rs_items` reads and validates the item table alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rayrec.data.io import COMPRESSED_SUFFIXES, display_name, find_file, read_bytes
from rayrec.data.parsing import (
    FLOAT_TOKEN,
    Column,
    ParsedTable,
    TableFormat,
    as_string_array,
    parse_float_lists,
    parse_int_lists,
    parse_table,
    report_first_bad_tokens,
)
from rayrec.data.readers.base import DatasetReader, Parsed, register
from rayrec.data.schema import CLICK, InteractionLog, build_log
from rayrec.errors import InputError, Problem, ProblemCollector

#: Items per exposed slate.
SLATE_SIZE = 9
#: Length of ``item_vec`` in ``item_info.csv``.
ITEM_VEC_DIM = 40
#: Log file variants: dataset A (single slates) / B (sessions of slates), logged by the
#: supervised-learning (``sl``) or RL (``rl``) policy.
VARIANTS: tuple[str, ...] = ("a_rl", "a_sl", "b_rl", "b_sl")
SUBDIRS: tuple[str, ...] = ("raw_data", "dataset")


LOG_FORMAT = TableFormat(
    columns=(
        Column("timestamp", "unix_time"),
        Column("session_id", "int", min_value=0),
        Column("sequence_id", "int", min_value=0),
        Column("exposed_items", "str"),
        Column("user_feedback", "str"),
        Column("user_seqfeature", "str", nullable=True),
        Column("user_protrait", "str", nullable=True),
        Column("item_feature", "str"),
        Column("behavior_policy_id", "int"),
    ),
    sep="@",
    header=True,
)

ITEM_INFO_FORMAT = TableFormat(
    columns=(
        Column("item_id", "int", min_value=0),
        Column("item_vec", "str"),
        Column("price", "float", min_value=0),
        Column("location", "int", min_value=0),
        Column("special_item", "int", min_value=0),
    ),
    sep=" ",
    header=True,
)

VEC_COLUMNS: tuple[str, ...] = tuple(f"vec_{k}" for k in range(ITEM_VEC_DIM))


def log_name(variant: str) -> str:
    """The log file of a variant (``b_rl`` -> ``rl4rs_dataset_b_rl.csv``)."""
    return f"rl4rs_dataset_{variant}.csv"


def check_item_features(
    values: pa.Array | pd.Series,
    line_numbers: np.ndarray,
    shown: str,
    problems: ProblemCollector,
) -> np.ndarray:
    """Check ``item_feature``: 9 ``;``-joined vectors of numbers, one length in the file.

    Returns:
        (R,) bool mask of rows that passed.
    """
    arr = as_string_array(values)
    groups = pc.split_pattern(arr, ";")
    n_groups = np.asarray(pc.list_value_length(groups)).astype(np.int64)
    flat_groups = pc.list_flatten(groups)
    tokens = pc.split_pattern(flat_groups, ",")
    group_len = np.asarray(pc.list_value_length(tokens)).astype(np.int64)
    flat = pc.utf8_trim_whitespace(pc.list_flatten(tokens))
    is_num = np.asarray(pc.fill_null(pc.match_substring_regex(flat, FLOAT_TOKEN), False))
    row_of_group = np.repeat(np.arange(len(arr)), n_groups)
    row_of_token = np.repeat(row_of_group, group_len)
    ok = n_groups == SLATE_SIZE
    field = "item_feature"
    for i in np.flatnonzero(~ok):
        problems.add(
            Problem(
                shown,
                int(line_numbers[i]),
                field,
                f"{SLATE_SIZE} per-item vectors joined by ';'",
                f"{n_groups[i]} vectors: {arr[int(i)]}",
            )
        )
    report_first_bad_tokens(
        ok, row_of_token, ~is_num, flat, line_numbers, shown, field, "numbers", problems
    )
    starts = np.cumsum(n_groups) - n_groups
    has = n_groups > 0
    dim_min = np.zeros(len(arr), dtype=np.int64)
    dim_max = np.zeros(len(arr), dtype=np.int64)
    if has.any():
        dim_min[has] = np.minimum.reduceat(group_len, starts[has])
        dim_max[has] = np.maximum.reduceat(group_len, starts[has])
    unequal = ok & (dim_min != dim_max)
    for i in np.flatnonzero(unequal):
        problems.add(
            Problem(
                shown,
                int(line_numbers[i]),
                field,
                "per-item vectors of one length",
                f"lengths {dim_min[i]}..{dim_max[i]}",
            )
        )
    ok &= ~unequal
    if ok.any():
        values_ok, counts = np.unique(dim_min[ok], return_counts=True)
        dim = int(values_ok[np.argmax(counts)])
        odd = ok & (dim_min != dim)
        for i in np.flatnonzero(odd):
            problems.add(
                Problem(
                    shown,
                    int(line_numbers[i]),
                    field,
                    f"per-item vectors of {dim} numbers like the rest of the file",
                    f"{dim_min[i]} numbers each",
                )
            )
        ok &= ~odd
    return ok


def check_log(table: ParsedTable, shown: str, problems: ProblemCollector) -> dict[str, np.ndarray]:
    """Check the list fields of a parsed slate log.

    Returns:
        ``items`` and ``feedback`` (R, 9) int64, ``history`` / ``portrait`` offsets
        and flat values (for per-session user features).
    """
    frame, lines = table.frame, table.lines
    items, _, _ = parse_int_lists(
        as_string_array(frame["exposed_items"]),
        ",",
        "exposed_items",
        lines,
        shown,
        problems,
        length=SLATE_SIZE,
        min_value=0,
    )
    feedback, fb_len, fb_ok = parse_int_lists(
        as_string_array(frame["user_feedback"]),
        ",",
        "user_feedback",
        lines,
        shown,
        problems,
        length=SLATE_SIZE,
        min_value=0,
    )
    row_of = np.repeat(np.arange(len(frame)), fb_len)
    above = np.flatnonzero(feedback > 1)
    for r in np.unique(row_of[above]):
        if fb_ok[r]:
            problems.add(
                Problem(
                    shown,
                    int(lines[r]),
                    "user_feedback",
                    f"{SLATE_SIZE} comma-joined 0/1 values",
                    str(frame["user_feedback"].iloc[r]),
                )
            )
    history = as_string_array(frame["user_seqfeature"])
    has_history = np.asarray(pc.greater(pc.utf8_length(history), 0))
    hist_values, hist_len, _ = parse_int_lists(
        history.filter(pa.array(has_history)),
        ",",
        "user_seqfeature",
        lines[has_history],
        shown,
        problems,
        min_value=0,
    )
    history_len = np.zeros(len(frame), dtype=np.int64)
    history_len[has_history] = hist_len
    portrait, portrait_len, _ = parse_float_lists(
        frame["user_protrait"], ",", "user_protrait", lines, shown, problems, min_length=0
    )
    check_item_features(frame["item_feature"], lines, shown, problems)
    return {
        "items": items,
        "feedback": feedback,
        "history": hist_values,
        "history_len": history_len,
        "portrait": portrait,
        "portrait_len": portrait_len,
    }


def item_table(table: ParsedTable, shown: str, problems: ProblemCollector) -> pd.DataFrame:
    """``item_info.csv`` as a frame indexed by raw ``item_id``.

    Columns: ``price``, ``location``, ``special_item`` and ``vec_0..vec_39``.
    """
    frame = table.frame
    vec, _, ok = parse_float_lists(
        frame["item_vec"], ",", "item_vec", table.lines, shown, problems, length=ITEM_VEC_DIM
    )
    out = pd.DataFrame(
        {
            "price": frame["price"].to_numpy(dtype=np.float64),
            "location": frame["location"].to_numpy(dtype=np.int64),
            "special_item": frame["special_item"].to_numpy(dtype=np.int64),
        },
        index=pd.Index(frame["item_id"].to_numpy(dtype=np.int64), name="item_id"),
    )
    if ok.all():
        vectors = vec.reshape(len(frame), ITEM_VEC_DIM)
        out = pd.concat(
            [out, pd.DataFrame(vectors, columns=list(VEC_COLUMNS), index=out.index)], axis=1
        )
    return out


def read_rl4rs_items(root: Path | str) -> pd.DataFrame:
    """Read and validate RL4RS's ``item_info.csv`` alone (the real item catalogue).

    Args:
        root: folder holding ``item_info.csv`` (or its ``raw_data/`` / ``dataset/``).

    Returns:
        Items indexed by raw ``item_id`` with ``price``, ``location`` (slate page
        1..3), ``special_item`` and the 40-d ``item_vec`` as ``vec_0..vec_39``.

    Raises:
        InputError: when the file is missing.
        DataValidationError: listing every problem in it.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: expected a directory holding the RL4RS item_info.csv")
    directory = _data_dir(root, ("item_info.csv",))
    path = find_file(directory, "item_info.csv")
    assert path is not None
    shown = display_name(path, root)
    problems = ProblemCollector()
    table = parse_table(read_bytes(path, shown_as=shown), ITEM_INFO_FORMAT, shown, problems)
    items = item_table(table, shown, problems)
    problems.raise_if_any()
    return items


def _data_dir(root: Path, names: tuple[str, ...]) -> Path:
    for directory in (root, *(root / s for s in SUBDIRS)):
        if directory.is_dir() and any(
            find_file(directory, n, required=False) is not None for n in names
        ):
            return directory
    return root


@register
class RL4RS(DatasetReader):
    """RL4RS slate logs, one row per exposed item (dataset B, RL-policy logs by default).

    Args:
        root: the folder holding the logs and ``item_info.csv``.
        variant: which log to read, one of :data:`VARIANTS` (default: the class's).
        log_file: read this file name instead (same format), overriding ``variant``.
    """

    name = "rl4rs"
    aliases: ClassVar[tuple[str, ...]] = ("rl4rs-b-rl",)
    title = "RL4RS (dataset B, RL policy)"
    default_dir = "rl4rs"
    homepage = "https://github.com/fuxiAIlab/RL4RS"
    default_variant: ClassVar[str] = "b_rl"

    def __init__(
        self, root: Path, *, variant: str | None = None, log_file: str | None = None
    ) -> None:
        super().__init__(root)
        self.variant = variant or self.default_variant
        if self.variant not in VARIANTS:
            raise InputError(
                f"RL4RS variant '{self.variant}': expected one of {', '.join(VARIANTS)}"
            )
        self.log_file = log_file or log_name(self.variant)
        self.data_dir = _data_dir(root, (self.log_file, "item_info.csv"))

    def options_key(self) -> str:
        return f"log={self.log_file}"

    def _log(self) -> Path:
        path = find_file(self.data_dir, self.log_file, required=False)
        if path is None:
            others = [
                log_name(v)
                for v in VARIANTS
                if log_name(v) != self.log_file
                and find_file(self.data_dir, log_name(v), required=False) is not None
            ]
            hint = f"; found {', '.join(others)}: pick it with variant=..." if others else ""
            if not others and find_file(self.data_dir, "item_info.csv", required=False):
                hint = (
                    "; only item_info.csv is here: read it with"
                    " rayrec.data.readers.rl4rs.read_rl4rs_items()"
                )
            raise InputError(
                f"{self.data_dir}: missing the RL4RS slate log '{self.log_file}' (plain or"
                f" {'/'.join(COMPRESSED_SUFFIXES)}){hint}"
            )
        return path

    def _items(self) -> Path | None:
        return find_file(self.data_dir, "item_info.csv", required=False)

    def source_files(self) -> list[Path]:
        items = self._items()
        return [self._log()] + ([items] if items is not None else [])

    def parse(self, problems: ProblemCollector) -> Parsed:
        log_path = self._log()
        shown = self.shown(log_path)
        table = self.parse_file(log_path, LOG_FORMAT, problems)
        out: Parsed = {"log": table, "lists": check_log(table, shown, problems)}
        items = self._items()
        if items is not None:
            item_shown = self.shown(items)
            item_info = self.parse_file(items, ITEM_INFO_FORMAT, problems)
            out["items"] = item_table(item_info, item_shown, problems)
        return out

    def build(self, parsed: Parsed) -> InteractionLog:
        frame: pd.DataFrame = parsed["log"].frame
        lists: dict[str, np.ndarray] = parsed["lists"]
        n = len(frame)

        def per_item(col: str) -> np.ndarray:
            return np.repeat(frame[col].to_numpy(), SLATE_SIZE)

        rows = pd.DataFrame(
            {
                "session_id": per_item("session_id"),
                "item_id": lists["items"],
                "timestamp": per_item("timestamp"),
                "slate": np.repeat(np.arange(n, dtype=np.int64), SLATE_SIZE),
                "position": np.tile(np.arange(SLATE_SIZE, dtype=np.int64), n),
                "feedback": lists["feedback"],
                "sequence_id": per_item("sequence_id"),
                "behavior_policy_id": per_item("behavior_policy_id"),
            }
        )
        return build_log(
            self.name,
            rows,
            raw_user="session_id",
            raw_item="item_id",
            timestamp="timestamp",
            raw_session="session_id",
            slate="slate",
            position="position",
            feedback={CLICK: "feedback"},
            user_features=_session_features(frame, lists),
            item_features=parsed.get("items"),
            order="session",
            extra=("sequence_id", "behavior_policy_id"),
            meta={
                "timestamps": True,
                "variant": self.variant,
                "notes": (
                    "RL4RS has no user id: each session_id is its own user; 'click' is"
                    " RL4RS's 0/1 user_feedback (a purchase of the item in the game);"
                    " slate = 0-based row of the log, position = 0..8 inside it;"
                    " users carry the session's first user_protrait / user_seqfeature"
                ),
            },
        )


def _session_features(frame: pd.DataFrame, lists: dict[str, np.ndarray]) -> pd.DataFrame:
    """Per session (= user): the first row's portrait and history as list columns."""
    first = ~frame["session_id"].duplicated(keep="first").to_numpy()
    portrait = np.split(lists["portrait"], np.cumsum(lists["portrait_len"])[:-1])
    history = np.split(lists["history"], np.cumsum(lists["history_len"])[:-1])
    rows = np.flatnonzero(first)
    return pd.DataFrame(
        {
            "portrait": [portrait[i].tolist() for i in rows],
            "history": [history[i].tolist() for i in rows],
        },
        index=pd.Index(frame["session_id"].to_numpy()[rows], name="session_id"),
    )


@register
class RL4RSARL(RL4RS):
    """RL4RS dataset A (single slates) logged by the RL policy."""

    name = "rl4rs-a-rl"
    aliases = ()
    title = "RL4RS (dataset A, RL policy)"
    default_variant = "a_rl"


@register
class RL4RSASL(RL4RS):
    """RL4RS dataset A (single slates) logged by the supervised policy."""

    name = "rl4rs-a-sl"
    aliases = ()
    title = "RL4RS (dataset A, SL policy)"
    default_variant = "a_sl"


@register
class RL4RSBSL(RL4RS):
    """RL4RS dataset B (sessions of slates) logged by the supervised policy."""

    name = "rl4rs-b-sl"
    aliases = ()
    title = "RL4RS (dataset B, SL policy)"
    default_variant = "b_sl"
