"""Classic top-N baselines of LSRWRL's table: most-popular, ItemCF and UserCF.

Each baseline is fitted on one :class:`rayrec.data.topn.TopNData` (the per-user
chronological 80/20 split) and returns a *scorer*: user indices ``k`` (b,) →
``(b, n_items + 1)`` float32 scores over the whole item pool, column 0 (padding) at
``−inf``, higher = better. Train items are not removed by the scorer; the evaluation
(:func:`evaluate_topn_baselines`, and the ``topn`` evaluation protocol) excludes them.

- ``most_popular``: every user gets the train popularity of each item
  (:meth:`TopNData.item_popularity`, train ratings per item).
- ``itemcf``: cosine item-item k-NN of ``implicit``
  (:class:`implicit.nearest_neighbours.CosineRecommender`) on the binary train matrix
  (:meth:`TopNData.train_matrix`). ``score(u, j) = Σ_{i ∈ train(u)} sim(i, j)``, where
  ``sim(i, ·)`` keeps item i's ``k`` most similar other items (implicit's neighbour list
  also holds the item itself, at cosine 1, so implicit is given ``K = k + 1``; the self
  term only scores train items, which the evaluation removes). This is what implicit's
  own ``recommend`` sums; the full pool is scored at once as ``user_items @ similarity``
  (one sparse product per batch), not by one ``recommend`` call per user. ``k = 20``:
  Deshpande & Karypis's item-based top-N recommender ("Item-based top-N recommendation
  algorithms", TOIS 2004) uses 20 neighbours, as does implicit's default.
- ``usercf``: cosine user-user k-NN, a small scipy / numpy implementation:
  ``sim(u, v)`` is the cosine of the two users' binary train rows, each user keeps its
  ``k`` most similar other users ``N(u)`` (ties to the lower user index), and
  ``score(u, j) = Σ_{v ∈ N(u)} sim(u, v) · r_vj``. Why not implicit on the transposed
  matrix: its neighbour list of a user includes the user itself (so ``K`` would mean
  ``K − 1`` neighbours) and its tie order among equally similar users is the C++
  heap's; here the user is excluded by construction, ties are broken by index, and the
  similarities are computed in user batches (a ``(batch, U)`` dense block at a time),
  so no ``U × U`` matrix is held. ``k = 50``: Herlocker et al. ("An algorithmic
  framework for performing collaborative filtering", SIGIR 1999) found 20–60
  neighbours best for user-based CF; 50 is the usual pick inside that range.

Seeds: the three baselines are deterministic; ``seed`` is taken for the common
interface (and recorded) but changes nothing. implicit's ``num_threads`` does not
change its result either (each item's neighbour list is computed independently).

``implicit`` is the ``baselines`` extra (``pip install "rayrec[baselines]"``);
``most_popular`` and ``usercf`` work without it.

Paper figures (LSRWRL, Table 1, ML-1M): ItemCF P@10 0.176 / R@10 0.098, UserCF 0.167 /
0.108; see ``benchmarks/topn_baselines.py`` for ours on this split.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from rayrec.data.topn import RELEVANCES, Relevance, TopNData
from rayrec.errors import InputError
from rayrec.metrics.ranking import ranking_metrics, top_k

logger = logging.getLogger(__name__)

#: user indices (b,) -> (b, n_items + 1) float32 scores (column 0, padding, at −inf)
Scorer = Callable[[np.ndarray], np.ndarray]
#: the metrics of :func:`evaluate_topn_baselines`, per cut-off k
TOPN_METRICS: tuple[str, ...] = ("precision", "recall", "hr", "ndcg")


@dataclass(frozen=True)
class TopNBaseline:
    """One registered baseline.

    Attributes:
        name: its registry key.
        description: what it scores, in words.
        options: the frozen dataclass of its options (every field has a default).
        fit: ``(data, options, seed) -> scorer``.
    """

    name: str
    description: str
    options: type[Any]
    fit: Callable[[TopNData, Any, int], Scorer]


#: the baselines, in table order (filled by :func:`register`)
TOPN_BASELINES: dict[str, TopNBaseline] = {}


def register(
    name: str, description: str, options: type[Any]
) -> Callable[[Callable[[TopNData, Any, int], Scorer]], Callable[[TopNData, Any, int], Scorer]]:
    """Decorator: register ``fit`` under ``name`` in :data:`TOPN_BASELINES`."""

    def decorate(
        fit: Callable[[TopNData, Any, int], Scorer],
    ) -> Callable[[TopNData, Any, int], Scorer]:
        if name in TOPN_BASELINES:
            raise ValueError(f"top-N baseline {name!r} is registered twice")
        TOPN_BASELINES[name] = TopNBaseline(name, description, options, fit)
        return fit

    return decorate


# ---------------------------------------------------------------------- scorers
def _user_rows(users: np.ndarray, n_users: int) -> np.ndarray:
    """(b,) int64 user indices, checked to lie in ``0 .. n_users − 1``."""
    users = np.asarray(users).reshape(-1)
    if users.size and not np.issubdtype(users.dtype, np.integer):
        raise ValueError(f"users: expected integer user indices, got {users.dtype}")
    users = users.astype(np.int64)
    if users.size and (users.min() < 0 or users.max() >= n_users):
        raise IndexError(
            f"users: expected indices in 0 .. {n_users - 1}, got {users.min()} .. {users.max()}"
        )
    return users


@dataclass(frozen=True, eq=False)
class PopularityScorer:
    """Every user gets the same scores: ``popularity`` (I + 1,), padding at −inf."""

    popularity: np.ndarray
    n_users: int

    def __call__(self, users: np.ndarray) -> np.ndarray:
        users = _user_rows(users, self.n_users)  # (b,)
        return np.tile(self.popularity, (len(users), 1))  # (b, I + 1)


@dataclass(frozen=True, eq=False)
class NeighbourScorer:
    """``scores[u] = left[u] @ right`` (a sparse product), padding at −inf.

    ItemCF: ``left`` = the (U, I + 1) train matrix, ``right`` = the (I + 1, I + 1) item
    similarity (row i: item i's neighbours). UserCF: ``left`` = the (U, U) user
    neighbour similarities, ``right`` = the (U, I + 1) train matrix.
    """

    left: sp.csr_matrix
    right: sp.csr_matrix

    def __call__(self, users: np.ndarray) -> np.ndarray:
        users = _user_rows(users, self.left.shape[0])  # (b,)
        scores = (self.left[users] @ self.right).toarray().astype(np.float32)  # (b, I + 1)
        scores[:, 0] = -np.inf  # padding is never an item
        return scores


# ---------------------------------------------------------------------- baselines
@dataclass(frozen=True)
class MostPopularOptions:
    """``most_popular`` takes no options."""


@dataclass(frozen=True)
class ItemCFOptions:
    """``itemcf`` options.

    Attributes:
        k: similar items kept per item, the item itself not counted (module doc: 20).
        num_threads: implicit's fitting threads (0: every core); the result does not
            depend on it.
    """

    k: int = 20
    num_threads: int = 1


@dataclass(frozen=True)
class UserCFOptions:
    """``usercf`` options.

    Attributes:
        k: most similar other users kept per user (module doc: 50).
        batch: users whose similarity row block is computed at once.
    """

    k: int = 50
    batch: int = 1024


@register(
    "most_popular",
    "train popularity: the number of train ratings of each item, the same for every user",
    MostPopularOptions,
)
def fit_most_popular(data: TopNData, options: MostPopularOptions, seed: int) -> Scorer:
    """The most-popular scorer (module doc)."""
    popularity = data.item_popularity().astype(np.float32)  # (I + 1,)
    popularity[0] = -np.inf
    popularity.setflags(write=False)
    return PopularityScorer(popularity, data.n_users)


@register(
    "itemcf",
    "implicit's cosine item-item k-NN: sum of the user's train items' similarities (k = 20)",
    ItemCFOptions,
)
def fit_itemcf(data: TopNData, options: ItemCFOptions, seed: int) -> NeighbourScorer:
    """The ItemCF scorer: implicit's ``CosineRecommender`` on the train matrix (module doc)."""
    try:
        from implicit.nearest_neighbours import CosineRecommender
    except ImportError as exc:
        raise InputError(
            "topn baselines: itemcf: needs implicit, which is not installed"
            ' (pip install "rayrec[baselines]")'
        ) from exc
    user_items = data.train_matrix()  # (U, I + 1) binary
    model = CosineRecommender(K=options.k + 1, num_threads=options.num_threads)
    with warnings.catch_warnings():
        # CosineRecommender.fit hands its own normalised COO matrix to a CSR check,
        # which warns about the conversion; the input here is CSR.
        warnings.filterwarnings("ignore", message="Method expects CSR input")
        model.fit(user_items, show_progress=False)
    similarity = sp.csr_matrix(model.similarity)  # (I + 1, I + 1) row i: i's neighbours
    return NeighbourScorer(user_items, similarity)


def user_neighbours(matrix: sp.csr_matrix, k: int, batch: int = 1024) -> sp.csr_matrix:
    """(U, U) cosine similarities of each row's ``k`` most similar other rows.

    Args:
        matrix: (U, I) non-negative user × item matrix (binary train rows).
        k: neighbours per user (at most U − 1 are kept); the user itself is never one.
        batch: users whose (batch, U) similarity block is computed at once.

    Returns:
        CSR (U, U) float64: row u holds ``cos(u, v)`` for u's neighbours v, ties
        broken by the lower user index; zero similarities are dropped.
    """
    matrix = sp.csr_matrix(matrix, dtype=np.float64)  # (U, I)
    n_users = matrix.shape[0]
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())  # (U,)
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)  # (U,)
    unit = sp.csr_matrix(sp.diags(inverse) @ matrix)  # (U, I) unit rows
    k = min(k, n_users - 1)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    if k > 0:
        for start in range(0, n_users, batch):
            stop = min(start + batch, n_users)
            sims = (unit[start:stop] @ unit.T).toarray()  # (b, U)
            own = np.zeros(sims.shape, dtype=bool)  # (b, U)
            own[np.arange(stop - start), np.arange(start, stop)] = True
            best = top_k(sims, k, exclude=own)  # (b, k) most similar first
            rows.append(np.repeat(np.arange(start, stop), k))
            cols.append(best.ravel())
            vals.append(np.take_along_axis(sims, best, axis=1).ravel())
    neighbours = sp.csr_matrix(
        (
            np.concatenate(vals) if vals else np.zeros(0),
            (
                np.concatenate(rows) if rows else np.zeros(0, np.int64),
                np.concatenate(cols) if cols else np.zeros(0, np.int64),
            ),
        ),
        shape=(n_users, n_users),
    )
    neighbours.eliminate_zeros()
    return neighbours


