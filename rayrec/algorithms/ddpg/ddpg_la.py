"""DDPG-LA: DDPG over long- and short-term user interest, for rating prediction.

The second seed method (``../shared/specs/ddpg_la.md``; the paper's equations were
images, so every choice marked *ours* is a field). DDPG-LA is the DDPG family root
(:mod:`rayrec.algorithms.ddpg.ddpg`) with another state encoder and a continuous rating
action, on the ``rating_walk`` env kind (:mod:`rayrec.environments.rating_walk`):

- state ``s = [long; short; current]``: an RLSTM over the user's whole history (an LSTM
  whose cell state passes ``f_E(c) = sign(c)·|c|^p``), a T-self-attention over the last
  m records, and the record whose rating is predicted
  (:class:`~rayrec.models.interest.InterestEncoder`);
- action: the predicted normalised rating ``a = (tanh(MLP(s)) + 1) / 2 = σ(2·MLP(s))`` in
  [0, 1] (the spec's sigmoid head), a Box action of DDPG's;
- reward ``1 − |a − r|`` (the env's; other forms are env-spec options).

The eight variants of the paper's ablation are one field, ``model.variant``. The losses
are DDPG's (L_TD for the critic, L_QMax for the actor). The recurrent state is carried
at acting time (RLlib's stateful-module path: one cell step per new record) and trained
from replay by re-running the cell over the last ``train_window`` records from the state
stored when the transition was sampled
(:mod:`rayrec.algorithms.ddpg.torch.ddpg_la_torch_rl_module`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from rayrec.algorithms.ddpg.ddpg import DDPG, NOISE_TYPES, DDPGConfig
from rayrec.models.checks import check_choice, check_number, check_widths
from rayrec.models.interest import InterestEncoderConfig

#: how the critic encodes the state: its own encoder (the spec's, ours) or the actor's
CRITIC_ENCODERS = ("separate", "shared")


@dataclass(frozen=True)
class DDPGLAModelConfig:
    """The networks of DDPG-LA; every field is checked on construction
    (``rayrec train ddpg-la --config model.<field>=value``).

    Attributes:
        variant ... item_embedding_dim: the state encoder
            (:class:`~rayrec.models.interest.InterestEncoderConfig`, same names).
        actor_hidden / critic_hidden: hidden widths of π and Q ([64, 32], ours).
        critic_encoder: ``separate`` (ours, the spec's "a copy in the critic"): the
            critic has its own encoder, trained by L_TD, with its own carried state;
            ``shared``: the critic reads the actor's state, detached (DDPG's default).
        exploration_noise / noise_type: the noise on the latent action z ∈ [-1, 1]
            while exploring (σ = 0.1, Gaussian; z is clipped back to [-1, 1]).
    """

    variant: str = "rlstm+t_attention"
    record_dim: int = 32
    hidden_dim: int = 32
    attention_dim: int = 32
    enhancement_p: float = 0.5
    short_window: int = 5
    position_weights: str = "linear"
    softmax_beta: float = 1.0
    train_window: int = 8
    item_embedding_dim: int = 0
    actor_hidden: tuple[int, ...] = (64, 32)
    critic_hidden: tuple[int, ...] = (64, 32)
    critic_encoder: str = "separate"
    exploration_noise: float = 0.1
    noise_type: Literal["gaussian", "uniform"] = "gaussian"

    def __post_init__(self) -> None:
        self.encoder_config()  # checks the encoder's fields
        for name in ("actor_hidden", "critic_hidden"):
            object.__setattr__(self, name, check_widths(f"model.{name}", getattr(self, name)))
        object.__setattr__(
            self,
            "exploration_noise",
            check_number("model.exploration_noise", self.exploration_noise, low=0.0),
        )
        check_choice("model.noise_type", self.noise_type, NOISE_TYPES)
        check_choice("model.critic_encoder", self.critic_encoder, CRITIC_ENCODERS)

    def encoder_config(self) -> InterestEncoderConfig:
        """The state encoder's settings (its own checks run)."""
        return InterestEncoderConfig.of(self)

    @classmethod
    def from_model_config(cls, model_config: dict[str, Any]) -> DDPGLAModelConfig:
        """The fields of an RLlib ``model_config`` dict (other keys ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in model_config.items() if k in known})


class DDPGLAConfig(DDPGConfig):
    """DDPG's config with DDPG-LA's module and defaults.

    Defaults (the paper gives few; the rest are ours and fields): γ = 0.99 (the paper's
    best of its γ study), actor / critic learning rates 1e-4 / 1e-3, τ = 0.01, batch 64,
    replay 50,000 transitions (a transition holds two windows of W records: ~6 kB),
    learning after 1,000 steps, 8 trained samples per sampled step
    (``training_intensity``: one update of 64 per 8 rated records; Lillicrap et al.'s
    one update per step would make a pass over ML-1M's 389k train records ~2 h on one
    core, and at 1 (one update per 64 records) 30k steps moved the RMSE nowhere), no
    gradient clipping. Twin critics are not offered.
    """

    model_config_class: Any = DDPGLAModelConfig
    _label = "DDPG-LA"

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or DDPGLA)
        self.gamma = 0.99
        self.training_intensity = 8.0
        self.num_steps_sampled_before_learning_starts = 1000
        self.replay_buffer_config = {"type": "EpisodeReplayBuffer", "capacity": 50_000}

    def validate(self) -> None:
        super().validate()
        if self.twin_q or self.target_noise:
            self._value_error("DDPG-LA config: twin critics / target smoothing are not offered")

    def get_default_rl_module_spec(self) -> RLModuleSpec:
        from rayrec.algorithms.ddpg.torch.ddpg_la_torch_rl_module import DDPGLATorchRLModule

        return RLModuleSpec(module_class=DDPGLATorchRLModule)

    @property
    def _model_config_auto_includes(self) -> dict[str, Any]:
        return {
            "exploration_noise": self.exploration_noise,
            "noise_type": self.noise_type,
        }


class DDPGLA(DDPG):
    """DDPG's loop with :class:`DDPGLAConfig`."""

    @classmethod
    def get_default_config(cls) -> DDPGLAConfig:
        return DDPGLAConfig()
