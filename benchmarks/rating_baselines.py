"""RMSE / MAE and fit time of the rating baselines on MovieLens-1M's per-user time split.

Usage::

    python benchmarks/rating_baselines.py [--ratings ../shared/data/movielens-1m/ratings.dat.xz]
                                          [--names SVD NMF ...] [--seed 0] [--min-position 5]

Reads ``ratings.dat`` (``UserID::MovieID::Rating::Timestamp``; plain or compressed),
orders each user's ratings by timestamp (stable: ties keep file order), puts the first
``floor(0.8 n)`` of a user's ``n`` ratings in train and the rest in test (DDPG-LA's
split), and keeps only test rows at position ``>= --min-position`` of the user's
sequence (all of them on ML-1M, where every user has at least 20 ratings). Each
predictor of :data:`rayrec.baselines.rating.RATING_BASELINES` is fitted with Surprise's
defaults and ``--seed`` on one thread (Surprise is single-threaded; numpy's BLAS is
pinned to one). Prints a table and, last, one JSON line with every row.

``--params '{"KNNBasic": {"sim_options": {"user_based": false}}}'`` overrides a
model's constructor keywords (JSON).

Measured 2026-12 on the 2-core CPU machine (shared with other jobs: times vary by up to
~2x), ML-1M users 1–2999 (the shared partial copy: 388,909 train / 98,741 test ratings,
65 test rows with an item unseen in train), seed 0, Surprise 1.1.5 defaults:

============  ======  ======  =====  =========  ========
model           RMSE     MAE  fit s  predict s  fallback
============  ======  ======  =====  =========  ========
global_mean   1.1430  0.9431    0.0        0.0         0
user_mean     1.0775  0.8517    0.0        0.0         0
KNNBasic      0.9422  0.7420    2.6       14.7        66
KNNWithMeans  0.9378  0.7390    3.0       15.3        65
KNNBaseline   0.9076  0.7137    3.6       15.8         0
SVD           0.9042  0.7102    4.0        0.4         0
SVDpp         0.8884  0.6964  116.4       12.1         0
NMF           0.9308  0.7325    4.2        0.4        65
============  ======  ======  =====  =========  ========

Item-based similarity (``sim_options={"user_based": False}``, not Surprise's default) gives
KNNBasic 0.9666, KNNWithMeans 0.9077, KNNBaseline 0.9089 RMSE on the same split. The
figures are printed by this script, never asserted in tests.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import json
from pathlib import Path

import numpy as np

from rayrec.baselines.rating import (
    RATING_BASELINES,
    RatingTriples,
    evaluate_baselines,
)
from rayrec.data.io import read_bytes


def per_user_time_split(
    ratings_dat: Path, train_fraction: float = 0.8, min_position: int = 5
) -> tuple[RatingTriples, RatingTriples]:
    """Train / test triples of the per-user chronological split of a ``ratings.dat``."""
    text = read_bytes(ratings_dat).replace(b"::", b" ")
    raw = np.array(text.split(), dtype=np.int64).reshape(-1, 4)  # (N, 4)
    users, items, ratings, times = raw.T  # (N,) each
    order = np.lexsort((times, users))  # stable: by user, then timestamp, then file order
    users, items, ratings = users[order], items[order], ratings[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])  # (U,)
    counts = np.diff(np.r_[starts, len(users)])  # (U,)
    position = np.arange(len(users)) - np.repeat(starts, counts)  # (N,)
    n_train = np.repeat(np.floor(train_fraction * counts).astype(np.int64), counts)  # (N,)
    is_train = position < n_train
    is_test = ~is_train & (position >= min_position)
    train = RatingTriples(users[is_train], items[is_train], ratings[is_train].astype(float))
    test = RatingTriples(users[is_test], items[is_test], ratings[is_test].astype(float))
    return train, test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--ratings", type=Path, default=Path("../shared/data/movielens-1m/ratings.dat.xz")
    )
    parser.add_argument("--names", nargs="+", default=list(RATING_BASELINES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-position", type=int, default=5)
    parser.add_argument("--params", type=json.loads, default={}, help="JSON {name: {key: value}}")
    args = parser.parse_args()

    train, test = per_user_time_split(args.ratings, min_position=args.min_position)
    print(
        f"{args.ratings}: {len(train):,} train / {len(test):,} test ratings,"
        f" {len(np.unique(train.users)):,} users, seed {args.seed}"
    )
    rows = evaluate_baselines(
        train, test, args.names, seed=args.seed, rating_scale=(1, 5), params=args.params
    )
    print(f"{'model':<14} {'RMSE':>7} {'MAE':>7} {'fit s':>8} {'predict s':>10} {'fallback':>9}")
    for name, row in rows.items():
        print(
            f"{name:<14} {row['rmse']:7.4f} {row['mae']:7.4f} {row['fit_seconds']:8.1f}"
            f" {row['predict_seconds']:10.1f} {row['n_fallback']:9d}"
        )
    print(json.dumps({"train": len(train), "test": len(test), "seed": args.seed, "rows": rows}))


if __name__ == "__main__":
    main()
