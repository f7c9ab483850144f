"""SASRec, GRU4Rec and STAMP on LSRWRL's top-N split of ML-1M: P@10 / R@10 beside the
paper's Table 1.

Usage::

    python benchmarks/topn_sequential.py [--data ../shared/data/movielens-1m]
        [--names sasrec gru4rec stamp] [--epochs 5] [--patience 5] [--seed 0]
        [--batch-size 64]

The split is :func:`rayrec.data.topn.build_topn_data`'s (each user's ratings in time
order, the first 80 % train, the rest test; our ML-1M copy holds users 1–2999 only).
Each model is trained by :func:`rayrec.baselines.sequential.fit_sequential` (validation:
each user's last train item, from the train part only; Adam lr 1e-3, 256 windows a
batch, max length 50, one CPU thread) and scores every item from the user's whole train
part. Metrics (:func:`rayrec.metrics.ranking.ranking_metrics`): the top 10 by score with
the user's train items excluded, relevant = every test-part rating (the paper's rule)
and, second, the liked ones (rating ≥ 4), over :meth:`TopNData.eval_users`. Prints a
table and, last, one JSON line with every row.

Measured 2026-12 on the shared 2-core CPU machine, one torch thread, seed 0,
``--epochs 4`` (34-47 s an epoch; 2,999 users, 3,615 items, 388,909 train ratings):

=======  =====  =====  =====  =====  =======  =====  ==========  ==========
model    P@10   paper  R@10   paper  NDCG@10  HR@10  P@10 liked  R@10 liked
=======  =====  =====  =====  =====  =======  =====  ==========  ==========
sasrec   0.108  0.226  0.047  0.125  0.118    0.504  0.064       0.051
gru4rec  0.085  0.214  0.036  0.121  0.092    0.458  0.053       0.039
stamp    0.101  0.220  0.040  0.116  0.108    0.447  0.079       0.050
=======  =====  =====  =====  =====  =======  =====  ==========  ==========

Undertrained (validation still rising at epoch 4, the best epoch for all three): at or
just above most-popular (P@10 0.101, R@10 0.039 on this split), well below the paper's.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from rayrec.baselines.sequential import SEQUENTIAL_BASELINES, fit_sequential
from rayrec.data import load_dataset
from rayrec.data.topn import TopNData, build_topn_data
from rayrec.metrics.ranking import ranking_metrics

#: the paper's Table 1, ML-1M (P@10, R@10)
PAPER = {"sasrec": (0.226, 0.125), "stamp": (0.220, 0.116), "gru4rec": (0.214, 0.121)}


def masks(data: TopNData, users: np.ndarray, relevance: str) -> tuple[np.ndarray, np.ndarray]:
    """(M, I + 1) relevant and excluded (train items, padding) masks of ``users``."""
    width = data.n_items + 1
    relevant = np.zeros((len(users), width), dtype=bool)
    exclude = np.zeros((len(users), width), dtype=bool)
    exclude[:, 0] = True
    rel = data.test_relevant(relevance)  # type: ignore[arg-type]
    seen = data.train_seen()
    for row, k in enumerate(users):
        relevant[row, rel[k]] = True
        exclude[row, seen[k]] = True
    return relevant, exclude


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/movielens-1m"))
    parser.add_argument("--names", nargs="+", default=list(SEQUENTIAL_BASELINES))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=64, help="windows per Adam step")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(1)

    data = build_topn_data(load_dataset("ml-1m", args.data))
    print(
        f"ML-1M top-N split (users 1-2999 copy): {data.n_users} users, {data.n_items} items,"
        f" {len(data.train_items)} train ratings; per-user 80/20 by time"
    )
    evals = {rel: data.eval_users(rel) for rel in ("rated", "liked")}
    rows = []
    for name in args.names:
        start = time.perf_counter()
        scorer = fit_sequential(
            name,
            data,
            seed=args.seed,
            epochs=args.epochs,
            patience=args.patience,
            batch_size=args.batch_size,
        )
        fit_s = time.perf_counter() - start
        row: dict[str, float | str | int] = {"model": name}
        for rel, users in evals.items():
            relevant, exclude = masks(data, users, rel)
            m = ranking_metrics(scorer(users), relevant, ks=(10,), exclude=exclude)
            suffix = "" if rel == "rated" else "_liked"
            for key in ("precision@10", "recall@10", "ndcg@10", "hr@10"):
                row[key + suffix] = round(m[key], 4)
        row["paper_p@10"], row["paper_r@10"] = PAPER[name]
        row["epochs_run"] = len(scorer.fitted.history)
        row["best_epoch"] = scorer.fitted.best_epoch
        row["fit_s"] = round(fit_s, 1)
        rows.append(row)
    print(
        f"{'model':<9} {'P@10':>6} {'paper':>6} {'R@10':>6} {'paper':>6} {'NDCG@10':>8}"
        f" {'HR@10':>6} {'P@10 liked':>11} {'R@10 liked':>11} {'epochs':>7}"
    )
    for r in rows:
        print(
            f"{r['model']:<9} {r['precision@10']:>6.3f} {r['paper_p@10']:>6.3f}"
            f" {r['recall@10']:>6.3f}"
            f" {r['paper_r@10']:>6.3f} {r['ndcg@10']:>8.3f} {r['hr@10']:>6.3f}"
            f" {r['precision@10_liked']:>11.3f} {r['recall@10_liked']:>11.3f} {r['epochs_run']:>7}"
        )
    print(
        json.dumps(
            {
                "protocol": "lsrwrl-topn-ml-1m",
                "users": {rel: len(u) for rel, u in evals.items()},
                "seed": args.seed,
                "epochs": args.epochs,
                "rows": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