@register(
    "usercf",
    "cosine user-user k-NN: similarity-weighted sum of the k = 50 nearest users' train rows",
    UserCFOptions,
)
def fit_usercf(data: TopNData, options: UserCFOptions, seed: int) -> NeighbourScorer:
    """The UserCF scorer (module doc)."""
    user_items = data.train_matrix()  # (U, I + 1) binary
    neighbours = user_neighbours(user_items, options.k, options.batch)  # (U, U)
    return NeighbourScorer(neighbours, sp.csr_matrix(user_items, dtype=np.float64))


# ---------------------------------------------------------------------- fit / evaluate
def _check_name(name: str) -> TopNBaseline:
    if name not in TOPN_BASELINES:
        raise InputError(
            f"topn baselines: name: expected one of {', '.join(TOPN_BASELINES)}, got {name!r}"
        )
    return TOPN_BASELINES[name]


def make_options(name: str, options: Mapping[str, Any] | None = None) -> Any:
    """The checked options dataclass of baseline ``name`` from ``options`` overrides.

    Raises:
        InputError: an unknown name, an unknown option, or a value out of range
            (``k`` and ``batch`` integers ≥ 1, ``num_threads`` an integer ≥ 0).
    """
    baseline = _check_name(name)
    options = dict(options or {})
    fields = [f.name for f in dataclasses.fields(baseline.options)]
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise InputError(
            f"topn baselines: {name}: options: expected keys among"
            f" {', '.join(fields) or '(none)'}, got {', '.join(map(repr, unknown))}"
        )
    for key, value in options.items():
        low = 0 if key == "num_threads" else 1
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise InputError(
                f"topn baselines: {name}.{key}: expected an integer >= {low}, got {value!r}"
            )
    return baseline.options(**{key: int(value) for key, value in options.items()})


