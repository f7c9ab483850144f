"""Online SL: the SASRec policy trained with BCE on the simulator's immediate feedback.

The HAC paper's "Online SL" baseline learns from the user's immediate responses
instead of long-term reward. It is HAC's module trained by L_BCE alone (no critic
term in the actor, no alignment); it acts greedily on ``score(i|Z) = Φ(i)ᵀZ`` with
the same exploration noise. The critic is still fitted (its loss is logged) but
never used by the policy.
"""

from __future__ import annotations

from rayrec.algorithms.hac.hac import HAC, HACConfig


class OnlineSLConfig(HACConfig):
    """HAC with ``actor_q_coef=0``, ``hyper_actor_coef=0``, ``bce_coef=1``."""

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or OnlineSL)
        self.actor_q_coef = 0.0
        self.hyper_actor_coef = 0.0
        self.bce_coef = 1.0


class OnlineSL(HAC):
    @classmethod
    def get_default_config(cls) -> OnlineSLConfig:
        return OnlineSLConfig()
