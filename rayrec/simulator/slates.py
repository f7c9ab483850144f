"""Exposure slates built from an :class:`InteractionLog`, the simulator's training data.

Two constructions (the env spec names one, and it is recorded in the checkpoint):

- ``log``: the dataset logged real exposure slates (RL4RS, KuaiRand exposures
  grouped by the reader, synthetic): rows sharing a ``slate`` id form one slate.
- ``chunk``: the dataset has no slates (MovieLens): each user's interactions in
  time order are cut into consecutive chunks of ``size`` items; every chunk item is
  a positive exposure whose feedback comes from the rules (e.g. ``click`` = rated,
  ``like`` = rating ≥ 4), and ``negative_ratio`` × size items the user never
  interacted with are added as negative exposures (all feedback 0). How negatives
  are drawn is :class:`NegativeSampling`'s choice (recorded in the checkpoint):

  - ``uniform``: uniformly over the items the user never rated, ``ceil(negative_ratio
    × size)`` per slate, with replacement — the HAC reference code's construction,
    kept exactly (the same seed gives the same slates). Unrated items are mostly
    unpopular, so "was rated" is nearly "is popular" on such slates.
  - ``popularity``: p(i) ∝ (count(i) + 1)^exponent over the items the user never
    rated (count = the item's rows in the log), without replacement within a slate,
    and ``ceil(negative_ratio × positives)`` per slate (a short last chunk gets
    fewer). With exponent 1 the negatives' popularity matches the positives', so
    popularity alone no longer tells a click; exponent 0 is uniform without repeats.

Slates are stored as padded arrays sorted by (user, time), so each user's slates
are contiguous and chronological and a slate's history is the previous slates of
the same user (:meth:`SlateData.history_index`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from rayrec.data.schema import ITEM, POSITION, SLATE, TIMESTAMP, USER, InteractionLog
from rayrec.errors import InputError


@dataclass(frozen=True)
class FeedbackRule:
    """How one simulated feedback type is read from a log column.

    ``y = 1`` when ``column`` ≥ ``threshold`` (missing values count as 0). With the
    default threshold a binary column is taken as is.
    """

    column: str
    threshold: float = 0.5


#: the negative samplers of ``chunk`` slates (module doc)
NEGATIVE_SAMPLERS = ("uniform", "popularity")


@dataclass(frozen=True)
class NegativeSampling:
    """How ``chunk`` slates draw their negative exposures (module doc).

    Attributes:
        sampler: ``uniform`` (the reference construction) or ``popularity``.
        exponent: α of p ∝ (count + 1)^α (``popularity`` only; ≥ 0).
    """

    sampler: Literal["uniform", "popularity"] = "uniform"
    exponent: float = 1.0

    def check(self, where: str) -> None:
        """Raise :class:`InputError` naming ``where`` for a sampler or exponent out of range."""
        if self.sampler not in NEGATIVE_SAMPLERS:
            raise InputError(
                f"{where}.sampler: expected one of {', '.join(NEGATIVE_SAMPLERS)},"
                f" got {self.sampler!r}"
            )
        if not (np.isfinite(self.exponent) and self.exponent >= 0):
            raise InputError(
                f"{where}.exponent: expected a finite number >= 0, got {self.exponent!r}"
            )


@dataclass(frozen=True)
class SlateConfig:
    """How exposure slates are built from a log.

    Attributes:
        construction: ``log`` (use the log's slate ids) or ``chunk`` (see module doc).
        size: items per chunk (``chunk`` only).
        negative_ratio: sampled negatives per chunk item (``chunk`` only).
        feedback: simulated feedback name -> rule reading it from the log.
        seed: negative-sampling seed.
        negatives: how negatives are drawn (``chunk`` only).
    """

    construction: Literal["log", "chunk"] = "chunk"
    size: int = 10
    negative_ratio: float = 1.0
    feedback: dict[str, FeedbackRule] = field(default_factory=dict)
    seed: int = 0
    negatives: NegativeSampling = field(default_factory=NegativeSampling)


@dataclass
class SlateData:
    """Padded slates of one log.

    Attributes:
        items: (S, M) int64 item ids, 0 = padding.
        feedback: (S, M, F) float32 per-item feedback in ``feedback_names`` order.
        user: (S,) int64 user id of each slate.
        time: (S,) float64 slate time (unix seconds; the row order when unknown).
        feedback_names: the F feedback types.
        n_users / n_items: id space sizes (ids run 1..n).
    """

    items: np.ndarray
    feedback: np.ndarray
    user: np.ndarray
    time: np.ndarray
    feedback_names: tuple[str, ...]
    n_users: int
    n_items: int

    def __len__(self) -> int:
        return len(self.user)

    @property
    def mask(self) -> np.ndarray:
        return self.items > 0  # (S, M)

    def rank_in_user(self) -> np.ndarray:
        """(S,) 0-based index of each slate among its user's slates."""
        starts = np.r_[0, np.flatnonzero(np.diff(self.user)) + 1]
        counts = np.diff(np.r_[starts, len(self.user)])
        return np.arange(len(self.user)) - np.repeat(starts, counts)

    def history_index(self, length: int) -> np.ndarray:
        """(S, L) indices of each slate's previous L slates (oldest first), -1 = none."""
        back = np.arange(length, 0, -1)  # (L,)
        idx = np.arange(len(self))[:, None] - back[None, :]  # (S, L)
        valid = (self.rank_in_user()[:, None] - back[None, :]) >= 0
        return np.where(valid, idx, -1)

    def last_slates(self, length: int) -> np.ndarray:
        """(U + 1, L) each user's last L slate indices (oldest first), -1 = none; row 0 unused."""
        out = np.full((self.n_users + 1, length), -1, dtype=np.int64)
        if len(self) == 0:
            return out
        ends = np.r_[np.flatnonzero(np.diff(self.user)), len(self.user) - 1]  # last slate per user
        ranks = self.rank_in_user()[ends]
        for k in range(length):
            back = length - 1 - k
            ok = ranks >= back
            out[self.user[ends[ok]], k] = ends[ok] - back
        return out

    def select(self, mask: np.ndarray) -> SlateData:
        """The slates where ``mask`` is true (order kept)."""
        return SlateData(
            items=self.items[mask],
            feedback=self.feedback[mask],
            user=self.user[mask],
            time=self.time[mask],
            feedback_names=self.feedback_names,
            n_users=self.n_users,
            n_items=self.n_items,
        )

    def time_cut(self, fraction: float) -> float:
        """The slate time below which ``fraction`` of the slates fall."""
        return float(np.quantile(self.time, fraction)) if len(self) else 0.0


def _feedback_matrix(df: pd.DataFrame, rules: dict[str, FeedbackRule]) -> np.ndarray:
    cols = []
    for name, rule in rules.items():
        if rule.column not in df.columns:
            raise InputError(
                f"slate feedback '{name}': the log has no column '{rule.column}'"
                f" (columns: {', '.join(map(str, df.columns))})"
            )
        values = df[rule.column].to_numpy(dtype=np.float64)
        cols.append(np.nan_to_num(values, nan=-np.inf) >= rule.threshold)
    return np.stack(cols, axis=-1).astype(np.float32)  # (R, F)


def build_slates(log: InteractionLog, config: SlateConfig) -> SlateData:
    """Build the padded slates of ``log`` as ``config`` says.

    Raises:
        InputError: the construction needs a column the log lacks, or a bad config.
    """
    if not config.feedback:
        raise InputError("slate config: 'feedback' must name at least one feedback rule")
    df = log.interactions
    time = df[TIMESTAMP].to_numpy(dtype=np.float64)
    if np.isnan(time).all():
        time = np.arange(len(df), dtype=np.float64)  # no timestamps: log order is time
    fb = _feedback_matrix(df, config.feedback)  # (R, F)
    if config.construction == "log":
        if SLATE not in df.columns:
            raise InputError(
                f"{log.name}: slate construction 'log' needs a '{SLATE}' column; this dataset"
                " has no logged slates, use construction 'chunk'"
            )
        slate_key = df[SLATE].to_numpy()
        pos = df[POSITION].to_numpy() if POSITION in df.columns else None
        return _pack(df, slate_key, pos, fb, time, log, config, negatives=False)
    if config.construction != "chunk":
        raise InputError(
            f"slate config: 'construction' must be 'log' or 'chunk', got {config.construction!r}"
        )
    if config.size < 1:
        raise InputError(f"slate config: 'size' must be >= 1, got {config.size}")
    config.negatives.check("slate config: negatives")
    order = np.lexsort((np.arange(len(df)), time, df[USER].to_numpy()))
    df, fb, time = df.iloc[order].reset_index(drop=True), fb[order], time[order]
    rank = df.groupby(USER).cumcount().to_numpy()
    chunk = rank // config.size
    slate_key = df[USER].to_numpy() * (int(chunk.max()) + 1 if len(df) else 1) + chunk
    return _pack(df, slate_key, rank % config.size, fb, time, log, config, negatives=True)


def _pack(
    df: pd.DataFrame,
    slate_key: np.ndarray,
    position: np.ndarray | None,
    fb: np.ndarray,
    time: np.ndarray,
    log: InteractionLog,
    config: SlateConfig,
    *,
    negatives: bool,
) -> SlateData:
    keys, slate_idx = np.unique(slate_key, return_inverse=True)
    n_slates = len(keys)
    users = df[USER].to_numpy()
    slate_user = np.zeros(n_slates, dtype=np.int64)
    slate_user[slate_idx] = users
    slate_time = np.full(n_slates, np.inf)
    np.minimum.at(slate_time, slate_idx, time)
    if position is None:
        position = pd.Series(slate_idx).groupby(slate_idx).cumcount().to_numpy()
    width = int(position.max()) + 1 if len(df) else 1
    sampled: np.ndarray | None = None  # (S, n_neg)
    if negatives and config.negatives.sampler == "popularity":
        n_pos = np.bincount(slate_idx, minlength=n_slates)  # (S,)
        need = np.ceil(config.negative_ratio * n_pos).astype(np.int64)  # (S,)
        sampled = _sample_popular_negatives(
            df, slate_user, need, log.n_items, config.negatives.exponent, config.seed
        )
    elif negatives:
        n_neg = int(np.ceil(config.negative_ratio * width))
        if n_neg:
            sampled = _sample_negatives(df, slate_user, n_neg, log.n_items, config.seed)
    n_neg = 0 if sampled is None else sampled.shape[1]
    items = np.zeros((n_slates, width + n_neg), dtype=np.int64)
    feedback = np.zeros((n_slates, width + n_neg, fb.shape[1]), dtype=np.float32)
    items[slate_idx, position] = df[ITEM].to_numpy()
    feedback[slate_idx, position] = fb
    if sampled is not None:
        items[:, width:] = sampled
    order = np.lexsort((np.arange(n_slates), slate_time, slate_user))
    return SlateData(
        items=items[order],
        feedback=feedback[order],
        user=slate_user[order],
        time=slate_time[order],
        feedback_names=tuple(config.feedback),
        n_users=log.n_users,
        n_items=log.n_items,
    )


def _sample_negatives(
    df: pd.DataFrame, slate_user: np.ndarray, n_neg: int, n_items: int, seed: int
) -> np.ndarray:
    """(S, n_neg) items each slate's user never interacted with (rejection sampling).

    Users who saw most of the catalogue can exhaust the rejection rounds; their
    remaining draws come from their unseen items exactly, or are padding (0) when
    they saw every item.
    """
    rng = np.random.default_rng([seed, 17])
    seen = np.unique(df[USER].to_numpy() * (n_items + 1) + df[ITEM].to_numpy())
    out = rng.integers(1, n_items + 1, size=(len(slate_user), n_neg))
    for _ in range(20):
        bad = np.isin(slate_user[:, None] * (n_items + 1) + out, seen)  # (S, n_neg)
        if not bad.any():
            return out
        out[bad] = rng.integers(1, n_items + 1, size=int(bad.sum()))
    bad = np.isin(slate_user[:, None] * (n_items + 1) + out, seen)  # (S, n_neg)
    for s in np.flatnonzero(bad.any(axis=1)):
        user_seen = seen[seen // (n_items + 1) == slate_user[s]] % (n_items + 1)
        unseen = np.setdiff1d(np.arange(1, n_items + 1), user_seen)
        out[s, bad[s]] = rng.choice(unseen, size=int(bad[s].sum())) if len(unseen) else 0
    return out


#: rejection rounds of the popularity sampler before its exact per-slate fallback
_POPULAR_ROUNDS = 12


def _sample_popular_negatives(
    df: pd.DataFrame,
    slate_user: np.ndarray,
    need: np.ndarray,
    n_items: int,
    exponent: float,
    seed: int,
) -> np.ndarray:
    """(S, max need) ``need[s]`` distinct items per slate its user never rated, drawn
    with p ∝ (count + 1)^exponent (successive sampling: rejection of rated and repeated
    draws), padded with 0 on the right.

    Candidates are drawn for all unfilled slates at once, twice as many each round;
    slates still short after :data:`_POPULAR_ROUNDS` rounds (users who rated most of
    the popular mass) draw from their unrated items exactly, and stay padded where
    fewer unrated items exist than they need.
    """
    rng = np.random.default_rng([seed, 29])
    n_slates = len(slate_user)
    width = int(need.max(initial=0))
    out = np.zeros((n_slates, width), dtype=np.int64)
    if width == 0:
        return out
    items = df[ITEM].to_numpy()
    counts = np.bincount(items, minlength=n_items + 1)[1:].astype(np.float64)  # (I,)
    weights = (counts + 1.0) ** exponent  # (I,)
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    stride = n_items + 1
    seen = np.unique(df[USER].to_numpy() * stride + items)  # sorted (user, item) keys
    filled = np.zeros(n_slates, dtype=np.int64)
    for round_ in range(_POPULAR_ROUNDS):
        rows = np.flatnonzero(filled < need)
        if len(rows) == 0:
            return out
        n_cand = min(width * 2 ** (round_ + 1), 4 * n_items)
        draws = np.searchsorted(cdf, rng.random((len(rows), n_cand)), side="right") + 1
        cand = np.concatenate([out[rows], np.minimum(draws, n_items)], axis=1)  # (P, W + C)
        keys = slate_user[rows, None] * stride + cand  # (P, W + C)
        pos = np.minimum(np.searchsorted(seen, keys), len(seen) - 1)
        ok = (cand > 0) & (seen[pos] != keys)
        first = np.zeros(cand.size, dtype=bool)
        in_row = np.arange(len(rows))[:, None] * stride + cand  # (P, W + C)
        first[np.unique(in_row.ravel(), return_index=True)[1]] = True
        ok &= first.reshape(cand.shape)
        rank = np.cumsum(ok, axis=1)  # (P, W + C)
        take = ok & (rank <= need[rows, None])
        r, c = np.nonzero(take)
        block = np.zeros((len(rows), width), dtype=np.int64)
        block[r, rank[r, c] - 1] = cand[r, c]
        out[rows] = block
        filled[rows] = take.sum(axis=1)
    for s in np.flatnonzero(filled < need):  # rare: users who rated most of the mass
        user_seen = seen[seen // stride == slate_user[s]] % stride
        pool = np.setdiff1d(np.arange(1, n_items + 1), np.r_[user_seen, out[s, : filled[s]]])
        k = min(int(need[s] - filled[s]), len(pool))
        if k:
            p = weights[pool - 1] / weights[pool - 1].sum()
            out[s, filled[s] : filled[s] + k] = rng.choice(pool, size=k, replace=False, p=p)
    return out
