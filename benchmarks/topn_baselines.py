"""P@10 / R@10 / HR@10 / NDCG@10, fit and score time and peak memory of the classic
top-N baselines (most-popular, ItemCF, UserCF) on LSRWRL's ML-1M split.

Usage::

    python benchmarks/topn_baselines.py [--data ../shared/data/movielens-1m]
                                        [--names itemcf usercf ...] [--seed 0]
                                        [--options '{"itemcf": {"k": 40}}']

Loads ML-1M (the shared copy holds users 1–2999), builds
:func:`rayrec.data.topn.build_topn_data` with its defaults (per-user chronological
80/20, liked = rating ≥ 4), and for each relevance rule (``rated``: every test rating
relevant, the paper's; ``liked``: ratings ≥ 4) fits each baseline of
:data:`rayrec.baselines.topn.TOPN_BASELINES` and ranks every evaluated user's full item
pool, train items excluded (:func:`rayrec.baselines.topn.evaluate_topn_baselines`). The
paper's Table 1 figures (``../shared/specs/lsrwrl.md``) are printed beside ours.
``peak MB`` is the tracemalloc peak of one fit + scoring (numpy / scipy buffers; implicit's
C++ scratch space is not traced); the process's max RSS is printed at the end. Numpy's
BLAS and implicit run on one thread. Last line: one JSON object with every row.

Measured 2026-12 on the 2-core CPU machine (shared with other jobs: times vary by up to
~2x), ML-1M users 1–2999 (2,999 users × 3,615 items, 388,909 train ratings; 2,999
users evaluated under ``rated``, 2,964 under ``liked``), defaults (ItemCF k = 20,
UserCF k = 50):

============  ======  ======  ======  ======  =======  =====  =====  =====  =======  =======
model         relev.    P@10    R@10   HR@10  NDCG@10  paper  paper  fit s  score s  peak MB
                                                        P@10   R@10
============  ======  ======  ======  ======  =======  =====  =====  =====  =======  =======
most_popular  rated   0.1028  0.0397  0.4528   0.1116      –      –   0.00     0.70      167
itemcf        rated   0.1311  0.0693  0.6145   0.1440  0.176  0.098   0.53     0.60      180
usercf        rated   0.1281  0.0669  0.5539   0.1421  0.167  0.108   0.60     0.72      173
most_popular  liked   0.0796  0.0497  0.3941   0.0910      –      –   0.00     0.51      167
itemcf        liked   0.0901  0.0814  0.5074   0.1102      –      –   0.31     0.58      170
usercf        liked   0.0891  0.0791  0.4619   0.1100      –      –   0.61     0.68      173
============  ======  ======  ======  ======  =======  =====  =====  =====  =======  =======

Max RSS of the whole run 511 MB. The peak is the evaluation's (1,024 users' float64
score and mask rows at a time), not the models': most-popular's is as high.

Our ItemCF / UserCF lie about 0.04 P@10 below the paper's (whose split details,
neighbour counts and similarity weighting are not given), and the neighbour count does
not close the gap (rated P@10, ``--options``): ItemCF k = 10 / 50 / 100 / 200: 0.1299 /
0.1334 / 0.1343 / 0.1318; UserCF k = 20 / 100 / 200 / 400: 0.1226 / 0.1304 / 0.1313 /
0.1316 (the defaults were not tuned on these test figures). The issue's own check
figures on this split (most-popular 0.101 / 0.039, item-kNN 0.133 / 0.069) are met
within 0.002. The figures are printed by this script, never asserted in tests (the
test asserts only that the three fit and score within 30 s, and their rated P@10
within 0.005 of the figures above).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import json
import resource
import time
import tracemalloc
from pathlib import Path
from typing import Any

from rayrec.baselines.topn import TOPN_BASELINES, evaluate_topn_baselines
from rayrec.data.datasets import load_dataset
from rayrec.data.topn import RELEVANCES, build_topn_data

#: LSRWRL's Table 1, ML-1M (P@10, R@10), for the rated rule
PAPER = {"itemcf": (0.176, 0.098), "usercf": (0.167, 0.108)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/movielens-1m"))
    parser.add_argument("--names", nargs="+", default=list(TOPN_BASELINES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--options", type=json.loads, default={}, help="JSON {name: {key: v}}")
    args = parser.parse_args()

    start = time.perf_counter()
    data = build_topn_data(load_dataset("ml-1m", args.data))
    print(
        f"{args.data}: {data.n_users:,} users x {data.n_items:,} items,"
        f" {len(data.train_items):,} train ratings, split in"
        f" {time.perf_counter() - start:.1f} s, seed {args.seed}"
    )
    header = (
        f"{'model':<13} {'relev.':<6} {'P@10':>7} {'R@10':>7} {'HR@10':>7} {'NDCG@10':>8}"
        f" {'paper P':>8} {'paper R':>8} {'fit s':>6} {'score s':>8} {'peak MB':>8} {'users':>6}"
    )
    print(header)
    rows: list[dict[str, Any]] = []
    for relevance in RELEVANCES:
        for name in args.names:
            tracemalloc.start()
            row = evaluate_topn_baselines(
                data,
                [name],
                relevance,  # type: ignore[arg-type]
                (10,),
                args.seed,
                options={name: args.options[name]} if name in args.options else None,
            )[name]
            peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            paper = PAPER.get(name) if relevance == "rated" else None
            paper_p, paper_r = (f"{v:.3f}" for v in paper) if paper else ("–", "–")
            print(
                f"{name:<13} {relevance:<6} {row['precision@10']:7.4f} {row['recall@10']:7.4f}"
                f" {row['hr@10']:7.4f} {row['ndcg@10']:8.4f} {paper_p:>8} {paper_r:>8}"
                f" {row['fit_seconds']:6.2f} {row['score_seconds']:8.2f} {peak_mb:8.1f}"
                f" {int(row['users']):6d}"
            )
            rows.append({"name": name, "relevance": relevance, **row, "peak_mb": peak_mb})
    max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"max RSS {max_rss_mb:.0f} MB")
    print(
        json.dumps(
            {
                "dataset": data.dataset,
                "users": data.n_users,
                "items": data.n_items,
                "seed": args.seed,
                "options": args.options,
                "max_rss_mb": max_rss_mb,
                "rows": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
