"""A2C over slates, as a preset of RLlib's PPO (new API stack).

The HAC paper's A2C baseline (``../shared/specs/hac.md``, "Baselines"): policy
gradient in the effect-action space with a learned value baseline. RLlib 2.60 has no
A2C, and PPO run as below *is* A2C (Mnih et al., ICML 2016, synchronous variant):

- **one gradient step per sampled batch**: ``num_epochs=1`` and
  ``minibatch_size=None`` (the whole train batch is one minibatch);
- hence **the ratio is 1**: the batch was sampled by the very weights that are
  updated, so ``r = π(a|s) / π_old(a|s) = 1`` and ``∇ min(rA, clip(r)A) = A ∇log π``
  for every ``clip_param`` > 0; the clip is also set wide (``clip_param=1e9``) so
  that it stays inert even if the ratio is not exactly 1 (e.g. with dropout);
- **no KL term** (``use_kl_loss=False``), the value loss unclipped
  (``vf_clip_param=1e9``), GAE advantages (``use_gae=True``, ``lambda_``).

Loss per batch (RLlib's ``PPOTorchLearner``, unchanged)::

    L = − mean(Â_t · log π(a_t|s_t)) + c_v · mean((V(s_t) − V̂_t)²) − c_H · mean(H_t)

with ``Â`` the GAE(γ, λ) advantage standardised over the batch (RLlib always
standardises), ``V̂ = Â_raw + V`` the value target, log π the Plackett–Luce
log-probability of the whole slate and H the entropy of its first position (the
softmax over the pool; see :mod:`rayrec.models.plackett_luce`).

The networks are in :mod:`rayrec.algorithms.a2c.torch.default_a2c_torch_rl_module`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from typing import Any

from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.algorithms.ppo.ppo import PPO, PPOConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from rayrec.errors import InputError
from rayrec.models.checks import check_number, check_widths
from rayrec.models.state import StateEncoderConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class A2CModelConfig:
    """Network sizes of the A2C module; every field is checked on construction.

    Set with ``config.rl_module(model_config={...})`` or ``rayrec train --config
    model.<field>=value`` (an :class:`~rayrec.errors.InputError` names
    ``model.<field>`` and the value). The defaults are HAC's (the same SASRec state
    encoder, ``../shared/specs/hac.md`` "Baselines: same state encoder"), except dropout.

    Attributes:
        state_dim / n_layers / n_heads / ffn_dim / use_user_id: HAC's SASRec encoder
            (32, 2, 4, 64, True; :class:`~rayrec.models.state.StateEncoderConfig`).
        dropout: encoder dropout, **0 by default (ours)**: an on-policy gradient needs
            the training forward to give the same log-probability as the acting one
            (the PPO ratio is then exactly 1); dropout during training would turn the
            ratio into random noise on the policy gradient.
        policy_hidden: the MLP from the state s to Z(s), scores Φ(i)ᵀZ(s) (HAC's
            hyper-actor sizes, [256, 64]).
        value_hidden: the MLP of the value head V(s) (HAC's critic sizes, [256, 64]).
        kernel_init_std: initial scale of the item kernel Φ (as HAC, 0.1).
    """

    state_dim: int = 32
    n_layers: int = 2
    n_heads: int = 4
    ffn_dim: int = 64
    dropout: float = 0.0
    policy_hidden: tuple[int, ...] = (256, 64)
    value_hidden: tuple[int, ...] = (256, 64)
    use_user_id: bool = True
    kernel_init_std: float = 0.1

    def __post_init__(self) -> None:
        encoder = self.encoder_config()  # checks (and normalises) the encoder's fields
        object.__setattr__(self, "dropout", encoder.dropout)
        for name in ("policy_hidden", "value_hidden"):
            object.__setattr__(self, name, check_widths(f"model.{name}", getattr(self, name)))
        std = check_number("model.kernel_init_std", self.kernel_init_std, low=0.0, low_open=True)
        object.__setattr__(self, "kernel_init_std", std)

    @classmethod
    def from_model_config(cls, model_config: dict[str, Any]) -> A2CModelConfig:
        """The fields of an RLlib ``model_config`` dict (other keys ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in model_config.items() if k in known})

    def encoder_config(self) -> StateEncoderConfig:
        """The settings of the shared :class:`~rayrec.models.state.StateEncoder`."""
        return StateEncoderConfig.of(self)


#: what makes PPO A2C; validate() refuses other values
A2C_FIXED = {
    "num_epochs": 1,
    "minibatch_size": None,
    "use_kl_loss": False,
    "use_critic": True,
    "use_gae": True,
}


