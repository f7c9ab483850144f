"""``ddpg-la-table``: the DDPG-LA paper's comparison on one rating dataset.

The eight variants of the paper's ablation (``model.variant``: RLSTM or LSTM long-term
interest, T-self-attention or plain self-attention short-term interest, each alone or
both; the full DDPG-LA is RLSTM + T-self-attention) trained with several seeds for the
same budget of env steps on the env spec's train walks, each scored on the test walk
(the ``rating_error`` protocol: RMSE and MAE on the rating scale, the state holding the
earlier test records' true ratings, and the same with the agent's own predictions in
their place), next to the reference rows on exactly the same split: the global-mean
and user-mean predictors and scikit-surprise's KNNBasic, KNNWithMeans, KNNBaseline, SVD,
SVD++ and NMF, fitted on the train part (:mod:`rayrec.baselines.rating`).

A study over ``model.variant`` (:mod:`rayrec.tables.studies`): runs are
``OUT/ddpg-la/model.variant=<variant>/s<seed>``, reused on a rerun.
"""

from __future__ import annotations

from rayrec.models.variants import VARIANT_LABELS, VARIANTS
from rayrec.tables.runner import Column, Table
from rayrec.tables.studies import Study

DDPG_LA_TABLE = Study(
    table=Table(
        name="ddpg-la-table",
        reproduces=(
            "DDPG-LA paper's rating table: its eight variants vs the mean predictors and"
            " Surprise's KNN / SVD / SVD++ / NMF on the same per-user split"
        ),
        protocol="rating_error",
        algos=("ddpg-la",),
        env="envs/ml1m_rating.yaml",
        columns=(
            Column("RMSE", "rmse", fmt="{:.4f}"),
            Column("MAE", "mae", fmt="{:.4f}"),
            Column("RMSE, own history", "rmse_own", fmt="{:.4f}"),
            Column("MAE, own history", "mae_own", fmt="{:.4f}"),
        ),
        caption=(
            "{env}: ddpg-la variants, {n_seeds} seeds ({seeds}), {budget:,} env steps"
            " (rated records) of training each on the train walks; RMSE / MAE on the"
            " 1–5 scale over every user's test records (test walk, no updates; the state"
            " carries the train records and the earlier test records' true ratings —"
            " 'own history': the agent's own predictions of them instead); mean ± sample"
            " std over seeds. Reference rows: fitted once on the train part (seed 1)."
        ),
        seeds=(0, 1, 2),
        budget_steps=40_000,
        eval_users=1,
        row_header="variant (model.variant)",
    ),
    key="model.variant",
    symbol="variant",
    values=VARIANTS,
    labels=VARIANT_LABELS,
)
