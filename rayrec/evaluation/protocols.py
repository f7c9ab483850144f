"""The evaluation protocols by name, and which one serves each env kind.

An algorithm's registry entry names its protocol; the training path (:mod:`rayrec.train`)
evaluates a trained module through :meth:`EvaluationProtocol.evaluate_module`, Tune
reports :meth:`EvaluationProtocol.columns`, tables average :attr:`EvalResult.metrics`.
``full_ranking`` and ``rating_error`` evaluate generic inputs (a scorer or predictor
and arrays: :func:`~rayrec.evaluation.full_ranking.evaluate_full_ranking`,
:func:`~rayrec.evaluation.rating_error.evaluate_rating_error`); the env kinds that hold
their data (``rating_walk``, ``topn``, ``logged_sessions``) bring the step from a
trained module to those inputs. ``full_ranking`` serves no env kind (its generic entry
point is what ``topn`` builds on), so its :meth:`evaluate_module` says so;
``logged_sessions`` is evaluated by ``next_item`` (the SQN protocol).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rayrec.config import lookup
from rayrec.errors import InputError
from rayrec.evaluation import (
    full_ranking,
    next_item,
    rating_error,
    rating_walk,
    slate_rollout,
    topn,
)
from rayrec.evaluation.result import EvalResult

#: (trained RLModule, env_config, users=, seed=) -> result
ModuleEvaluator = Callable[..., EvalResult]
#: (env_config, users=, seed=) -> reference policy -> metrics
ReferenceEvaluator = Callable[..., dict[str, dict[str, float]]]


@dataclass(frozen=True)
class EvaluationProtocol:
    """One way of evaluating a trained policy or model.

    Args:
        name: the protocol's name (the registry key; algorithms name it).
        env_kinds: the env kinds whose data it evaluates on.
        summary: one line on what it measures.
        metrics: the metrics it reports, in order (Tune's ``eval_<m>`` columns).
        references: the reference policies reported next to the evaluated one (Tune's
            ``<reference>_<m>`` columns).
        headline: the metric a table or a searcher ranks by.
        higher_is_better: the headline's direction (False for an error: RMSE).
        shown: the metrics a one-screen summary shows (``rayrec train`` / ``evaluate``).
        module_evaluator: evaluates a trained RLModule on an env_config's env, or None
            while no env kind of this protocol provides its data from an env_config.
        reference_evaluator: evaluates the protocol's reference policies (a table's
            reference rows) on an env_config's env, or None where it has none.
        evaluates: what one evaluation covers, in words (``{users}``: the number of
            users asked for, where the protocol samples them).
    """

    name: str
    env_kinds: tuple[str, ...]
    summary: str
    metrics: tuple[str, ...]
    headline: str
    shown: tuple[str, ...]
    references: tuple[str, ...] = ()
    higher_is_better: bool = True
    module_evaluator: ModuleEvaluator | None = field(default=None, repr=False)
    reference_evaluator: ReferenceEvaluator | None = field(default=None, repr=False)
    evaluates: str = "{users} users"

    def evaluate_module(
        self, module: Any, env_config: Mapping[str, Any], *, users: int, seed: int
    ) -> EvalResult:
        """The trained ``module`` evaluated on the env ``env_config`` describes (an RLlib
        env_config, :func:`rayrec.environments.env_config_for`; the protocol picks its
        evaluation part).

        Raises:
            InputError: no env kind of this protocol evaluates a trained module yet.
        """
        if self.module_evaluator is None:
            kinds = f" ({', '.join(self.env_kinds)})" if self.env_kinds else ""
            raise InputError(
                f"evaluation protocol {self.name}: no env kind{kinds} provides its"
                " held-out data from a trained module"
                + (" yet" if self.env_kinds else " (it evaluates a scorer over arrays)")
            )
        return self.module_evaluator(module, env_config, users=users, seed=seed)

    def evaluate_references(
        self, env_config: Mapping[str, Any], *, users: int, seed: int = 1
    ) -> dict[str, dict[str, float]]:
        """The reference policies' metrics on ``env_config``'s env (empty where there are
        none)."""
        if self.reference_evaluator is None:
            return {}
        return self.reference_evaluator(env_config, users=users, seed=seed)

    def columns(self, result: EvalResult | None) -> dict[str, float]:
        """``eval_<m>`` and ``<reference>_<m>`` for every metric; NaN before the
        evaluation (``result`` None), so every reported row has the same columns."""
        sources: dict[str, dict[str, float]] = {"eval": result.metrics if result else {}}
        for ref in self.references:
            sources[ref] = result.references.get(ref, {}) if result else {}
        return {
            f"{prefix}_{m}": float(values.get(m, math.nan))
            for prefix, values in sources.items()
            for m in self.metrics
        }


PROTOCOLS: dict[str, EvaluationProtocol] = {
    p.name: p
    for p in (
        EvaluationProtocol(
            name=slate_rollout.NAME,
            env_kinds=("slate",),
            summary="greedy sessions in the evaluation simulator next to a random policy",
            metrics=slate_rollout.METRICS,
            headline="total_reward",
            shown=(
                "total_reward",
                "depth",
                "reward_variance",
                "coverage",
                "overlap",
                "intra_list_diversity",
            ),
            references=("random",),
            module_evaluator=slate_rollout.evaluate_module,
            reference_evaluator=slate_rollout.reference_results,
        ),
        # before full_ranking: a results table's eval_precision@10 column is a topn run's
        # (protocol_from_columns takes the first protocol whose headline column it holds)
        EvaluationProtocol(
            name=topn.NAME,
            env_kinds=("topn",),
            summary="precision / recall / HR / NDCG @10 of each user's top 10 over the full"
            " item pool against its test part, train items excluded",
            metrics=topn.METRICS,
            headline="precision@10",
            shown=topn.METRICS,
            references=topn.REFERENCES,
            module_evaluator=topn.evaluate_module,
            reference_evaluator=topn.reference_results,
            evaluates="every user's test part",
        ),
        EvaluationProtocol(
            name=next_item.NAME,
            env_kinds=("logged_sessions",),
            summary="SQN's next-item HR / NDCG @5/10/20 over every event of the held-out"
            " sessions, click and purchase targets apart, all items ranked, none excluded",
            metrics=next_item.METRICS,
            headline=next_item.HEADLINE,
            shown=next_item.SHOWN,
            references=next_item.REFERENCES,
            module_evaluator=next_item.evaluate_module,
            reference_evaluator=next_item.reference_results,
            evaluates="every event of the held-out sessions",
        ),
        # the generic full-ranking evaluation (topn builds on it); no env kind of its own
        EvaluationProtocol(
            name=full_ranking.NAME,
            env_kinds=(),
            summary="HR / NDCG / precision / recall / MRR @k over the full item pool,"
            " seen items excluded",
            metrics=full_ranking.metric_names(),
            headline="ndcg@10",
            shown=full_ranking.metric_names(),
        ),
        EvaluationProtocol(
            name=rating_error.NAME,
            env_kinds=("rating_walk",),
            summary="RMSE and MAE of predicted against real ratings over a held-out walk",
            metrics=rating_walk.WALK_METRICS,
            headline="rmse",
            higher_is_better=False,
            shown=rating_walk.WALK_METRICS,
            references=("global_mean", "user_mean"),
            module_evaluator=rating_walk.evaluate_module,
            reference_evaluator=rating_walk.reference_results,
            evaluates="every user's test records",
        ),
    )
}


def get_protocol(name: str) -> EvaluationProtocol:
    """The protocol called ``name``.

    Raises:
        InputError: naming the known protocols.
    """
    return lookup(PROTOCOLS, name, "evaluation protocol")


def protocol_for_kind(kind: str) -> EvaluationProtocol:
    """The protocol that evaluates policies of env kind ``kind``.

    Raises:
        InputError: naming the kinds that have one.
    """
    for protocol in PROTOCOLS.values():
        if kind in protocol.env_kinds:
            return protocol
    kinds = sorted(k for p in PROTOCOLS.values() for k in p.env_kinds)
    raise InputError(f"no evaluation protocol for env kind {kind!r}; expected one of: {kinds}")
