"""CAL4Rec: counterfactual adversarial learning for RL sequential recommendation.

The fourth seed method (``../shared/specs/cal4rec.md``, from the paper in
``../shared/seeds/000_3f2b3fb166355d6f.txt``). Offline, on the ``logged_sessions`` env
kind, with the SQN family's loop, data and validation selection
(:class:`~rayrec.algorithms.sqn.sqn.SQN`). The module
(:mod:`rayrec.algorithms.cal4rec.torch.default_cal4rec_torch_rl_module`): encoder and
policy head π, generator G, discriminator D. Per logged row (s, a, r₁), r₁ the one-hot
logged feedback (click / purchase)::

    r₂ = softmax_τ(log p_r(y|s, a, μ) + g),  g = −log(−log u),  u, μ ~ U(0, 1)     Eq. 7–8
    L_D  = −[log D(r₁|s, a) + log(1 − D(r₂|s, a))]                                  Eq. 9
    L_G  = log(1 − D(r₂|s, a))        (or −log D(r₂|s, a): ``generator_loss``)        Eq. 10
    L_ssl = −log π(a|s)

Algorithm 1, per learner update (an "outer iteration"): K discriminator steps, each on
its own minibatch (θ_D on L_D; s and e_a held fixed), then a generator step (θ_G on
L_G), then an encoder step (θ_E — encoder, item embedding, policy head — on
``L_ssl + gan_coef · L_G``, the gradient of L_G reaching the encoder through s and e_a
in G and D; G and D do not move). Adam: lr 0.01 for θ_E (``lr``), 0.005 for G and D
(``gan_lr``); batch 256.

The four variants of the paper's Figure 3 (``variant``): ``full``; ``ssl`` (L_ssl only:
the plain sequential recommender, no G or D step); ``gan`` (L_gan only: the encoder
step on L_G alone — the policy head then gets no gradient, as the paper defines it);
``ssl_gan_no_gumbel`` (L_ssl + L_gan with r₂ = softmax_τ(log p_r), no Gumbel noise).

Ours: τ = 1.0 (``temperature``), the straight-through one-hot (``straight_through``,
off), the saturating generator loss as in Eq. 10 (``generator_loss``), ``gan_coef`` 1.
On click-only data (RetailRocket views) r₁ is always "click": the discriminator has
nothing to separate but the generator's spread, and the counterfactual term carries no
purchase signal (every result on such data says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from rayrec.algorithms.cal4rec.cal4rec_learner import FULL, SSL_ONLY, VARIANTS
from rayrec.algorithms.sqn.sqn import SQN, SessionModelConfig, SQNConfig
from rayrec.models.checks import check_int

#: the generator's loss: Eq. 10 as written, or the non-saturating form
GENERATOR_LOSSES = ("saturating", "non_saturating")


@dataclass(frozen=True)
class CAL4RecModelConfig(SessionModelConfig):
    """The encoder's sizes (:class:`SessionModelConfig`) and the GAN's.

    Attributes:
        hidden: hidden width of the generator and discriminator MLPs (64).
        noise_dim: size of the exogenous noise μ (32).
    """

    hidden: int = 64
    noise_dim: int = 32

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("model.hidden", self.hidden, low=1)
        check_int("model.noise_dim", self.noise_dim, low=1)


class CAL4RecConfig(SQNConfig):
    """Configuration of :class:`CAL4Rec` (module doc: the losses and the schedule).

    Training fields besides the SQN loop's (``backbone``, ``lr`` — θ_E's,
    ``train_batch_size_per_learner``, ``updates_per_iteration``, ``validation_interval``,
    ``selection_metric``, ``max_nonfinite_updates``):
        variant: ``full`` (default), ``ssl``, ``gan``, ``ssl_gan_no_gumbel``.
        gan_lr: Adam's rate for G and D (0.005).
        disc_steps: K, discriminator steps per outer iteration (1).
        temperature: τ of the softmax relaxation (1.0, ours).
        straight_through: the one-hot argmax forward with the relaxed gradient (False).
        generator_loss: ``saturating`` (Eq. 10) or ``non_saturating``.
        gan_coef: weight of L_G in the encoder step (1.0).
    ``method``, ``gamma`` and SAC's fields are unused (no Q-learning).
    """

    model_config_class: Any = CAL4RecModelConfig
    _label = "CAL4Rec"

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or CAL4Rec)
        self.method = "ce"  # one network, no Q head
        self.variant = FULL
        self.lr = 0.01
        self.gan_lr = 0.005
        self.disc_steps = 1
        self.temperature = 1.0
        self.straight_through = False
        self.generator_loss = "saturating"
        self.gan_coef = 1.0

    def training(
        self,
        *,
        variant: str | Any = NotProvided,
        gan_lr: float | Any = NotProvided,
        disc_steps: int | Any = NotProvided,
        temperature: float | Any = NotProvided,
        straight_through: bool | Any = NotProvided,
        generator_loss: str | Any = NotProvided,
        gan_coef: float | Any = NotProvided,
        **kwargs: Any,
    ) -> CAL4RecConfig:
        super().training(**kwargs)
        self._set_provided(
            variant=variant,
            gan_lr=gan_lr,
            disc_steps=disc_steps,
            temperature=temperature,
            straight_through=straight_through,
            generator_loss=generator_loss,
            gan_coef=gan_coef,
        )
        return self

    def validate(self) -> None:
        super().validate()
        self._check_choice("variant", VARIANTS)
        self._check_choice("generator_loss", GENERATOR_LOSSES)
        self._check_int("disc_steps", 1)
        for name, positive in (("gan_lr", True), ("temperature", True), ("gan_coef", False)):
            value = getattr(self, name)
            bad = isinstance(value, bool) or not isinstance(value, int | float)
            if bad or value < 0 or (positive and value == 0):
                bound = "> 0" if positive else ">= 0"
                self._value_error(f"CAL4Rec config: '{name}' must be {bound}, got {value!r}")
        if not isinstance(self.straight_through, bool):
            self._value_error(
                "CAL4Rec config: 'straight_through' must be true or false,"
                f" got {self.straight_through!r}"
            )

    @property
    def _model_config_auto_includes(self) -> dict[str, Any]:
        return {**super()._model_config_auto_includes, "n_networks": 1, "q_head": False}

    def get_default_rl_module_spec(self) -> RLModuleSpec:
        from rayrec.algorithms.cal4rec.torch.default_cal4rec_torch_rl_module import (
            DefaultCAL4RecTorchRLModule,
        )

        return RLModuleSpec(module_class=DefaultCAL4RecTorchRLModule)

    def get_default_learner_class(self) -> type:
        from rayrec.algorithms.cal4rec.torch.cal4rec_torch_learner import CAL4RecTorchLearner

        return CAL4RecTorchLearner


class CAL4Rec(SQN):
    """The SQN family's offline loop; an update takes K + 1 minibatches (K for the
    discriminator, one for the generator and encoder steps)."""

    @classmethod
    def get_default_config(cls) -> CAL4RecConfig:
        return CAL4RecConfig()

    def minibatches_per_update(self) -> int:
        cfg: Any = self.config
        return 1 if cfg.variant == SSL_ONLY else int(cfg.disc_steps) + 1
