"""Top-N data: each user's ratings in time order, split train / test, for LSRWRL and
its baselines (``../shared/specs/lsrwrl.md``, "Data and protocol").

:func:`build_topn_data` builds on :func:`rayrec.data.rating_walk.build_rating_records`
(the same per-user chronological split: the first ``floor(n · train_fraction)``
records of each user train, the rest test; a user whose train share would be empty
is kept whole in train) and adds what a top-N learner and its evaluation need:

- per user (index ``k = 0 .. U − 1``, dense user id ``user_ids[k]``), the train
  items in time order with their ratings and the liked flag (rating ≥
  ``like_threshold``, the spec's (ours) 4);
- the user features of the spec's long-term interest — the gender and occupation
  one-hot blocks and the min-max age of :mod:`rayrec.data.rating_walk`, fitted on the
  train part's users — one row per user;
- the held-out relevant items per user (``relevance``: ``rated`` = every test-part
  rating, ``liked`` = the liked ones), the train user × item matrix (scipy CSR) for
  neighbourhood models, and train item popularity.

Item ids are the log's dense ids ``1 .. n_items`` (0 = padding), so a score matrix over
``n_items + 1`` columns indexes items directly. Every model and baseline of a top-N
table reads one :class:`TopNData`: the same split, the same candidate set.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import scipy.sparse as sp

from rayrec.data.rating_walk import AGE_COLUMN, RatingRecords, build_rating_records
from rayrec.data.schema import InteractionLog
from rayrec.errors import InputError

Relevance = Literal["rated", "liked"]
RELEVANCES: tuple[str, ...] = ("rated", "liked")
#: the users-table blocks of the long-term interest (feature-name prefixes)
USER_FEATURE_PREFIXES: tuple[str, ...] = ("gender=", "occupation=")


@dataclass(frozen=True, eq=False)
class TopNData:
    """One log's top-N split (module doc).

    Attributes:
        records: the per-user chronological records and their split.
        like_threshold: a rating at or above it is liked.
        user_features: (U, F_u) float32 gender one-hot, age, occupation one-hot per user
            (blocks absent from the users table are left out: ``records.notes``).
        user_feature_names: (F_u,) their names.
    """

    records: RatingRecords
    like_threshold: float
    user_features: np.ndarray
    user_feature_names: tuple[str, ...]

    @property
    def dataset(self) -> str:
        return self.records.dataset

    @property
    def n_users(self) -> int:
        """U, users with at least one record (index ``k`` runs ``0 .. U − 1``)."""
        return len(self.records.user_ids)

    @property
    def n_items(self) -> int:
        """I: item ids run ``1 .. I``; score matrices have ``I + 1`` columns."""
        return self.records.n_items

    @property
    def user_ids(self) -> np.ndarray:
        """(U,) the dense user id of each user index."""
        return self.records.user_ids

    @cached_property
    def liked(self) -> np.ndarray:
        """(N,) bool: the record's rating is at or above :attr:`like_threshold`."""
        return _frozen(self.records.ratings >= self.like_threshold)

    @cached_property
    def train_offsets(self) -> np.ndarray:
        """(U + 1,) user ``k``'s train records are :attr:`train_items` rows
        ``train_offsets[k] .. train_offsets[k + 1] − 1``, in time order."""
        return _frozen(np.r_[0, np.cumsum(self.records.n_train)].astype(np.int64))

    @cached_property
    def _train_rows(self) -> np.ndarray:
        return np.flatnonzero(~self.records.is_test)

    @cached_property
    def train_items(self) -> np.ndarray:
        """(N_train,) int64 train items of every user, grouped by user, in time order."""
        return _frozen(self.records.items[self._train_rows])

    @cached_property
    def train_ratings(self) -> np.ndarray:
        """(N_train,) float32 raw ratings of :attr:`train_items`."""
        return _frozen(self.records.ratings[self._train_rows])

    @cached_property
    def train_liked(self) -> np.ndarray:
        """(N_train,) bool liked flags of :attr:`train_items`."""
        return _frozen(self.liked[self._train_rows])

    @cached_property
    def train_users(self) -> np.ndarray:
        """(N_train,) int64 user index ``k`` of each train record."""
        return _frozen(np.repeat(np.arange(self.n_users), self.records.n_train))

    def user_train_items(self, k: int) -> np.ndarray:
        """User ``k``'s train items in time order."""
        return self.train_items[self.train_offsets[k] : self.train_offsets[k + 1]]

    def test_relevant(self, relevance: Relevance = "rated") -> list[np.ndarray]:
        """Per user index, the held-out relevant item ids (``rated``: every test-part
        rating; ``liked``: those at or above the like threshold), sorted."""
        if relevance not in RELEVANCES:
            raise ValueError(f"relevance: expected one of {RELEVANCES}, got {relevance!r}")
        rec = self.records
        keep = rec.is_test if relevance == "rated" else rec.is_test & self.liked
        out: list[np.ndarray] = []
        for k in range(self.n_users):
            lo, hi = rec.offsets[k], rec.offsets[k + 1]
            out.append(np.unique(rec.items[lo:hi][keep[lo:hi]]))
        return out

    def train_seen(self) -> list[np.ndarray]:
        """Per user index, the distinct train item ids (excluded from its ranking)."""
        return [np.unique(self.user_train_items(k)) for k in range(self.n_users)]

    def eval_users(self, relevance: Relevance = "rated") -> np.ndarray:
        """(M,) user indices with at least one train record and one relevant test item:
        the users a top-N metric averages over."""
        has_test = np.array([len(r) > 0 for r in self.test_relevant(relevance)], dtype=bool)
        return np.flatnonzero(has_test & (self.records.n_train > 0))

    def train_matrix(self) -> sp.csr_matrix:
        """(U, I + 1) float32 binary train user × item matrix (a re-rated item counts
        once). Column 0 (padding) is empty."""
        m = sp.coo_matrix(
            (
                np.ones(len(self.train_items), dtype=np.float32),
                (self.train_users, self.train_items),
            ),
            shape=(self.n_users, self.n_items + 1),
        ).tocsr()
        m.data = np.minimum(m.data, 1.0).astype(np.float32)  # duplicates were summed
        return m

    def item_popularity(self) -> np.ndarray:
        """(I + 1,) int64 train ratings per item (index 0, padding, is 0)."""
        return np.bincount(self.train_items, minlength=self.n_items + 1).astype(np.int64)


