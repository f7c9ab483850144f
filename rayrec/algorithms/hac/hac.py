"""HAC: hyper-actor critic, as an RLlib (new API stack) algorithm extending DDPG.

Liu et al., "Exploration and Regularization of the Latent Action Space in
Recommendation", WWW 2023 (``../shared/specs/hac.md``). HAC is DDPG in the slate
hyper-action space (:mod:`rayrec.algorithms.ddpg`: the same training loop, replay,
state encoder, actor, critic and item kernel Φ) plus what the paper adds: the kernel Φ
is trained, by alignment of the hyper-action with its effect action and by
supervision from the user's per-item feedback. The module is
:mod:`rayrec.algorithms.hac.torch.default_hac_torch_rl_module`, the losses
:mod:`rayrec.algorithms.hac.torch.hac_torch_learner`.

Losses, per replayed transition (s_t, a_t, r_t, s_{t+1}, terminated, y_t)::

    L_TD    = (r_t + γ (1 − terminated) Q'(s_{t+1}, π'(s_{t+1})) − Q(s_t, Ẑ(a_t)))²   critic
    L_QMax  = − Q(s_t, π(s_t))                                                       actor
    L_Hyper = λ_h ‖Z_t − Ẑ(top-K(Z_t))‖²,  Z_t = π(s_t)                             actor, kernel
    L_BCE   = β · BCE(σ(Φ(a_t,i)ᵀ Z_t), y_t,i)                                      actor, kernel

with Ẑ(a) = mean_{i∈a} Φ(i). Online supervised learning is a preset of this config
(:mod:`rayrec.algorithms.supervised.online_sl`: ``actor_q_coef = 0``, λ_h = 0, β = 1).
"""

from __future__ import annotations

from typing import Any

from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from rayrec.algorithms.ddpg.ddpg import DDPG, DDPGConfig


class HACConfig(DDPGConfig):
    """Configuration of :class:`HAC`: DDPG's fields (:class:`DDPGConfig`) and these.

    Training fields (``config.training(...)``), besides DDPG's:
        kernel_lr: learning rate of the item kernel's optimizer (1e-4, the paper's
            "behavior lr"); Adam with DDPG's ``weight_decay``.
        hyper_actor_coef: λ_h, weight of L_Hyper (0.1; paper grid {0, 0.1, 1}).
        bce_coef: β, weight of L_BCE (1.0).
        actor_q_coef: weight of L_QMax in the actor loss (1.0; 0 = supervised only).

    The actor minimises ``actor_q_coef·L_QMax + λ_h·L_Hyper + β·L_BCE``, the kernel
    ``λ_h·L_Hyper + β·L_BCE`` (its optimizer sits out when both weights are 0), the
    critic L_TD. Sizes go in ``config.rl_module(model_config=...)``
    (:class:`~rayrec.algorithms.ddpg.ddpg.DDPGModelConfig`).
    """

    _non_negative = (
        *DDPGConfig._non_negative,
        "kernel_lr",
        "hyper_actor_coef",
        "bce_coef",
        "actor_q_coef",
    )
    _label = "HAC"

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or HAC)
        self.kernel_lr = 1e-4
        self.hyper_actor_coef = 0.1
        self.bce_coef = 1.0
        self.actor_q_coef = 1.0

    def training(
        self,
        *,
        kernel_lr: float | Any = NotProvided,
        hyper_actor_coef: float | Any = NotProvided,
        bce_coef: float | Any = NotProvided,
        actor_q_coef: float | Any = NotProvided,
        **kwargs: Any,
    ) -> HACConfig:
        super().training(**kwargs)
        self._set_provided(
            kernel_lr=kernel_lr,
            hyper_actor_coef=hyper_actor_coef,
            bce_coef=bce_coef,
            actor_q_coef=actor_q_coef,
        )
        return self

    def get_default_rl_module_spec(self) -> RLModuleSpec:
        from rayrec.algorithms.hac.torch.default_hac_torch_rl_module import (
            DefaultHACTorchRLModule,
        )

        return RLModuleSpec(module_class=DefaultHACTorchRLModule)

    def get_default_learner_class(self) -> type:
        from rayrec.algorithms.hac.torch.hac_torch_learner import HACTorchLearner

        return HACTorchLearner


class HAC(DDPG):
    """DDPG's loop (:class:`~rayrec.algorithms.ddpg.ddpg.DDPG`) with HAC's module and
    learner."""

    @classmethod
    def get_default_config(cls) -> HACConfig:
        return HACConfig()
