"""A seeded synthetic interaction log with a known ground-truth user model.

Tests use it, and it is the embedded default dataset when no real data is given.
The ground truth is a latent-factor click model with item popularity:

    logit p(click | u, i) = scale · ⟨θ_u, φ_i⟩ + b_i + c        θ_u, φ_i ∈ R^d, ‖·‖ ≈ 1

Purchases follow clicks (``p(purchase | click) = σ(scale·⟨θ_u, φ_i⟩ − 1)``) and a
clicked item gets a 1–5 rating from the same affinity. Users and items belong to
``n_clusters`` taste clusters: factors are drawn around cluster centres and the
cluster ids are exposed as a user feature (``segment``) and an item feature
(``genre``), so features carry signal as in real data.

The log is a sequence of exposure *slates*: each user has sessions; each session
step shows ``slate_size`` items chosen by a logging policy that mixes popularity
sampling with a noisy version of the true preference (so the log holds both
positives and informative negatives). Every exposed item is one row with
``slate``/``position`` and feedback ``click``, ``purchase``, ``rating`` (NaN when
not clicked).

:class:`GroundTruth` gives exact click probabilities and the oracle slate, so a
simulator learned from this log can be checked against the truth and an oracle
policy is known.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from rayrec.data.schema import CLICK, PURCHASE, RATING, InteractionLog, build_log
from rayrec.errors import InputError


@dataclass(frozen=True)
class SyntheticConfig:
    """Size and shape of the synthetic log.

    Attributes:
        seed: the only source of randomness.
        n_users / n_items: population and catalogue size.
        dim: latent dimension d.
        n_clusters: taste clusters shared by users and items.
        cluster_spread: spread of factors around their cluster centre (0 = identical).
        scale: sharpness of preferences (logit scale of the affinity).
        click_bias: the global logit offset c (sets the base click rate).
        popularity_std: std of the item bias b_i.
        sessions_per_user: mean number of sessions (Poisson, at least 1).
        steps_per_session: mean slates per session (Poisson, at least 1).
        slate_size: items per exposure slate.
        logging_greedy: share of each slate chosen by noisy true preference
            (the rest sampled by popularity).
        days: time span of the log.
        start_time: unix time of the log's start (2024-01-01 by default).
    """

    seed: int = 0
    n_users: int = 500
    n_items: int = 400
    dim: int = 8
    n_clusters: int = 8
    cluster_spread: float = 0.5
    scale: float = 4.0
    click_bias: float = -1.5
    popularity_std: float = 0.5
    sessions_per_user: float = 3.0
    steps_per_session: float = 6.0
    slate_size: int = 5
    logging_greedy: float = 0.5
    days: float = 90.0
    start_time: float = 1_704_067_200.0

    def __post_init__(self) -> None:
        for name in ("n_users", "n_items", "dim", "n_clusters", "slate_size"):
            if getattr(self, name) < 1:
                raise InputError(
                    f"synthetic config: '{name}' must be >= 1, got {getattr(self, name)}"
                )
        if self.slate_size > self.n_items:
            raise InputError(
                f"synthetic config: 'slate_size' ({self.slate_size}) exceeds"
                f" 'n_items' ({self.n_items})"
            )
        if not 0.0 <= self.logging_greedy <= 1.0:
            raise InputError(
                f"synthetic config: 'logging_greedy' must be in [0, 1], got {self.logging_greedy}"
            )
        for name in ("sessions_per_user", "steps_per_session", "days", "scale"):
            if getattr(self, name) <= 0:
                raise InputError(
                    f"synthetic config: '{name}' must be > 0, got {getattr(self, name)}"
                )


@dataclass(frozen=True)
class GroundTruth:
    """The true user model behind a synthetic log (dense ids; row 0 is padding).

    Attributes:
        user_factors: (U + 1, d) θ_u.
        item_factors: (I + 1, d) φ_i.
        item_bias: (I + 1,) b_i.
        scale: logit scale.
        click_bias: global logit offset c.
        user_cluster / item_cluster: (U + 1,) / (I + 1,) cluster ids.
    """

    user_factors: np.ndarray
    item_factors: np.ndarray
    item_bias: np.ndarray
    scale: float
    click_bias: float
    user_cluster: np.ndarray
    item_cluster: np.ndarray

    def affinity(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """⟨θ_u, φ_i⟩ for broadcastable id arrays: users (B,) × items (B, K) -> (B, K)."""
        u = self.user_factors[users]  # (B, d)
        v = self.item_factors[items]  # (B, K, d)
        return np.einsum("bd,bkd->bk", u, v)  # (B, K)

    def click_logit(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """True click logits, users (B,) and items (B, K) -> (B, K)."""
        return self.scale * self.affinity(users, items) + self.item_bias[items] + self.click_bias

    def click_prob(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """True click probabilities, users (B,) and items (B, K) -> (B, K)."""
        return 1.0 / (1.0 + np.exp(-self.click_logit(users, items)))

    def all_logits(self, users: np.ndarray) -> np.ndarray:
        """Click logits of every real item: users (B,) -> (B, I); column j is item j + 1."""
        u = self.user_factors[users]  # (B, d)
        v = self.item_factors[1:]  # (I, d)
        logits = self.scale * u @ v.T  # (B, I); (scale · θ_u) @ φᵀ: the order sets the bits
        logits += self.item_bias[1:]  # in place: one (B, I) array, same sums as before
        logits += self.click_bias
        return logits  # (B, I)

    def oracle_slate(self, users: np.ndarray, k: int) -> np.ndarray:
        """The k items of highest true click probability per user: (B,) -> (B, k), best first."""
        logits = self.all_logits(users)  # (B, I)
        top = np.argpartition(-logits, k - 1, axis=1)[:, :k]  # (B, k) unordered
        order = np.argsort(-np.take_along_axis(logits, top, axis=1), axis=1)
        return np.take_along_axis(top, order, axis=1) + 1  # (B, k) dense ids

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "user_factors": self.user_factors,
            "item_factors": self.item_factors,
            "item_bias": self.item_bias,
            "scale": np.asarray(self.scale),
            "click_bias": np.asarray(self.click_bias),
            "user_cluster": self.user_cluster,
            "item_cluster": self.item_cluster,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> GroundTruth:
        return cls(
            user_factors=np.asarray(arrays["user_factors"]),
            item_factors=np.asarray(arrays["item_factors"]),
            item_bias=np.asarray(arrays["item_bias"]),
            scale=float(arrays["scale"]),
            click_bias=float(arrays["click_bias"]),
            user_cluster=np.asarray(arrays["user_cluster"]),
            item_cluster=np.asarray(arrays["item_cluster"]),
        )


@dataclass(frozen=True)
class SyntheticData:
    log: InteractionLog
    truth: GroundTruth
    config: SyntheticConfig


def make_ground_truth(config: SyntheticConfig) -> GroundTruth:
    """Draw the latent user and item model (deterministic in ``config.seed``)."""
    rng = np.random.default_rng([config.seed, 1])
    centres = _unit(rng.normal(size=(config.n_clusters, config.dim)))  # (C, d)
    user_cluster = rng.integers(0, config.n_clusters, size=config.n_users)
    item_cluster = rng.integers(0, config.n_clusters, size=config.n_items)
    users = _unit(
        centres[user_cluster]
        + config.cluster_spread * rng.normal(size=(config.n_users, config.dim))
    )  # (U, d)
    items = _unit(
        centres[item_cluster]
        + config.cluster_spread * rng.normal(size=(config.n_items, config.dim))
    )  # (I, d)
    bias = config.popularity_std * rng.normal(size=config.n_items)  # (I,)
    pad = np.zeros((1, config.dim))
    return GroundTruth(
        user_factors=np.vstack([pad, users]),
        item_factors=np.vstack([pad, items]),
        item_bias=np.concatenate([[0.0], bias]),
        scale=config.scale,
        click_bias=config.click_bias,
        user_cluster=np.concatenate([[-1], user_cluster]),
        item_cluster=np.concatenate([[-1], item_cluster]),
    )


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True).clip(min=1e-9)


def generate(config: SyntheticConfig | None = None) -> SyntheticData:
    """Generate the log and its ground truth; fully determined by ``config``.

    Vectorised over chunks of slates: ~0.1 s for the default size; memory grows with
    the log (slates × slate size), not with slates × items.
    """
    config = config or SyntheticConfig()
    truth = make_ground_truth(config)
    rng = np.random.default_rng([config.seed, 2])
    n_u, n_i, k = config.n_users, config.n_items, config.slate_size
    # --- sessions and slates -------------------------------------------------
    n_sessions = np.maximum(1, rng.poisson(config.sessions_per_user, size=n_u))  # (U,)
    session_user = np.repeat(np.arange(1, n_u + 1), n_sessions)  # (S,)
    n_steps = np.maximum(1, rng.poisson(config.steps_per_session, size=len(session_user)))  # (S,)
    session_start = config.start_time + rng.uniform(
        0, config.days * 86400.0, size=len(session_user)
    )  # (S,)
    slate_session = np.repeat(np.arange(len(session_user)), n_steps)  # (T,)
    slate_user = session_user[slate_session]  # (T,)
    step_in_session = np.arange(len(slate_session)) - np.repeat(
        np.cumsum(n_steps) - n_steps, n_steps
    )
    slate_time = session_start[slate_session] + 60.0 * step_in_session  # (T,)
    n_slates = len(slate_session)
    # --- logging policy: part popularity sample, part noisy true preference ---
    slates = _logging_slates(config, truth, slate_user, rng) + 1  # (T, K) dense item ids
    perm = np.argsort(rng.random(size=(n_slates, k)), axis=1)
    slates = np.take_along_axis(slates, perm, axis=1)  # shuffle positions
    # --- feedback ----------------------------------------------------------------
    p_click = truth.click_prob(slate_user, slates)  # (T, K)
    click = rng.random(size=p_click.shape) < p_click  # (T, K)
    aff = truth.affinity(slate_user, slates)  # (T, K)
    p_buy = 1.0 / (1.0 + np.exp(-(config.scale * aff - 1.0)))
    purchase = click & (rng.random(size=p_click.shape) < p_buy)
    rating_cont = 3.0 + 2.0 * np.tanh(config.scale * aff / 2.0) + 0.5 * rng.normal(size=aff.shape)
    rating = np.where(click, np.clip(np.rint(rating_cont), 1, 5), np.nan)
    rows = pd.DataFrame(
        {
            "user": np.repeat(slate_user, k),
            "item": slates.reshape(-1),
            "ts": np.repeat(slate_time, k),
            "session": np.repeat(slate_session + 1, k),
            "slate": np.repeat(np.arange(1, n_slates + 1), k),
            "position": np.tile(np.arange(k), n_slates),
            "click": click.reshape(-1).astype(np.float32),
            "purchase": purchase.reshape(-1).astype(np.float32),
            "rating": rating.reshape(-1).astype(np.float32),
        }
    )
    user_feats = pd.DataFrame(
        {"segment": truth.user_cluster[1:]}, index=pd.Index(np.arange(1, n_u + 1))
    )
    item_feats = pd.DataFrame(
        {"genre": truth.item_cluster[1:], "popularity_bias": truth.item_bias[1:]},
        index=pd.Index(np.arange(1, n_i + 1)),
    )
    log = build_log(
        "synthetic",
        rows,
        raw_user="user",
        raw_item="item",
        timestamp="ts",
        raw_session="session",
        slate="slate",
        position="position",
        feedback={CLICK: "click", PURCHASE: "purchase", RATING: "rating"},
        user_features=user_feats,
        item_features=item_feats,
        meta={
            "timestamps": True,
            "synthetic_config": asdict(config),
            "notes": "synthetic log with known ground truth (rayrec.data.synthetic)",
        },
    )
    _check_identity_ids(log, n_u, n_i)
    return SyntheticData(log=log, truth=truth, config=config)


#: Keys per chunk of the logging policy's slates × items arrays (float64: 16 MiB each).
_CHUNK_KEYS = 1 << 21


def _slate_chunks(n_slates: int, n_items: int) -> list[slice]:
    """Consecutive row ranges of about ``_CHUNK_KEYS`` slate × item keys each."""
    rows = max(1, _CHUNK_KEYS // n_items)
    return [slice(lo, min(lo + rows, n_slates)) for lo in range(0, n_slates, rows)]


def _top_columns(keys: np.ndarray, n: int) -> np.ndarray:
    """Columns of the ``n`` largest keys per row, largest first: (C, I) -> (C, n).

    Equal to ``np.argsort(-keys, axis=1)[:, :n]`` whenever the keys are distinct (they
    are continuous random draws), at O(I) per row instead of O(I log I).
    """
    if n == 0:
        return np.empty((keys.shape[0], 0), dtype=np.intp)  # (C, 0)
    n_cols = keys.shape[1]
    top = np.argpartition(keys, n_cols - n, axis=1)[:, n_cols - n :]  # (C, n) unordered
    order = np.argsort(-np.take_along_axis(keys, top, axis=1), axis=1)  # (C, n)
    return np.take_along_axis(top, order, axis=1)  # (C, n)


def _logging_slates(
    config: SyntheticConfig, truth: GroundTruth, slate_user: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """The logging policy's slates as 0-based item columns, before shuffling: (T,) -> (T, K).

    The first ``round(logging_greedy · K)`` items of a slate are the top of the noisy
    true preference (logits + 2 · Gumbel); the rest are a popularity sample without
    replacement (Gumbel top-k on log popularity), excluding the greedy items.

    The dense slates × items keys are built one chunk of slates at a time, in two
    passes so that ``rng`` is consumed in the original order (every preference Gumbel,
    then every popularity Gumbel): the same seed gives the same log as the dense
    version did. The keys stay float64: float32 rounding would reorder nearly tied
    keys and change the log.
    """
    n_slates, n_i, k = len(slate_user), config.n_items, config.slate_size
    n_greedy = round(config.logging_greedy * k)
    chunks = _slate_chunks(n_slates, n_i)
    greedy = np.empty((n_slates, n_greedy), dtype=np.intp)  # (T, g)
    for rows in chunks:
        noisy = rng.gumbel(size=(rows.stop - rows.start, n_i))  # (C, I)
        noisy *= 2.0
        noisy += truth.all_logits(slate_user[rows])  # (C, I) logits + 2 · Gumbel
        greedy[rows] = _top_columns(noisy, n_greedy)  # (C, g)
    pop = np.exp(truth.item_bias[1:])
    log_pop = np.log(pop / pop.sum())  # (I,)
    rest = np.empty((n_slates, k - n_greedy), dtype=np.intp)  # (T, K - g)
    for rows in chunks:
        # Gumbel top-k = sampling without replacement: log popularity + Gumbel.
        pop_keys = rng.gumbel(size=(rows.stop - rows.start, n_i))  # (C, I)
        pop_keys += log_pop[None, :]
        np.put_along_axis(pop_keys, greedy[rows], -np.inf, axis=1)  # no duplicates in a slate
        rest[rows] = _top_columns(pop_keys, k - n_greedy)  # (C, K - g)
    return np.concatenate([greedy, rest], axis=1)  # (T, K)


def _check_identity_ids(log: InteractionLog, n_users: int, n_items: int) -> None:
    """The ground truth is indexed by the generator's ids: the log must keep them.

    Every user has at least one slate; an item never exposed would shift the dense
    item ids, so that case is an error asking for a larger log.
    """
    if log.n_users != n_users or log.n_items != n_items:
        raise InputError(
            f"synthetic log exposes {log.n_items} of {n_items} items; increase"
            " 'sessions_per_user' or 'steps_per_session' so every item is shown at least once"
        )