def fit_scorer(name: str, data: TopNData, *, seed: int = 0, **options: Any) -> Scorer:
    """Fit baseline ``name`` on ``data``'s train part and return its scorer.

    Args:
        name: a key of :data:`TOPN_BASELINES`.
        data: the top-N split.
        seed: unused by these deterministic baselines (module doc); the common interface.
        options: fields of the baseline's options dataclass (e.g. ``k=40``).

    Returns:
        user indices (b,) -> (b, n_items + 1) float32 scores, column 0 at −inf.

    Raises:
        InputError: as :func:`make_options`, or ``itemcf`` without implicit installed.
    """
    baseline = _check_name(name)
    return baseline.fit(data, make_options(name, options), seed)


def _mask(items: Sequence[np.ndarray], n_columns: int) -> np.ndarray:
    """(b, n_columns) bool with each row's item ids set."""
    mask = np.zeros((len(items), n_columns), dtype=bool)
    rows = np.repeat(np.arange(len(items)), [len(ids) for ids in items])
    cols = np.concatenate([np.zeros(0, np.int64), *(np.asarray(i, np.int64) for i in items)])
    mask[rows, cols] = True
    return mask


def evaluate_scorer(
    scorer: Scorer,
    data: TopNData,
    *,
    relevance: Relevance = "rated",
    ks: Sequence[int] = (10,),
    batch: int = 1024,
) -> tuple[dict[str, float], int]:
    """Top-k metrics of ``scorer`` over ``data.eval_users(relevance)``.

    The semantics of the ``full_ranking`` protocol
    (:mod:`rayrec.evaluation.full_ranking`): each user's train items and the padding
    column are excluded from its ranking, relevant items already in train are not
    retrievable, and a user left with no retrievable relevant item is not counted.
    The metric functions are :func:`rayrec.metrics.ranking.ranking_metrics`'.

    Returns:
        (``{"precision@k", "recall@k", "hr@k", "ndcg@k"}`` means over the counted users,
        the number of counted users).

    Raises:
        InputError: an unknown relevance, or no user to evaluate.
    """
    if relevance not in RELEVANCES:
        raise InputError(
            f"topn baselines: relevance: expected one of {', '.join(RELEVANCES)}, got {relevance!r}"
        )
    users = data.eval_users(relevance)  # (M,)
    relevant = data.test_relevant(relevance)
    seen = data.train_seen()
    keys = [f"{metric}@{k}" for metric in TOPN_METRICS for k in ks]
    totals = dict.fromkeys(keys, 0.0)
    counted = 0
    for start in range(0, len(users), batch):
        rows = users[start : start + batch]  # (b,)
        scores = np.asarray(scorer(rows), dtype=np.float64)  # (b, I + 1)
        n_columns = scores.shape[1]
        rel = _mask([relevant[k] for k in rows], n_columns)  # (b, I + 1)
        excluded = _mask([seen[k] for k in rows], n_columns)  # (b, I + 1)
        excluded[:, 0] = True  # padding is never ranked
        n_rows = int((rel & ~excluded).any(axis=1).sum())
        if not n_rows:
            continue
        part = ranking_metrics(scores, rel, ks, exclude=excluded)
        for key in keys:
            totals[key] += part[key] * n_rows
        counted += n_rows
    if not counted:
        raise InputError(
            f"topn baselines: {data.dataset}: no user has a relevant ({relevance}) test item"
            " outside its train items"
        )
    return {key: value / counted for key, value in totals.items()}, counted