def build_topn_data(
    log: InteractionLog,
    *,
    train_fraction: float = 0.8,
    like_threshold: float = 4.0,
    rating_scale: tuple[float, float] = (1.0, 5.0),
    where: str = "",
) -> TopNData:
    """The :class:`TopNData` of ``log`` (module doc).

    Raises:
        InputError: the log has no ratings or timestamps (key ``dataset``), a rating lies
            outside the scale, or the like threshold lies outside it (key
            ``topn.like_threshold``).
    """
    where = where or log.name
    low, high = float(rating_scale[0]), float(rating_scale[1])
    if not low <= float(like_threshold) <= high:
        raise InputError(
            f"{where}: topn.like_threshold: expected a rating in [{low:g}, {high:g}],"
            f" got {like_threshold}"
        )
    records = build_rating_records(
        log,
        train_fraction=train_fraction,
        short_window=0,
        rating_scale=rating_scale,
        where=where,
    )
    names = records.feature_names
    cols = [
        j
        for j, name in enumerate(names)
        if name == AGE_COLUMN or name.startswith(USER_FEATURE_PREFIXES)
    ]
    first = records.offsets[:-1]
    user_features = records.features[first][:, cols].astype(np.float32)  # (U, F_u)
    return TopNData(
        records=records,
        like_threshold=float(like_threshold),
        user_features=_frozen(user_features),
        user_feature_names=tuple(names[j] for j in cols),
    )


def _frozen(a: np.ndarray) -> np.ndarray:
    out = np.ascontiguousarray(a)
    out.setflags(write=False)
    return out
