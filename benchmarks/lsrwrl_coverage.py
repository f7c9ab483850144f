"""Which items a trained LSRWRL Q-network ever learned about.

Usage::

    RAYREC_DATA=/work/shared/data python benchmarks/lsrwrl_coverage.py RUN_FOLDER [RUN_FOLDER ...]
        [--env ml1m_topn]

DQN's loss reads ``Q(s, a)`` of the replayed action only, so the row of the Q-head's
output layer that scores item ``i`` gets a gradient only from transitions whose action
was ``i`` (the target's values carry no gradient). Adam's second-moment estimate of that
row's bias is therefore non-zero exactly for the items some replayed transition
recommended: this script reads it from the run's checkpoint (the learner's optimizer
state; nothing is re-run) and reports, per run:

- ``trained_items``: items whose score was ever trained, of the pool;
- ``test_items_trained``: the share of the test part's (user, item) pairs whose item was
  ever trained — the items the evaluation's top 10 must find; the others are ranked by
  whatever the initial weights make of the state.

Figures (2026-12-07, ML-1M users 1–2999, ``ml1m_topn`` defaults, the runs of the README's
LSRWRL table and one run of 15,360 steps): see the README's LSRWRL section.
"""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from rayrec.environments.spec import env_config_for
from rayrec.environments.topn import env_config_of

LEARNER_STATE = Path("checkpoint/algorithm/learner_group/learner/state.pkl")


def trained_items(run: Path) -> np.ndarray:
    """(I + 1,) bool: the items whose Q-head output row ever had a gradient (the last
    parameter of the module: the output layer's bias)."""
    state: dict[str, Any] = pickle.loads((run / LEARNER_STATE).read_bytes())
    (optimizer,) = state["optimizer"].values()
    moments = optimizer["state"]["state"]
    bias = np.asarray(moments[max(moments)]["exp_avg_sq"])  # (I + 1,)
    return bias > 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--env", default="ml1m_topn")
    args = parser.parse_args()
    data, config = env_config_of(env_config_for(args.env, part="eval"))
    relevant = data.test_relevant(config.relevance)
    test_items = np.concatenate([r for r in relevant if len(r)])  # (pairs,)
    rows = []
    for run in args.runs:
        trained = trained_items(run)
        if len(trained) != data.n_items + 1:
            raise SystemExit(f"{run}: a Q-head of {len(trained)} columns, not {data.n_items + 1}")
        rows.append(
            {
                "run": str(run),
                "trained_items": int(trained[1:].sum()),
                "pool": data.n_items,
                "test_items_trained": float(trained[test_items].mean()),
            }
        )
        r = rows[-1]
        print(
            f"{run}: {r['trained_items']:,} of {r['pool']:,} items ever trained;"
            f" {r['test_items_trained']:.1%} of the test part's (user, item) pairs"
        )
    print(json.dumps({"benchmark": "lsrwrl_coverage", "env": args.env, "rows": rows}))


if __name__ == "__main__":
    main()
