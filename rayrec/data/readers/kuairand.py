"""KuaiRand readers: KuaiRand-Pure and KuaiRand-1K (one class, a preset per version).

Formats (chongminggao/KuaiRand README; ``<sfx>`` is ``pure`` or ``1k``), all
comma-separated with a header, in ``root``, ``root/data`` or
``root/KuaiRand-<Version>/data``:

- logs ``log_standard_4_08_to_4_21_<sfx>.csv``, ``log_standard_4_22_to_5_08_<sfx>.csv``
  and (optional) ``log_random_4_22_to_5_08_<sfx>.csv``, header
  ``user_id,video_id,date,hourmin,time_ms,is_click,is_like,is_follow,is_comment,
  is_forward,is_hate,long_view,play_time_ms,duration_ms,profile_stay_time,
  comment_stay_time,is_profile_enter,is_rand,tab``, every field an integer; one row
  per exposure, ``time_ms`` in unix milliseconds.
- ``user_features_<sfx>.csv``: ``user_id``, ``user_active_degree``, flags, follow /
  fans / friend counts and their quoted range strings (``"[100,1k)"``),
  ``register_days(_range)``, ``onehot_feat0..17``. Missing values are coded
  ``-124`` or left empty.
- ``video_features_basic_<sfx>.csv``: ``video_id,author_id,video_type,upload_dt,
  upload_type,visible_status,video_duration,server_width,server_height,music_id,
  music_type,tag``; ``tag`` is comma-joined category ids, quoted when several.

Every log row becomes one interaction (one exposure) with the feedback ``click``,
``like``, ``follow``, ``comment``, ``forward``, ``hate``, ``long_view`` and
``watch_ratio = play_time_ms / duration_ms`` (NaN where ``duration_ms`` is 0);
``timestamp = time_ms / 1000``. No slates are formed. The rows of the random-exposure
log carry ``is_rand = 1``.

Only the feature tables of KuaiRand-Pure are in ``shared/data``: the logs are missing,
so :class:`KuaiRandPure` raises an :class:`InputError` naming them, while
:func:`read_kuairand_features` reads and validates the two feature tables alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from rayrec.data.io import COMPRESSED_SUFFIXES, find_file
from rayrec.data.parsing import Column, ParsedTable, TableFormat
from rayrec.data.readers.base import DatasetReader, Parsed, parse_file, register
from rayrec.data.schema import CLICK, LIKE, LONG_VIEW, WATCH_RATIO, InteractionLog, build_log
from rayrec.errors import InputError, ProblemCollector

FOLLOW = "follow"
COMMENT = "comment"
FORWARD = "forward"
HATE = "hate"

#: KuaiRand's code for a missing feature value.
MISSING_CODE = -124

#: output feedback name -> log column (all 0/1).
BINARY_FEEDBACK: dict[str, str] = {
    CLICK: "is_click",
    LIKE: "is_like",
    FOLLOW: "is_follow",
    COMMENT: "is_comment",
    FORWARD: "is_forward",
    HATE: "is_hate",
    LONG_VIEW: "long_view",
}

LOG_FORMAT = TableFormat(
    columns=(
        Column("user_id", "int", min_value=0),
        Column("video_id", "int", min_value=0),
        Column("date", "int", min_value=19700101, max_value=21000101),
        Column("hourmin", "int", min_value=0),
        Column("time_ms", "unix_time", scale=1e-3),
        *(Column(col, "int", min_value=0, max_value=1) for col in BINARY_FEEDBACK.values()),
        Column("play_time_ms", "int", min_value=0),
        Column("duration_ms", "int", min_value=0),
        Column("profile_stay_time", "int", min_value=0),
        Column("comment_stay_time", "int", min_value=0),
        Column("is_profile_enter", "int", min_value=0, max_value=1),
        Column("is_rand", "int", min_value=0, max_value=1),
        Column("tab", "int", min_value=0),
    ),
    sep=",",
    header=True,
)

#: Numeric user-feature columns (read as numbers; ``-124`` and empty become NaN).
USER_NUMERIC: tuple[str, ...] = (
    "is_lowactive_period",
    "is_live_streamer",
    "is_video_author",
    "follow_user_num",
    "fans_user_num",
    "friend_user_num",
    "register_days",
    *(f"onehot_feat{k}" for k in range(18)),
)
USER_CATEGORICAL: tuple[str, ...] = (
    "user_active_degree",
    "follow_user_num_range",
    "fans_user_num_range",
    "friend_user_num_range",
    "register_days_range",
)

#: ``user_features*.csv`` of KuaiRand (all versions) and KuaiRec: quoted CSV, header.
USER_FEATURES_FORMAT = TableFormat(
    columns=(
        Column("user_id", "int", min_value=0),
        *(Column(c, "str", nullable=True) for c in USER_CATEGORICAL),
        *(Column(c, "float", nullable=True) for c in USER_NUMERIC),
    ),
    sep=",",
    header=True,
    quoted=True,
    extra_columns=True,
)

VIDEO_NUMERIC: tuple[str, ...] = (
    "visible_status",
    "video_duration",
    "server_width",
    "server_height",
    "music_type",
)
VIDEO_FEATURES_FORMAT = TableFormat(
    columns=(
        Column("video_id", "int", min_value=0),
        Column("author_id", "int", nullable=True),
        Column("video_type", "str", nullable=True),
        Column("upload_dt", "str", nullable=True),
        Column("upload_type", "str", nullable=True),
        *(Column(c, "float", nullable=True) for c in VIDEO_NUMERIC),
        Column("music_id", "int", nullable=True),
        Column("tag", "str", nullable=True),
    ),
    sep=",",
    header=True,
    quoted=True,
    extra_columns=True,
)


def log_names(suffix: str) -> tuple[str, str, str]:
    """(first standard log, second standard log, random log) for a version suffix."""
    return (
        f"log_standard_4_08_to_4_21_{suffix}.csv",
        f"log_standard_4_22_to_5_08_{suffix}.csv",
        f"log_random_4_22_to_5_08_{suffix}.csv",
    )


def feature_names(suffix: str) -> tuple[str, str]:
    """(user feature table, basic video feature table) for a version suffix."""
    return f"user_features_{suffix}.csv", f"video_features_basic_{suffix}.csv"


def data_dir(root: Path, names: tuple[str, ...], subdirs: tuple[str, ...]) -> Path:
    """The first of ``root``, ``root/<subdir>`` holding (a variant of) any of ``names``.

    Falls back to ``root`` when none does, so messages name the folder the user gave.
    """
    for directory in (root, *(root / s for s in subdirs)):
        if directory.is_dir() and any(
            find_file(directory, n, required=False) is not None for n in names
        ):
            return directory
    return root


def missing_to_nan(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Replace KuaiRand's ``-124`` code by NaN in numeric ``columns`` (as float64)."""
    out = frame.copy()
    for col in columns:
        values = out[col].to_numpy(dtype=np.float64, na_value=np.nan)
        out[col] = np.where(values == MISSING_CODE, np.nan, values)
    return out