class A2CConfig(PPOConfig):
    """Configuration of :class:`A2C`: PPO with the settings that make it A2C.

    Training fields (``config.training(...)``), all validated:
        gamma: discount γ (0.9, the HAC spec).
        lambda_: GAE λ (0.0: the one-step TD advantage r + γ(1 − terminated)V(s') − V(s),
            as the HAC/KuaiSim A2C code; 1.0 gives A2C's n-step returns to the end of
            each 8-step rollout fragment — 3.23 vs 3.79 total reward at seed 0, README).
        lr: Adam learning rate of the one optimizer (policy, Φ, encoder, value) (3e-3;
            1e-3 and 1e-2 learned less in 60 updates, README).
        entropy_coeff: c_H, weight of the first-position entropy bonus (0.01; the
            HAC/KuaiSim A2C code uses 0.1, which learned less in 60 updates, README).
        vf_loss_coeff: c_v, weight of the value loss (0.5, Stable-Baselines3's A2C).
        grad_clip: global gradient-norm clip (0.5, SB3's A2C; None = off).
        train_batch_size_per_learner: env steps per update (256 = 32 users × 8 steps,
            one rollout of ``rayrec train``'s default env runner).
        clip_param / vf_clip_param: inert for A2C (1e9, see module doc); > 0.
        num_epochs / minibatch_size / use_kl_loss / use_critic / use_gae: fixed at
            1 / None / False / True / True — what makes PPO A2C (:data:`A2C_FIXED`).
    ``replay_buffer_config`` is accepted and ignored (A2C is on-policy), so a sweep
    that passes it to every algorithm does not crash. Network sizes go in
    ``config.rl_module(model_config=...)`` (:class:`A2CModelConfig`).
    """

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or A2C)
        self.gamma = 0.9
        self.lambda_ = 0.0
        self.lr = 3e-3
        self.entropy_coeff = 0.01
        self.vf_loss_coeff = 0.5
        self.grad_clip = 0.5  # type: ignore[assignment]  # RLlib types it None
        self.train_batch_size_per_learner = 256
        self.clip_param = 1e9
        self.vf_clip_param = 1e9
        self.kl_coeff = 0.0
        for name, value in A2C_FIXED.items():
            setattr(self, name, value)
        self.shuffle_batch_per_epoch = False
        self.replay_buffer_config = None  # on-policy: no replay

    def training(
        self, *, replay_buffer_config: dict[str, Any] | Any | None = NotProvided, **kwargs: Any
    ) -> A2CConfig:
        if replay_buffer_config not in (NotProvided, None):
            log.warning("A2C is on-policy: 'replay_buffer_config' is ignored")
        super().training(**kwargs)
        return self

    def validate(self) -> None:
        # Ours first: RLlib's PPO checks would otherwise report some bad values (a
        # batch of 0, a negative entropy coefficient) without naming the field.
        for name, expected in A2C_FIXED.items():
            value = getattr(self, name)
            if value != expected or type(value) is not type(expected):
                self._value_error(
                    f"A2C config: '{name}' must be {expected!r} (it is what makes PPO A2C; "
                    f"use PPO for other values), got {value!r}"
                )
        self._check_number("lr", low=0.0, strict=True)
        self._check_number("entropy_coeff", low=0.0)
        self._check_number("vf_loss_coeff", low=0.0)
        self._check_number("clip_param", low=0.0, strict=True)
        self._check_number("vf_clip_param", low=0.0, strict=True)
        self._check_number("lambda_", low=0.0, high=1.0)
        if not self._is_number(self.gamma) or not 0 < self.gamma <= 1:
            self._value_error(f"A2C config: 'gamma' must be in (0, 1], got {self.gamma!r}")
        if self.grad_clip is not None:
            self._check_number("grad_clip", low=0.0, strict=True)
        batch = self.train_batch_size_per_learner
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            self._value_error(
                f"A2C config: 'train_batch_size_per_learner' must be an integer >= 1, got {batch!r}"
            )
        try:  # the model fields too, before any module is built (in a Ray worker)
            A2CModelConfig.from_model_config(self.model_config)
        except InputError as exc:
            self._value_error(str(exc))
        super().validate()

    @staticmethod
    def _is_number(value: Any) -> bool:
        return not isinstance(value, bool) and isinstance(value, int | float)

    def _check_number(
        self, name: str, *, low: float, high: float | None = None, strict: bool = False
    ) -> None:
        value = getattr(self, name)
        above = self._is_number(value) and (value > low if strict else value >= low)
        if not above or (high is not None and value > high):
            bounds = f"{'>' if strict else '>='} {low}" + (
                f" and <= {high}" if high is not None else ""
            )
            self._value_error(f"A2C config: '{name}' must be a number {bounds}, got {value!r}")

    @property
    def model_config_class(self) -> type:
        """The dataclass of this algorithm's ``model_config`` keys (checked by ``rayrec``)."""
        return A2CModelConfig

    def get_default_rl_module_spec(self) -> RLModuleSpec:
        from rayrec.algorithms.a2c.torch.default_a2c_torch_rl_module import (
            DefaultA2CTorchRLModule,
        )

        return RLModuleSpec(module_class=DefaultA2CTorchRLModule)


class A2C(PPO):
    """A2C: RLlib's PPO ``training_step`` and learner with :class:`A2CConfig`'s preset."""

    @classmethod
    def get_default_config(cls) -> A2CConfig:
        return A2CConfig()
