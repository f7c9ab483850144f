"""KuaiRec reader: the fully observed small matrix or the big matrix (Gao et al., 2022).

Formats (KuaiRec 2.0, ``chongminggao/KuaiRec``), in ``root``, ``root/data`` or
``root/KuaiRec 2.0/data``:

- ``small_matrix.csv`` / ``big_matrix.csv``: comma-separated with the header
  ``user_id,video_id,play_duration,video_duration,time,date,timestamp,watch_ratio``;
  durations in milliseconds, ``time`` like ``2020-07-05 05:27:48.378`` (Beijing time),
  ``date`` like ``20200705.0``, ``timestamp`` float unix seconds. In
  ``big_matrix.csv`` ``time`` may be empty and ``date`` / ``timestamp`` empty or ``nan``
  (missing timestamps are NaN).
- ``user_features.csv`` (optional): the same layout as KuaiRand's user features.
- ``item_categories.csv`` (optional): ``video_id,feat`` with ``feat`` a quoted list
  such as ``"[27, 9]"``.

Feedback: ``watch_ratio`` (play / video duration, may exceed 1) and ``like`` =
``watch_ratio >= like_threshold``. KuaiRec has no explicit like: the default 2.0 is
a convention some papers use to binarise KuaiRec by watch ratio, not part of the
dataset, hence an option (it is part of the cache key).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rayrec.data.io import find_file
from rayrec.data.parsing import Column, ParsedTable, TableFormat, parse_int_lists
from rayrec.data.readers.base import DatasetReader, Parsed, register
from rayrec.data.readers.kuairand import (
    USER_FEATURES_FORMAT,
    data_dir,
    user_features,
)
from rayrec.data.schema import LIKE, WATCH_RATIO, InteractionLog, build_log
from rayrec.errors import InputError, Problem, ProblemCollector

#: Default ``like`` threshold on ``watch_ratio``.
LIKE_THRESHOLD = 2.0
MATRICES: tuple[str, ...] = ("small", "big")
SUBDIRS: tuple[str, ...] = ("data", "KuaiRec 2.0/data", "KuaiRec/data", "KuaiRec 2.0")
#: Unix seconds accepted as timestamps: 1970-01-01 up to 2100-01-01.
_UNIX_MAX = 4102444800.0

MATRIX_FORMAT = TableFormat(
    columns=(
        Column("user_id", "int", min_value=0),
        Column("video_id", "int", min_value=0),
        Column("play_duration", "int", min_value=0),
        Column("video_duration", "int", min_value=0),
        Column("time", "datetime", nullable=True),
        Column("date", "float", nullable=True),
        # float, not unix_time: "nan" must stay allowed; the range is checked below
        Column("timestamp", "float", nullable=True),
        Column("watch_ratio", "float", min_value=0),
    ),
    sep=",",
    header=True,
)

CATEGORIES_FORMAT = TableFormat(
    columns=(Column("video_id", "int", min_value=0), Column("feat", "str", nullable=True)),
    sep=",",
    header=True,
    quoted=True,
)


def matrix_name(matrix: str) -> str:
    return f"{matrix}_matrix.csv"


def check_timestamps(table: ParsedTable, shown: str, problems: ProblemCollector) -> None:
    """Timestamps must be missing or unix seconds in 1970..2100."""
    ts = table.frame["timestamp"].to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero(~np.isnan(ts) & ((ts < 0) | (ts >= _UNIX_MAX)))
    problems.extend(
        (
            Problem(
                shown,
                int(table.lines[i]),
                "timestamp",
                "a unix timestamp in seconds (1970..2100) or empty",
                f"{ts[i]:g}",
            )
            for i in bad[: problems.cap]
        ),
        total=len(bad),
    )


def categories(table: ParsedTable, shown: str, problems: ProblemCollector) -> pd.DataFrame:
    """``item_categories.csv`` as ``categories`` (``"27,9"``) indexed by ``video_id``."""
    feat = pa.array(table.frame["feat"].to_numpy(dtype=object), type=pa.large_string())
    inner = pc.utf8_trim(pc.fill_null(feat, ""), characters="[] ")
    inner = pc.replace_substring(inner, " ", "")
    has = np.asarray(pc.greater(pc.utf8_length(inner), 0))
    parse_int_lists(
        inner.filter(pa.array(has)), ",", "feat", table.lines[has], shown, problems, min_value=0
    )
    return pd.DataFrame(
        {"categories": inner.to_pylist()},
        index=pd.Index(table.frame["video_id"].to_numpy(dtype=np.int64), name="video_id"),
    )


@register
class KuaiRec(DatasetReader):
    """KuaiRec 2.0 interactions (small fully observed matrix by default).

    Args:
        root: the dataset folder (``KuaiRec 2.0/data`` inside it is found too).
        matrix: ``"small"`` (1,411 users x 3,327 videos, fully observed) or ``"big"``.
        like_threshold: ``like = watch_ratio >= like_threshold``.
    """

    name = "kuairec"
    aliases: ClassVar[tuple[str, ...]] = ("kuairec-small",)
    title = "KuaiRec (small matrix)"
    default_dir = "kuairec"
    homepage = "https://kuairec.com/"
    default_matrix: ClassVar[str] = "small"

    def __init__(
        self,
        root: Path,
        *,
        matrix: str | None = None,
        like_threshold: float = LIKE_THRESHOLD,
    ) -> None:
        super().__init__(root)
        self.matrix = matrix or self.default_matrix
        if self.matrix not in MATRICES:
            raise InputError(f"KuaiRec matrix '{self.matrix}': expected one of small, big")
        self.like_threshold = float(like_threshold)
        self.data_dir = data_dir(root, (matrix_name(self.matrix),), SUBDIRS)

    def options_key(self) -> str:
        return f"matrix={self.matrix},like_threshold={self.like_threshold:g}"

    def _matrix(self) -> Path:
        path = find_file(self.data_dir, matrix_name(self.matrix))
        assert path is not None
        return path

    def _side(self, name: str) -> Path | None:
        return find_file(self.data_dir, name, required=False)

    def source_files(self) -> list[Path]:
        side = [self._side("user_features.csv"), self._side("item_categories.csv")]
        return [self._matrix()] + [p for p in side if p is not None]

    def parse(self, problems: ProblemCollector) -> Parsed:
        path = self._matrix()
        table = self.parse_file(path, MATRIX_FORMAT, problems)
        check_timestamps(table, self.shown(path), problems)
        out: Parsed = {"matrix": table}
        users = self._side("user_features.csv")
        if users is not None:
            out["users"] = self.parse_file(users, USER_FEATURES_FORMAT, problems)
        cats = self._side("item_categories.csv")
        if cats is not None:
            cat_table = self.parse_file(cats, CATEGORIES_FORMAT, problems)
            out["items"] = categories(cat_table, self.shown(cats), problems)
        return out

    def build(self, parsed: Parsed) -> InteractionLog:
        rows = parsed["matrix"].frame
        ratio = rows["watch_ratio"].to_numpy(dtype=np.float64)
        rows = rows.assign(like=(ratio >= self.like_threshold).astype(np.float32))
        n_no_time = int(rows["timestamp"].isna().sum())
        notes = [
            f"{self.matrix}_matrix.csv; like = watch_ratio >= {self.like_threshold:g}"
            " (KuaiRec has no explicit like)"
        ]
        if n_no_time:
            notes.append(f"{n_no_time} rows without a timestamp (NaN)")
        users = user_features(parsed["users"]) if "users" in parsed else None
        return build_log(
            self.name,
            rows,
            raw_user="user_id",
            raw_item="video_id",
            timestamp="timestamp",
            feedback={WATCH_RATIO: "watch_ratio", LIKE: "like"},
            user_features=users,
            item_features=parsed.get("items"),
            extra=("play_duration", "video_duration"),
            meta={
                "timestamps": True,
                "matrix": self.matrix,
                "like_threshold": self.like_threshold,
                "notes": "; ".join(notes),
            },
        )


@register
class KuaiRecBig(KuaiRec):
    """KuaiRec 2.0's big matrix (7,176 users x 10,728 videos, sparse)."""

    name = "kuairec-big"
    aliases = ()
    title = "KuaiRec (big matrix)"
    default_matrix = "big"
