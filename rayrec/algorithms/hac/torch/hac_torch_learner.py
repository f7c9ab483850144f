"""HAC's four loss blocks in torch: DDPG's learner plus L_Hyper, L_BCE and Φ's optimizer.

Each block is written as its equation (``../shared/specs/hac.md``); the pure loss
functions are DDPG's (:mod:`rayrec.algorithms.ddpg.torch.ddpg_torch_learner`, where
L_Hyper and L_BCE are logged as diagnostics). ``compute_gradients`` (DDPG's) does one
``autograd.grad`` per optimizer — critic, actor, kernel (and TD3's twin) — so each
optimizer receives exactly the gradient of its own loss.
"""

from __future__ import annotations

from typing import Any

import torch

from rayrec.algorithms.ddpg.ddpg_learner import (
    ACTOR,
    ACTOR_LOSS,
    BCE_LOSS,
    CRITIC_LOSS,
    HYPER_LOSS,
    QMAX_LOSS,
    TD_LOSS,
)
from rayrec.algorithms.ddpg.torch.ddpg_torch_learner import DDPGTorchLearner
from rayrec.algorithms.hac.hac_learner import KERNEL, KERNEL_LOSS


class HACTorchLearner(DDPGTorchLearner):
    """Critic: L_TD. Actor: q·L_QMax + λ_h·L_Hyper + β·L_BCE. Kernel: λ_h·L_Hyper + β·L_BCE."""

    def optimizer_groups(self, module: Any, config: Any) -> dict[str, tuple[list[Any], float]]:
        """DDPG's optimizers with Φ's after the actor's (critic, actor, kernel, twin)."""
        groups = super().optimizer_groups(module, config)
        kernel = (list(self.get_parameters(module.kernel)), config.kernel_lr)
        ordered: dict[str, tuple[list[Any], float]] = {}
        for name, group in groups.items():
            ordered[name] = group
            if name == ACTOR:
                ordered[KERNEL] = kernel
        return ordered

    def optimizer_losses(
        self, config: Any, terms: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        lam, beta = config.hyper_actor_coef, config.bce_coef
        l_hyper, l_bce = terms[HYPER_LOSS], terms[BCE_LOSS]
        return {
            # L_TD   (critic)
            CRITIC_LOSS: terms[TD_LOSS],
            # q·L_QMax + λ_h·L_Hyper + β·L_BCE   (actor: state encoder + hyper-actor)
            ACTOR_LOSS: config.actor_q_coef * terms[QMAX_LOSS] + lam * l_hyper + beta * l_bce,
            # λ_h·L_Hyper + β·L_BCE   (kernel Φ)
            KERNEL_LOSS: lam * l_hyper + beta * l_bce,
        }

    def skips_optimizer(self, name: str, config: Any) -> bool:
        """DDPG's rule, and Φ sits out with the delayed actor or when λ_h = β = 0."""
        if name == KERNEL:
            unused = config.hyper_actor_coef == 0 and config.bce_coef == 0
            return unused or self._actor_delayed(config)
        return super().skips_optimizer(name, config)
