"""MovieLens readers: ML-1M (``::`` files), its 5-fold variant, and ML-100K.

Formats (GroupLens READMEs):
- ML-1M ``ratings.dat``: ``UserID::MovieID::Rating::Timestamp``; ``users.dat``:
  ``UserID::Gender::Age::Occupation::Zip-code``; ``movies.dat``:
  ``MovieID::Title::Genres`` (``|``-joined). No header, ISO-8859-1.
- ML-1M folds (``siren-5fold/test_1m{1..5}.dat``): ``UserID,MovieID,Rating``, no
  timestamps; the union of the folds is the full rating set.
- ML-100K ``u.data``: tab-separated ``user item rating timestamp``; ``u.user``:
  ``user|age|gender|occupation|zip``; ``u.item``: ``movie id|title|release date|video
  release date|IMDb URL|`` + 19 genre flags. ISO-8859-1.

Every original file ends in a newline, so a copy whose last line lacks one is reported
as truncated even when that line still parses (a rating cut from ``978300760`` to
``97830``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rayrec.data.io import find_file
from rayrec.data.parsing import Column, TableFormat
from rayrec.data.readers.base import DatasetReader, Parsed, register
from rayrec.data.schema import RATING, InteractionLog, build_log
from rayrec.errors import InputError, ProblemCollector

ML_GENRES: tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip

RATINGS_1M = TableFormat(
    columns=(
        Column("UserID", "int", min_value=1),
        Column("MovieID", "int", min_value=1),
        Column("Rating", "int", min_value=1, max_value=5),
        Column("Timestamp", "unix_time"),
    ),
    sep="::",
    encoding="latin-1",
    require_final_newline=True,
)
USERS_1M = TableFormat(
    columns=(
        Column("UserID", "int", min_value=1),
        Column("Gender", "str", choices=("M", "F")),
        Column("Age", "int", min_value=1, max_value=120),
        Column("Occupation", "int", min_value=0, max_value=20),
        Column("Zip-code", "str", nullable=True),
    ),
    sep="::",
    encoding="latin-1",
    require_final_newline=True,
)
MOVIES_1M = TableFormat(
    columns=(
        Column("MovieID", "int", min_value=1),
        Column("Title", "str"),
        Column("Genres", "str", nullable=True),
    ),
    sep="::",
    encoding="latin-1",
    require_final_newline=True,
)
FOLDS_1M = TableFormat(
    columns=(
        Column("UserID", "int", min_value=1),
        Column("MovieID", "int", min_value=1),
        Column("Rating", "int", min_value=1, max_value=5),
    ),
    sep=",",
    encoding="latin-1",
    require_final_newline=True,
)
DATA_100K = TableFormat(
    columns=(
        Column("user_id", "int", min_value=1),
        Column("item_id", "int", min_value=1),
        Column("rating", "int", min_value=1, max_value=5),
        Column("timestamp", "unix_time"),
    ),
    sep="\t",
    require_final_newline=True,
)
USERS_100K = TableFormat(
    columns=(
        Column("user_id", "int", min_value=1),
        Column("age", "int", min_value=1, max_value=120),
        Column("gender", "str", choices=("M", "F")),
        Column("occupation", "str"),
        Column("zip_code", "str", nullable=True),
    ),
    sep="|",
    encoding="latin-1",
    require_final_newline=True,
)
ITEMS_100K = TableFormat(
    columns=(
        Column("movie_id", "int", min_value=1),
        Column("title", "str", nullable=True),
        Column("release_date", "str", nullable=True),
        Column("video_release_date", "str", nullable=True),
        Column("imdb_url", "str", nullable=True),
        *(Column(g, "int", min_value=0, max_value=1) for g in ML_GENRES),
    ),
    sep="|",
    encoding="latin-1",
    require_final_newline=True,
)


def _movie_features(movies: pd.DataFrame) -> pd.DataFrame:
    """Title, year (from the title's trailing ``(YYYY)``) and the genre string."""
    feats = pd.DataFrame(index=movies["MovieID"].to_numpy())
    feats["title"] = movies["Title"].to_numpy()
    year = movies["Title"].str.extract(r"\((\d{4})\)\s*$")[0]
    feats["year"] = pd.to_numeric(year, errors="coerce").to_numpy()
    feats["genres"] = movies["Genres"].fillna("").to_numpy()
    return feats


def _user_features_1m(users: pd.DataFrame) -> pd.DataFrame:
    feats = users.set_index("UserID")
    return feats.rename(
        columns={"Gender": "gender", "Age": "age", "Occupation": "occupation", "Zip-code": "zip"}
    )


@register
class MovieLens1M(DatasetReader):
    """MovieLens-1M from ``ratings.dat`` (+ ``users.dat``, ``movies.dat`` when present)."""

    name = "ml-1m"
    aliases = ("movielens-1m",)
    title = "MovieLens-1M"
    default_dir = "movielens-1m"
    homepage = "https://grouplens.org/datasets/movielens/1m/"

    def source_files(self) -> list[Path]:
        files = [self.find("ratings.dat")]
        files += [self.find(n, required=False) for n in ("users.dat", "movies.dat")]
        return [f for f in files if f is not None]

    def parse(self, problems: ProblemCollector) -> Parsed:
        ratings_path = self.find("ratings.dat")
        assert ratings_path is not None
        out: Parsed = {"ratings": self.parse_file(ratings_path, RATINGS_1M, problems)}
        users = self.find("users.dat", required=False)
        movies = self.find("movies.dat", required=False)
        if users is not None:
            out["users"] = self.parse_file(users, USERS_1M, problems)
        if movies is not None:
            out["movies"] = self.parse_file(movies, MOVIES_1M, problems)
        return out

    def build(self, parsed: Parsed) -> InteractionLog:
        ratings = parsed["ratings"].frame
        users = _user_features_1m(parsed["users"].frame) if "users" in parsed else None
        movies = _movie_features(parsed["movies"].frame) if "movies" in parsed else None
        meta = {"timestamps": True, "notes": _partial_note(ratings)}
        return build_log(
            self.name,
            ratings,
            raw_user="UserID",
            raw_item="MovieID",
            timestamp="Timestamp",
            feedback={RATING: "Rating"},
            user_features=users,
            item_features=movies,
            meta=meta,
        )


def _partial_note(ratings: pd.DataFrame) -> str:
    n_users = ratings["UserID"].nunique()
    if n_users < 6040 and len(ratings):
        lo, hi = int(ratings["UserID"].min()), int(ratings["UserID"].max())
        return (
            f"partial ML-1M: {n_users} of 6,040 users (ids {lo}..{hi}); report results as"
            f" 'ML-1M, users {lo}-{hi} subset'"
        )
    return ""


@register
class MovieLens1MFolds(DatasetReader):
    """ML-1M as five ``user,item,rating`` fold files (no timestamps).

    ``root`` may be the folds folder itself or a folder holding ``siren-5fold/``;
    ``users.dat`` / ``movies.dat`` are taken from ``root`` or its parent when present.
    """

    name = "ml-1m-folds"
    title = "MovieLens-1M (5 fold files, no timestamps)"
    default_dir = "movielens-1m"
    homepage = "https://github.com/woni-seo/SiReN-reco"
    FOLD_NAMES: tuple[str, ...] = tuple(f"test_1m{k}.dat" for k in range(1, 6))

    def _fold_dir(self) -> Path:
        for d in (self.root / "siren-5fold", self.root):
            if self.find_in(d, self.FOLD_NAMES[0]) is not None:
                return d
        raise InputError(
            f"{self.root}: expected the fold files {', '.join(self.FOLD_NAMES)}"
            " here or in its 'siren-5fold' folder, found none"
        )

    def find_in(self, directory: Path, name: str) -> Path | None:
        return find_file(directory, name, required=False)

    def _folds(self) -> list[Path]:
        d = self._fold_dir()
        return [p for p in (find_file(d, n) for n in self.FOLD_NAMES) if p is not None]

    def _side(self, name: str) -> Path | None:
        for d in (self.root, self.root.parent):
            p = self.find_in(d, name)
            if p is not None:
                return p
        return None

    def source_files(self) -> list[Path]:
        side = [self._side("users.dat"), self._side("movies.dat")]
        return self._folds() + [p for p in side if p is not None]

    def parse(self, problems: ProblemCollector) -> Parsed:
        out: Parsed = {"folds": [self.parse_file(p, FOLDS_1M, problems) for p in self._folds()]}
        users, movies = self._side("users.dat"), self._side("movies.dat")
        if users is not None:
            out["users"] = self.parse_file(users, USERS_1M, problems)
        if movies is not None:
            out["movies"] = self.parse_file(movies, MOVIES_1M, problems)
        return out

    def build(self, parsed: Parsed) -> InteractionLog:
        frames = []
        for k, table in enumerate(parsed["folds"], start=1):
            frame = table.frame.copy()
            frame["fold"] = k
            frames.append(frame)
        ratings = pd.concat(frames, ignore_index=True)
        users = _user_features_1m(parsed["users"].frame) if "users" in parsed else None
        movies = _movie_features(parsed["movies"].frame) if "movies" in parsed else None
        return build_log(
            self.name,
            ratings,
            raw_user="UserID",
            raw_item="MovieID",
            feedback={RATING: "Rating"},
            user_features=users,
            item_features=movies,
            extra=("fold",),  # each row's fold, to reproduce the original 5-fold protocol
            meta={"timestamps": False, "notes": "no timestamps: time-based splits unavailable"},
        )


@register
class MovieLens100K(DatasetReader):
    """MovieLens-100K from ``u.data`` (+ ``u.user``, ``u.item`` when present)."""

    name = "ml-100k"
    aliases = ("movielens-100k",)
    title = "MovieLens-100K"
    default_dir = "movielens-100k"
    homepage = "https://grouplens.org/datasets/movielens/100k/"

    def source_files(self) -> list[Path]:
        files = [self.find("u.data")]
        files += [self.find(n, required=False) for n in ("u.user", "u.item")]
        return [f for f in files if f is not None]

    def parse(self, problems: ProblemCollector) -> Parsed:
        data = self.find("u.data")
        assert data is not None
        out: Parsed = {"ratings": self.parse_file(data, DATA_100K, problems)}
        users = self.find("u.user", required=False)
        items = self.find("u.item", required=False)
        if users is not None:
            out["users"] = self.parse_file(users, USERS_100K, problems)
        if items is not None:
            out["items"] = self.parse_file(items, ITEMS_100K, problems)
        return out

    def build(self, parsed: Parsed) -> InteractionLog:
        users = parsed["users"].frame.set_index("user_id") if "users" in parsed else None
        items = None
        if "items" in parsed:
            frame = parsed["items"].frame
            items = pd.DataFrame(index=frame["movie_id"].to_numpy())
            items["title"] = frame["title"].to_numpy()
            items["release_date"] = frame["release_date"].to_numpy()
            flags = frame[list(ML_GENRES)].to_numpy()
            items["genres"] = [
                "|".join(g for g, f in zip(ML_GENRES, row, strict=True) if f) for row in flags
            ]
        return build_log(
            self.name,
            parsed["ratings"].frame,
            raw_user="user_id",
            raw_item="item_id",
            timestamp="timestamp",
            feedback={RATING: "rating"},
            user_features=users,
            item_features=items,
            meta={"timestamps": True},
        )
