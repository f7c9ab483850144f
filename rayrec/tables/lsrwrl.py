"""``lsrwrl-table``: the LSRWRL paper's Table 1 on one MovieLens dataset.

LSRWRL (RLlib's DQN over the long/short-term Q-network) trained with several seeds for
the paper's 1,000 episodes (20,000 env steps at the spec's 20-step episodes) on the
``topn`` env's train part, scored by the ``topn`` protocol — precision and recall @10
of each user's top 10 over the whole pool, train items excluded, against the test part
(every test rating; and the liked ones) — next to the paper's baselines on exactly the
same split, by the same metric code:

- most popular, ItemCF and UserCF (:mod:`rayrec.baselines.topn`; deterministic, one fit);
- SASRec, GRU4Rec and STAMP (:mod:`rayrec.baselines.sequential`), one fit per seed of the
  plan for :data:`SEQUENTIAL_EPOCHS` epochs at most (checkpoint chosen on each user's
  last train item), shown as mean ± std over the seeds.

Each baseline fit is saved as ``OUT/baselines/<name>/s<seed>.json`` (atomically) and
reused on a rerun, as the LSRWRL runs are.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rayrec.tables.runner import Column, Table, TablePlan

log = logging.getLogger(__name__)

#: the sequential baselines' epoch cap in the table (early stopping may end sooner):
#: ~25–45 s an epoch each on ML-1M users 1–2999 on one CPU thread
SEQUENTIAL_EPOCHS = 10
#: epochs without a better validation NDCG@10 before a sequential fit stops
SEQUENTIAL_PATIENCE = 3
#: windows of 50 positions per Adam step: ~3,200 trained targets a step, near RecBole's
#: 4,096 prefixes (256 windows make 4x fewer steps an epoch at the same cost)
SEQUENTIAL_BATCH = 64


def lsrwrl_references(plan: TablePlan, out: Path) -> dict[str, dict[str, float]]:
    """The table's reference rows (module doc): the classic baselines once, the
    sequential ones per seed of ``plan`` (mean and ``<metric>_std``), fits reused from
    ``out``."""
    from rayrec.baselines.sequential import SEQUENTIAL_BASELINES, fit_sequential
    from rayrec.baselines.topn import fit_scorer
    from rayrec.data.io import atomic_write_text
    from rayrec.environments import env_config_for
    from rayrec.environments.topn import env_config_of
    from rayrec.evaluation.topn import REFERENCES, protocol_metrics
    from rayrec.metrics.summary import mean_std
    from rayrec.simulator.keys import PART_EVAL

    data, config = env_config_of(env_config_for(plan.env, part=PART_EVAL))

    def fitted(name: str, seed: int) -> dict[str, float]:
        path = out / "baselines" / name / f"s{seed}.json"
        if path.exists():
            saved: dict[str, float] = json.loads(path.read_text())["metrics"]
            return saved
        log.info("fitting baseline %s seed %d", name, seed)
        start = time.perf_counter()
        scorer: Callable[[np.ndarray], np.ndarray]
        if name in SEQUENTIAL_BASELINES:
            scorer = fit_sequential(
                name,
                data,
                seed=seed,
                epochs=SEQUENTIAL_EPOCHS,
                patience=SEQUENTIAL_PATIENCE,
                batch_size=SEQUENTIAL_BATCH,
            )
        else:
            scorer = fit_scorer(name, data, seed=seed)
        metrics = protocol_metrics(data, scorer, config)[1]
        record: dict[str, Any] = {
            "baseline": name,
            "seed": seed,
            "fit_seconds": time.perf_counter() - start,
            "metrics": metrics,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(record, indent=1))
        return metrics

    rows: dict[str, dict[str, float]] = {name: fitted(name, 0) for name in REFERENCES}
    for name in SEQUENTIAL_BASELINES:
        runs = [fitted(name, seed) for seed in plan.seeds]
        row: dict[str, float] = {}
        for metric in runs[0]:
            row[metric], row[f"{metric}_std"] = mean_std([r[metric] for r in runs])
        rows[name] = row
    return rows


LSRWRL_TABLE = Table(
    name="lsrwrl-table",
    reproduces=(
        "LSRWRL paper's Table 1: P@10 / R@10 of LSRWRL vs most popular, ItemCF, UserCF,"
        " SASRec, GRU4Rec and STAMP on the same per-user 80/20 split"
    ),
    protocol="topn",
    algos=("lsrwrl",),
    env="envs/ml1m_topn.yaml",
    columns=(
        Column("P@10", "precision@10", fmt="{:.4f}"),
        Column("R@10", "recall@10", fmt="{:.4f}"),
        Column("P@10 liked", "precision@10_liked", fmt="{:.4f}"),
        Column("R@10 liked", "recall@10_liked", fmt="{:.4f}"),
        Column("HR@10", "hr@10", fmt="{:.4f}"),
        Column("NDCG@10", "ndcg@10", fmt="{:.4f}"),
    ),
    caption=(
        "{env}: lsrwrl, {n_seeds} seeds ({seeds}), {budget:,} env steps (one recommended"
        " item each) of training on the train part; precision / recall / HR / NDCG @10 of"
        " every user's top 10 over the whole pool, train items excluded, against its test"
        " part (every test rating; 'liked': ratings >= 4); mean ± sample std over seeds."
        " References on the same split: most popular, ItemCF, UserCF (one deterministic"
        f" fit); SASRec, GRU4Rec, STAMP (one fit per seed, at most {SEQUENTIAL_EPOCHS}"
        f" epochs of {SEQUENTIAL_BATCH}-window batches, checkpoint chosen on each user's"
        " last train item; mean ± std)."
    ),
    seeds=(0, 1, 2),
    budget_steps=20_000,
    eval_users=1,
    references=lsrwrl_references,
)
