"""Pure, vectorised metric functions (numpy only; no RLlib, no torch).

- :mod:`~rayrec.metrics.classification`: ROC AUC, log-loss.
- :mod:`~rayrec.metrics.slate`: session summary (total reward, depth, reward
  variance, coverage, overlap of slates across users), intra-list diversity.
- :mod:`~rayrec.metrics.ranking`: HR, NDCG, precision, recall, MRR @k over a full
  item pool with per-row exclusion masks.
- :mod:`~rayrec.metrics.rating`: RMSE, MAE.
- :mod:`~rayrec.metrics.uplift`: Qini curve and coefficient, AUUC, reward under a budget.
- :mod:`~rayrec.metrics.summary`: mean ± sample std over runs.
"""

from rayrec.metrics.classification import auc, log_loss
from rayrec.metrics.ranking import (
    RANKING_METRICS,
    hit_rate_at_k,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
    top_k,
)
from rayrec.metrics.rating import mae, rmse
from rayrec.metrics.slate import (
    coverage,
    intra_list_diversity,
    overlap_pairs,
    session_metrics,
    slate_overlap,
)
from rayrec.metrics.summary import mean_std
from rayrec.metrics.uplift import (
    allocate_under_budget,
    auuc,
    qini_coefficient,
    qini_curve,
    reward_under_budget,
    uplift_curve,
)

__all__ = [
    "RANKING_METRICS",
    "allocate_under_budget",
    "auc",
    "auuc",
    "coverage",
    "hit_rate_at_k",
    "intra_list_diversity",
    "log_loss",
    "mae",
    "mean_std",
    "mrr_at_k",
    "ndcg_at_k",
    "overlap_pairs",
    "precision_at_k",
    "qini_coefficient",
    "qini_curve",
    "ranking_metrics",
    "recall_at_k",
    "reward_under_budget",
    "rmse",
    "session_metrics",
    "slate_overlap",
    "top_k",
    "uplift_curve",
]