def evaluate_topn_baselines(
    data: TopNData,
    names: Sequence[str] = tuple(TOPN_BASELINES),
    relevance: Relevance = "rated",
    ks: Sequence[int] = (10,),
    seed: int = 0,
    *,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    batch: int = 1024,
) -> dict[str, dict[str, float]]:
    """Fit each named baseline on ``data`` and measure it with :func:`evaluate_scorer`.

    Args:
        data: the top-N split.
        names: baselines to run, keys of :data:`TOPN_BASELINES`, in result order.
        relevance: ``rated`` (every test rating relevant, the paper's rule) or ``liked``.
        ks: the cut-offs.
        seed: as for :func:`fit_scorer`.
        options: per-name option overrides, e.g. ``{"itemcf": {"k": 40}}``.
        batch: users scored at once.

    Returns:
        ``{name: row}`` in ``names`` order; each row holds ``precision@k``,
        ``recall@k``, ``hr@k``, ``ndcg@k`` for each k, ``users`` (the users counted),
        ``fit_seconds`` and ``score_seconds`` (wall clock; scoring includes the metric
        computation).

    Raises:
        InputError: an unknown name or bad options (before anything is fitted), options
            for a name not run, or as :func:`evaluate_scorer`.
    """
    options = dict(options or {})
    extra = sorted(set(options) - set(names))
    if extra:
        raise InputError(f"topn baselines: options: expected keys among the names run, got {extra}")
    checked = {name: make_options(name, options.get(name)) for name in names}
    results: dict[str, dict[str, float]] = {}
    for name in names:
        start = time.perf_counter()
        scorer = TOPN_BASELINES[name].fit(data, checked[name], seed)
        fit_seconds = time.perf_counter() - start
        start = time.perf_counter()
        metrics, counted = evaluate_scorer(scorer, data, relevance=relevance, ks=ks, batch=batch)
        score_seconds = time.perf_counter() - start
        logger.info("%s (%s): %s over %d users", name, relevance, metrics, counted)
        results[name] = {
            **metrics,
            "users": float(counted),
            "fit_seconds": fit_seconds,
            "score_seconds": score_seconds,
        }
    return results