def user_features(table: ParsedTable) -> pd.DataFrame:
    """User features indexed by raw ``user_id``; ``-124`` and empty cells are NaN."""
    frame = missing_to_nan(table.frame, USER_NUMERIC)
    return frame.set_index("user_id")


def video_features(table: ParsedTable) -> pd.DataFrame:
    """Basic video features indexed by raw ``video_id``; ``-124`` / empty are NaN.

    ``author_id`` and ``music_id`` stay integer ids; ``tag`` stays the comma-joined
    category string (``"20,43"``, empty when absent).
    """
    frame = missing_to_nan(table.frame, VIDEO_NUMERIC)
    frame["tag"] = frame["tag"].fillna("").astype(str)
    return frame.set_index("video_id")


def read_kuairand_features(
    root: Path | str, suffix: str = "pure"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read and validate only KuaiRand's user and basic video feature tables.

    For simulators that need real feature distributions without the logs.

    Args:
        root: folder holding ``user_features_<suffix>.csv`` and
            ``video_features_basic_<suffix>.csv`` (or their ``data/`` folder).
        suffix: ``pure`` or ``1k``.

    Returns:
        (users indexed by raw ``user_id``, videos indexed by raw ``video_id``); the
        ``-124`` code and empty cells are NaN in numeric columns.

    Raises:
        InputError: naming a missing table.
        DataValidationError: listing every problem found in either table.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: expected a directory holding the KuaiRand feature tables")
    user_name, video_name = feature_names(suffix)
    directory = data_dir(root, (user_name,), _subdirs(suffix))
    users_path, videos_path = find_file(directory, user_name), find_file(directory, video_name)
    assert users_path is not None and videos_path is not None
    problems = ProblemCollector()
    users = parse_file(users_path, root, USER_FEATURES_FORMAT, problems)
    videos = parse_file(videos_path, root, VIDEO_FEATURES_FORMAT, problems)
    problems.raise_if_any()
    return user_features(users), video_features(videos)


def _subdirs(suffix: str) -> tuple[str, ...]:
    version = {"pure": "Pure", "1k": "1K", "27k": "27K"}.get(suffix, suffix)
    return ("data", f"KuaiRand-{version}/data", f"KuaiRand-{version}")


@register
class KuaiRandPure(DatasetReader):
    """KuaiRand-Pure: the logs of the 7,583 candidate-pool videos, one row per exposure.

    Args:
        root: the dataset folder (or its ``data/`` parent).
        include_random: also read ``log_random_4_22_to_5_08_<sfx>.csv`` when present
            (its rows keep ``is_rand = 1``, so they can be told apart or dropped).
    """

    name = "kuairand-pure"
    title = "KuaiRand-Pure"
    default_dir = "kuairand-pure"
    homepage = "https://kuairand.com/"
    #: the version suffix of every file name.
    suffix: ClassVar[str] = "pure"

    def __init__(self, root: Path, *, include_random: bool = True) -> None:
        super().__init__(root)
        self.include_random = include_random
        names = (*log_names(self.suffix)[:2], *feature_names(self.suffix))
        self.data_dir = data_dir(root, names, _subdirs(self.suffix))

    def options_key(self) -> str:
        return f"random={int(self.include_random)}"

    def _find(self, name: str, *, required: bool = False) -> Path | None:
        return find_file(self.data_dir, name, required=required)

    def _logs(self) -> list[Path]:
        first, second, random = log_names(self.suffix)
        found = {n: self._find(n) for n in (first, second)}
        missing = [n for n, p in found.items() if p is None]
        if missing:
            have = [n for n in feature_names(self.suffix) if self._find(n) is not None]
            hint = (
                f"; only the feature tables are here ({', '.join(have)}): read them with"
                " rayrec.data.readers.kuairand.read_kuairand_features()"
                if have
                else ""
            )
            raise InputError(
                f"{self.data_dir}: missing the {self.title} log file(s) "
                f"{', '.join(repr(n) for n in missing)} (plain or "
                f"{'/'.join(COMPRESSED_SUFFIXES)}){hint}"
            )
        logs = [p for p in found.values() if p is not None]
        rand = self._find(random) if self.include_random else None
        return logs + ([rand] if rand is not None else [])

    def _features(self) -> tuple[Path | None, Path | None]:
        user_name, video_name = feature_names(self.suffix)
        return self._find(user_name), self._find(video_name)

    def source_files(self) -> list[Path]:
        return self._logs() + [p for p in self._features() if p is not None]

    def parse(self, problems: ProblemCollector) -> Parsed:
        random_name = log_names(self.suffix)[2]
        logs = []
        for path in self._logs():
            table = self.parse_file(path, LOG_FORMAT, problems)
            logs.append((path.name.startswith(random_name), table))
        out: Parsed = {"logs": logs}
        users, videos = self._features()
        if users is not None:
            out["users"] = self.parse_file(users, USER_FEATURES_FORMAT, problems)
        if videos is not None:
            out["videos"] = self.parse_file(videos, VIDEO_FEATURES_FORMAT, problems)
        return out

    def build(self, parsed: Parsed) -> InteractionLog:
        frames = []
        for from_random, table in parsed["logs"]:
            frame = table.frame
            if from_random:
                frame = frame.assign(is_rand=1)
            frames.append(frame)
        rows = pd.concat(frames, ignore_index=True)
        play = rows["play_time_ms"].to_numpy(dtype=np.float64)
        duration = rows["duration_ms"].to_numpy(dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            rows[WATCH_RATIO] = np.where(duration > 0, play / duration, np.nan)
        n_zero = int((duration <= 0).sum())
        notes = [
            "one row per exposure (no slates); watch_ratio = play_time_ms / duration_ms;"
            " rows of the random-exposure log have is_rand = 1"
        ]
        if n_zero:
            notes.append(f"{n_zero} rows with duration_ms = 0 have watch_ratio NaN")
        users = user_features(parsed["users"]) if "users" in parsed else None
        videos = video_features(parsed["videos"]) if "videos" in parsed else None
        return build_log(
            self.name,
            rows,
            raw_user="user_id",
            raw_item="video_id",
            timestamp="time_ms",  # already unix seconds: the column is scaled by 1e-3
            feedback={**BINARY_FEEDBACK, WATCH_RATIO: WATCH_RATIO},
            user_features=users,
            item_features=videos,
            extra=("is_rand", "tab", "play_time_ms", "duration_ms"),
            meta={"timestamps": True, "notes": "; ".join(notes)},
        )


@register
class KuaiRand1K(KuaiRandPure):
    """KuaiRand-1K: 1,000 users' full logs; same layout as Pure with suffix ``1k``."""

    name = "kuairand-1k"
    title = "KuaiRand-1K"
    default_dir = "kuairand-1k"
    suffix = "1k"
