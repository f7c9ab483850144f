"""The one typed result every evaluation protocol returns.

Tables, Tune trials, ``rayrec train`` and ``rayrec evaluate`` all read an
:class:`EvalResult`: the evaluated policy's (or model's) metrics, the reference
policies evaluated on the same users or rows, and what was evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class EvalResult:
    """What one evaluation measured.

    Args:
        protocol: the protocol's name (a key of :data:`rayrec.evaluation.PROTOCOLS`).
        metrics: the evaluated policy's metrics, by name (``total_reward``, ``ndcg@10``,
            ``rmse``...).
        references: reference policies evaluated on the same data, by name, each with
            the same metrics (the slate protocol's ``random``; empty where there is none).
        evaluated: how many users (sessions) or held-out rows the metrics average over.
        data: what was evaluated on, in words (``"evaluation simulator of envs/ml1m.yaml"``).
        seed: the seed of the users drawn (None where the data is fixed).
    """

    protocol: str
    metrics: dict[str, float]
    references: dict[str, dict[str, float]] = field(default_factory=dict)
    evaluated: int = 0
    data: str = ""
    seed: int | None = None

    def by_policy(self, name: str) -> dict[str, dict[str, float]]:
        """``{name: metrics, <reference>: metrics, ...}``: the evaluated policy under
        ``name`` (the algorithm, or ``"agent"``) next to the references."""
        return {name: dict(self.metrics), **{k: dict(v) for k, v in self.references.items()}}

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "protocol": self.protocol,
            "metrics": dict(self.metrics),
            "references": {k: dict(v) for k, v in self.references.items()},
            "evaluated": self.evaluated,
            "data": self.data,
            "seed": self.seed,
        }
