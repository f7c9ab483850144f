"""The ``topn`` protocol on the ``topn`` env kind: precision and recall @10 over each
user's test part (``../shared/specs/lsrwrl.md``, "Metrics and baselines").

For each evaluated user the whole item pool is ranked by score, the user's train items
(and padding, column 0) excluded, and the top k are compared with the user's held-out
relevant items: every test-part rating (``topn.relevance: rated``, the paper's rule) or
the liked ones (``liked``). The metrics are the means over
:meth:`~rayrec.data.topn.TopNData.eval_users` of precision@k and recall@k (first, as the
paper's Table 1 reports them), then HR@k and NDCG@k —
:func:`rayrec.evaluation.full_ranking.evaluate_full_ranking` semantics, the one metric
code every top-N row uses.

Two entry points:

- :func:`evaluate_scorer`: any *scorer* (user indices (b,) → (b, I + 1) scores) — the
  baselines' way in;
- :func:`evaluate_q_values`: a Q-function over the env's observations, scored on
  :func:`~rayrec.environments.topn.final_observations` (each user's state after its
  whole train part) — a trained LSRWRL module's way in (:func:`evaluate_module`, the
  protocol's module evaluator, reads RLlib's Q-net API ``compute_q_values``).

A module evaluation also reports the liked-only precision and recall
(``precision@10_liked``, ``recall@10_liked``), the second column of the issue's table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from rayrec.data.topn import Relevance, TopNData
from rayrec.environments.topn import TopNConfig, env_config_of, final_observations
from rayrec.errors import InputError
from rayrec.evaluation.full_ranking import DEFAULT_KS, Scorer, evaluate_full_ranking
from rayrec.evaluation.result import EvalResult

NAME = "topn"
#: the ranking metrics of one relevance, in report order (each ``<m>@k``)
RANKING_ORDER = ("precision", "recall", "hr", "ndcg")
#: the liked-only columns a module evaluation adds
LIKED_SUFFIX = "_liked"
#: users scored at once
EVAL_BATCH = 512
#: (batched observation of b users) -> (b, I + 1) Q-values
QFunction = Callable[[dict[str, np.ndarray]], np.ndarray]


def metric_names(ks: Sequence[int] = DEFAULT_KS) -> tuple[str, ...]:
    """``precision@10``, ``recall@10``, ``hr@10``, ``ndcg@10`` for each cut-off."""
    return tuple(f"{m}@{k}" for k in ks for m in RANKING_ORDER)


#: the protocol's metrics (Tune's ``eval_<m>`` columns): the spec's relevance, then liked
METRICS = (
    *metric_names(),
    *(f"{m}@{k}{LIKED_SUFFIX}" for k in DEFAULT_KS for m in ("precision", "recall")),
)


def evaluate_scorer(
    data: TopNData,
    scorer: Scorer,
    relevance: Relevance = "rated",
    ks: Sequence[int] = DEFAULT_KS,
    users: np.ndarray | None = None,
    *,
    batch: int = EVAL_BATCH,
) -> EvalResult:
    """Precision / recall / HR / NDCG @k of ``scorer`` over the users' test parts.

    Args:
        data: the top-N split.
        scorer: user indices (b,) -> (b, I + 1) scores (column 0 = padding; higher =
            better; train items need not be masked: they are excluded here).
        relevance: ``rated`` (every test rating) or ``liked``.
        ks: the cut-offs.
        users: user indices to evaluate (default every user of
            :meth:`TopNData.eval_users`); those with no train record or no relevant
            test item are left out.
        batch: users scored at once.

    Raises:
        InputError: no user to evaluate.
    """
    eligible = data.eval_users(relevance)
    rows = eligible if users is None else np.intersect1d(np.asarray(users), eligible)
    if not len(rows):
        raise InputError(
            f"{data.dataset}: topn: no user with a train record and a {relevance}"
            " test item to evaluate"
        )
    relevant = data.test_relevant(relevance)
    seen = data.train_seen()
    padding = np.zeros(1, dtype=np.int64)
    result = evaluate_full_ranking(
        scorer,
        rows,
        [relevant[k] for k in rows],
        [np.r_[padding, seen[k]] for k in rows],
        ks=ks,
        batch=batch,
        data=f"{data.dataset}: test part of {len(rows)} users, relevance {relevance}",
    )
    metrics = {name: result.metrics[name] for name in metric_names(ks)}
    return EvalResult(protocol=NAME, metrics=metrics, evaluated=result.evaluated, data=result.data)


def q_value_scorer(q_values: QFunction, data: TopNData, config: TopNConfig) -> Scorer:
    """The scorer of a Q-function: each user's Q-values on its final observation
    (:func:`~rayrec.environments.topn.final_observations`)."""
    n_columns = data.n_items + 1

    def scorer(users: np.ndarray) -> np.ndarray:
        scores = np.asarray(q_values(final_observations(data, config, users)), np.float64)
        if scores.shape != (len(users), n_columns):
            raise InputError(
                f"topn: expected Q-values of shape ({len(users)}, {n_columns}), got {scores.shape}"
            )
        return scores  # (b, I + 1)

    return scorer


def evaluate_q_values(
    q_values: QFunction,
    data: TopNData,
    config: TopNConfig,
    *,
    relevance: Relevance | None = None,
    ks: Sequence[int] = DEFAULT_KS,
    users: np.ndarray | None = None,
    batch: int = EVAL_BATCH,
) -> EvalResult:
    """:func:`evaluate_scorer` of a Q-function over the final observations
    (``relevance`` default ``config.relevance``)."""
    return evaluate_scorer(
        data,
        q_value_scorer(q_values, data, config),
        relevance or config.relevance,
        ks,
        users,
        batch=batch,
    )


def module_q_function(module: Any) -> QFunction:
    """The Q-function of a module: an RLModule with RLlib's Q-net API
    (``compute_q_values``, as DQN's), or a plain callable taken as it is."""
    if not hasattr(module, "compute_q_values"):
        if not callable(module):
            raise InputError(
                f"topn: expected an RLModule with compute_q_values or a Q-function,"
                f" got {type(module).__name__}"
            )
        q: QFunction = module
        return q

    import torch
    from ray.rllib.algorithms.dqn.default_dqn_rl_module import QF_PREDS
    from ray.rllib.core.columns import Columns

    def q_values(obs: dict[str, np.ndarray]) -> np.ndarray:
        batch = {Columns.OBS: {k: torch.as_tensor(v) for k, v in obs.items()}}
        with torch.no_grad():
            out = module.compute_q_values(batch)
        result: np.ndarray = out[QF_PREDS].detach().cpu().numpy()  # (b, I + 1)
        return result

    return q_values


def evaluate_module(
    module: Any, env_config: Mapping[str, Any], *, users: int, seed: int
) -> EvalResult:
    """The protocol's module evaluator: the module's Q-values on every evaluated user's
    final observation, under the spec's relevance, with the liked-only precision and
    recall added, next to :data:`REFERENCES` on the same split (``users`` unused: every
    user is scored, in a fixed order; ``seed`` seeds the references)."""
    data, config = env_config_of(env_config)
    scorer = q_value_scorer(module_q_function(module), data, config)
    main, metrics = protocol_metrics(data, scorer, config)
    return EvalResult(
        protocol=NAME,
        metrics=metrics,
        references=reference_results(env_config, users=users, seed=seed),
        evaluated=main.evaluated,
        data=f"test part of {env_config.get('spec', 'the top-N split')}"
        f" ({main.evaluated} users, relevance {config.relevance})",
    )


#: the reference rows of a top-N evaluation: the classic baselines, fitted in seconds
#: (the trained sequential ones are a table's rows, :mod:`rayrec.tables.lsrwrl`)
REFERENCES: tuple[str, ...] = ("most_popular", "itemcf", "usercf")


def reference_results(
    env_config: Mapping[str, Any], *, users: int, seed: int = 1
) -> dict[str, dict[str, float]]:
    """Most-popular, ItemCF and UserCF (:mod:`rayrec.baselines.topn`, their defaults) on
    the env's split, by the module evaluation's metric code and columns."""
    from rayrec.baselines.topn import fit_scorer

    del users
    data, config = env_config_of(env_config)
    return {
        name: protocol_metrics(data, fit_scorer(name, data, seed=seed), config)[1]
        for name in REFERENCES
    }


def protocol_metrics(
    data: TopNData, scorer: Scorer, config: TopNConfig
) -> tuple[EvalResult, dict[str, float]]:
    """The protocol's columns of one scorer: :func:`evaluate_scorer` under the spec's
    relevance, plus the liked-only precision and recall (``<m>@k_liked``)."""
    main = evaluate_scorer(data, scorer, config.relevance)
    liked = evaluate_scorer(data, scorer, "liked").metrics
    metrics = dict(main.metrics)
    for k in DEFAULT_KS:
        for m in ("precision", "recall"):
            metrics[f"{m}@{k}{LIKED_SUFFIX}"] = liked[f"{m}@{k}"]
    return main, metrics
