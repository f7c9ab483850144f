"""Rating-prediction baselines: the reference models rating-walk agents are compared with.

DDPG-LA's paper compares its RMSE / MAE with KNNBasic, KNNWithMeans, KNNBaseline, SVD,
SVD++ and NMF; the scikit-surprise implementations are the reference ones, used here with
Surprise's own default hyper-parameters (``params`` overrides them per model, and the
overrides are recorded in :func:`evaluate_baselines`' result). Two trivial predictors are
added as floors: the train set's global mean, and each user's train mean.

Every model is fitted on a train set of (user, item, rating) triples and predicts the
test triples' (user, item) pairs — the same per-user split the agent is evaluated on,
built elsewhere and passed in as arrays (:class:`RatingTriples`).

Pairs a model cannot score (Surprise's ``PredictionImpossible``) get the train set's
global mean, Surprise's own fallback. Which pairs that is differs by model: KNNBasic,
KNNWithMeans and NMF (unbiased, the default) fall back whenever the user or the item has no
train rating (KNNBasic also when no neighbour rated the item); SVD, SVD++ and KNNBaseline
never fall back — for an unknown user or item they predict the known part of their
baseline ``μ + b_u + b_i``. ``user_mean`` falls back to the global mean for a user without
train ratings. :func:`evaluate_baselines` counts the test rows with an unknown user, an
unknown item, and the fallbacks of each model. Surprise clips every prediction to
``rating_scale``; the mean predictors lie inside it already.

Seeds: SVD, SVD++ and NMF draw their initial factors from ``random_state`` (the ``seed``
argument); the KNN models (and KNNBaseline's ALS baselines) and the mean predictors are
deterministic. Surprise is single-threaded.

scikit-surprise is the ``baselines`` extra (``pip install "rayrec[baselines]"``); the
two mean predictors work without it.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rayrec.errors import InputError
from rayrec.metrics.rating import mae, rmse

#: The predictors, in table order, with what each predicts.
RATING_BASELINES: dict[str, str] = {
    "global_mean": "the mean of all train ratings, for every pair",
    "user_mean": "the user's mean train rating (the global mean for users without one)",
    "KNNBasic": "Surprise KNNBasic: similarity-weighted mean of the k=40 nearest users' ratings",
    "KNNWithMeans": "Surprise KNNWithMeans: user mean + weighted neighbours' mean-centred ratings",
    "KNNBaseline": "Surprise KNNBaseline: ALS baseline + weighted neighbours' baseline residuals",
    "SVD": "Surprise SVD: biased matrix factorisation (Funk SVD, 100 factors, SGD)",
    "SVDpp": "Surprise SVDpp: SVD++ (Koren 2008), factors plus implicit feedback of rated items",
    "NMF": "Surprise NMF: non-negative matrix factorisation (15 factors, multiplicative SGD)",
}
#: The Surprise algorithm classes behind the names (looked up in ``surprise``).
_SURPRISE = ("KNNBasic", "KNNWithMeans", "KNNBaseline", "SVD", "SVDpp", "NMF")
#: Surprise models whose ``random_state`` the ``seed`` argument sets.
_SEEDED = ("SVD", "SVDpp", "NMF")


@dataclass(frozen=True)
class RatingTriples:
    """(user, item, rating) triples: one row per rating.

    Users and items are any integer ids (raw ids: train and test must use the same ids);
    ratings are floats. The arrays are converted to int64 / int64 / float64 on creation.

    Attributes:
        users: (N,) user ids.
        items: (N,) item ids.
        ratings: (N,) ratings.

    Raises:
        InputError: an array that is not one-dimensional, arrays of different lengths,
            ids that are not integers, or ratings that are not finite numbers.
    """

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray

    def __post_init__(self) -> None:
        arrays = {"users": self.users, "items": self.items, "ratings": self.ratings}
        for key, value in arrays.items():
            arr = np.asarray(value)
            if arr.ndim != 1:
                raise InputError(
                    f"rating triples: {key}: expected a one-dimensional array, got shape"
                    f" {arr.shape}"
                )
            if key != "ratings" and arr.size and not np.issubdtype(arr.dtype, np.integer):
                raise InputError(f"rating triples: {key}: expected integer ids, got {arr.dtype}")
            arrays[key] = arr
        lengths = [len(a) for a in arrays.values()]
        if len(set(lengths)) != 1:
            raise InputError(
                "rating triples: expected users, items and ratings of one length, got"
                f" {lengths[0]}, {lengths[1]} and {lengths[2]}"
            )
        try:
            ratings = arrays["ratings"].astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise InputError(f"rating triples: ratings: expected numbers ({exc})") from exc
        if not np.isfinite(ratings).all():
            raise InputError("rating triples: ratings: expected finite numbers, got NaN or inf")
        object.__setattr__(self, "users", arrays["users"].astype(np.int64))
        object.__setattr__(self, "items", arrays["items"].astype(np.int64))
        object.__setattr__(self, "ratings", ratings)

    def __len__(self) -> int:
        return len(self.ratings)


@dataclass(frozen=True)
class FittedBaseline:
    """A fitted rating predictor.

    Attributes:
        name: the predictor's name (a key of :data:`RATING_BASELINES`).
        params: the hyper-parameters given to the model's constructor (Surprise's defaults
            apply to the rest; ``random_state`` is the seed for the seeded models).
        global_mean: the train set's mean rating (every model's fallback).
        model: the fitted Surprise algorithm; for ``user_mean`` (train users (U,) sorted,
            their means (U,)); None for ``global_mean``.
    """

    name: str
    params: dict[str, Any]
    global_mean: float
    model: Any = field(repr=False)

    def predict_with_fallback(
        self, users: np.ndarray, items: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Predicted ratings and which of them are the global-mean fallback.

        Args:
            users, items: (b,) raw ids, as in the train triples.

        Returns:
            (predictions (b,) float64, fallback (b,) bool): ``fallback`` marks pairs the
            model could not score and gave the global mean (module docstring).
        """
        users = np.asarray(users, dtype=np.int64).reshape(-1)  # (b,)
        items = np.asarray(items, dtype=np.int64).reshape(-1)  # (b,)
        if len(users) != len(items):
            raise InputError(
                f"{self.name}: expected users and items of one length, got {len(users)}"
                f" and {len(items)}"
            )
        if self.name == "global_mean":
            return np.full(len(users), self.global_mean), np.zeros(len(users), dtype=bool)
        if self.name == "user_mean":
            known_users, means = self.model
            pos = np.searchsorted(known_users, users)  # (b,)
            pos = np.minimum(pos, len(known_users) - 1)
            known = known_users[pos] == users  # (b,)
            return np.where(known, means[pos], self.global_mean), ~known
        model = self.model
        preds = [model.predict(u, i) for u, i in zip(users.tolist(), items.tolist(), strict=True)]
        est = np.fromiter((p.est for p in preds), dtype=np.float64, count=len(preds))
        fallback = np.fromiter(
            (bool(p.details.get("was_impossible", False)) for p in preds),
            dtype=bool,
            count=len(preds),
        )
        return est, fallback

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predicted ratings (b,) for the pairs ``users`` (b,), ``items`` (b,).

        A :data:`rayrec.evaluation.rating_error.Predictor`.
        """
        return self.predict_with_fallback(users, items)[0]


def _check_name(name: str) -> None:
    if name not in RATING_BASELINES:
        raise InputError(
            f"rating baselines: name: expected one of {', '.join(RATING_BASELINES)}, got {name!r}"
        )


def _surprise() -> Any:
    try:
        import surprise
    except ImportError as exc:
        raise InputError(
            "rating baselines: the Surprise models need scikit-surprise, which is not"
            ' installed (pip install "rayrec[baselines]")'
        ) from exc
    return surprise


def _constructor_args(name: str, cls: Any, params: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """Checked constructor keywords: ``params``, quiet, and the seed where the model takes one."""
    signature = inspect.signature(cls.__init__).parameters
    allowed = {k for k in signature if k not in ("self", "args", "kwargs")}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.values()):
        allowed.add("bsl_options")  # AlgoBase's keyword, read from **kwargs
    allowed.discard("random_state")  # the seed argument sets it
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise InputError(
            f"rating baselines: params: {name}: expected keys among {', '.join(sorted(allowed))},"
            f" got {', '.join(map(repr, unknown))}"
            + (" (the seed argument sets random_state)" if "random_state" in unknown else "")
        )
    kwargs: dict[str, Any] = {"verbose": False, **params}
    if name in _SEEDED:
        kwargs["random_state"] = seed
    return kwargs


def fit_baseline(
    name: str,
    train: RatingTriples,
    *,
    seed: int,
    rating_scale: tuple[float, float] = (1, 5),
    params: Mapping[str, Any] | None = None,
) -> FittedBaseline:
    """Fit one rating predictor on the train triples.

    Args:
        name: a key of :data:`RATING_BASELINES`.
        train: the train triples (not empty).
        seed: ``random_state`` of SVD, SVD++ and NMF; unused by the deterministic models.
        rating_scale: (low, high) of the ratings; Surprise clips predictions to it.
        params: constructor keywords overriding Surprise's defaults (e.g. ``{"k": 20}`` or
            ``{"n_factors": 50}``); not for the mean predictors, nor ``random_state``.

    Raises:
        InputError: an unknown name, an empty train set, a bad rating scale, params the
            model does not take, or scikit-surprise missing for a Surprise model.
    """
    _check_name(name)
    if not len(train):
        raise InputError("rating baselines: train: expected at least one rating, got none")
    low, high = rating_scale
    if not low < high:
        raise InputError(f"rating baselines: rating_scale: expected low < high, got {rating_scale}")
    params = dict(params or {})
    global_mean = float(train.ratings.mean())
    if name not in _SURPRISE:
        if params:
            raise InputError(
                f"rating baselines: params: {name}: expected none, got {', '.join(params)}"
            )
        model: Any = None
        if name == "user_mean":
            known_users, inverse = np.unique(train.users, return_inverse=True)  # (U,), (N,)
            sums = np.bincount(inverse, weights=train.ratings)  # (U,)
            model = (known_users, sums / np.bincount(inverse))  # (U,), (U,)
        return FittedBaseline(name, params, global_mean, model)
    surprise = _surprise()
    import pandas as pd

    cls = getattr(surprise, name)
    kwargs = _constructor_args(name, cls, params, seed)
    frame = pd.DataFrame({"user": train.users, "item": train.items, "rating": train.ratings})
    reader = surprise.Reader(rating_scale=(low, high))
    trainset = surprise.Dataset.load_from_df(frame, reader).build_full_trainset()
    model = cls(**kwargs)
    model.fit(trainset)
    recorded = {k: v for k, v in kwargs.items() if k != "verbose" or k in params}
    return FittedBaseline(name, recorded, global_mean, model)


def fit_predict(
    name: str,
    train: RatingTriples,
    test: RatingTriples,
    *,
    seed: int,
    rating_scale: tuple[float, float] = (1, 5),
    params: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """Fit ``name`` on ``train`` and predict the test triples' pairs.

    Args:
        name, train, seed, rating_scale, params: as for :func:`fit_baseline`.
        test: the triples to predict (their ratings are not used).

    Returns:
        (len(test),) float64 predicted ratings, in test order.

    Raises:
        InputError: as :func:`fit_baseline`.
    """
    fitted = fit_baseline(name, train, seed=seed, rating_scale=rating_scale, params=params)
    return fitted.predict(test.users, test.items)


def evaluate_baselines(
    train: RatingTriples,
    test: RatingTriples,
    names: Sequence[str] = tuple(RATING_BASELINES),
    *,
    seed: int,
    rating_scale: tuple[float, float] = (1, 5),
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Fit each named predictor on ``train`` and measure its errors on ``test``.

    Args:
        train, test: the split's triples (neither empty).
        names: predictors to run, keys of :data:`RATING_BASELINES`, in result order.
        seed, rating_scale: as for :func:`fit_baseline`.
        params: per-name constructor overrides, e.g. ``{"SVD": {"n_factors": 50}}``.

    Returns:
        ``{name: row}`` in ``names`` order, each row holding ``rmse``, ``mae`` (of
        :mod:`rayrec.metrics.rating`), ``n_test``, ``n_unknown_user`` / ``n_unknown_item``
        (test rows whose user / item has no train rating), ``n_fallback`` (predictions
        that are the global-mean fallback), ``fit_seconds``, ``predict_seconds`` (wall
        clock) and ``params`` (the constructor keywords used).

    Raises:
        InputError: an unknown name (before anything is fitted), an empty test set,
            params for a name not run, or as :func:`fit_baseline`.
    """
    for name in names:
        _check_name(name)
    params = dict(params or {})
    extra = sorted(set(params) - set(names))
    if extra:
        raise InputError(
            f"rating baselines: params: expected keys among the names run, got {extra}"
        )
    if not len(test):
        raise InputError("rating baselines: test: expected at least one rating, got none")
    n_unknown_user = int((~np.isin(test.users, train.users)).sum())
    n_unknown_item = int((~np.isin(test.items, train.items)).sum())
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        start = time.perf_counter()
        fitted = fit_baseline(
            name, train, seed=seed, rating_scale=rating_scale, params=params.get(name)
        )
        fit_seconds = time.perf_counter() - start
        start = time.perf_counter()
        pred, fallback = fitted.predict_with_fallback(test.users, test.items)
        predict_seconds = time.perf_counter() - start
        results[name] = {
            "rmse": rmse(pred, test.ratings),
            "mae": mae(pred, test.ratings),
            "n_test": len(test),
            "n_unknown_user": n_unknown_user,
            "n_unknown_item": n_unknown_item,
            "n_fallback": int(fallback.sum()),
            "fit_seconds": fit_seconds,
            "predict_seconds": predict_seconds,
            "params": fitted.params,
        }
    return results
