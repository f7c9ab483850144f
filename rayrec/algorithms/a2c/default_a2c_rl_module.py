"""Framework-independent parts of the A2C RLModule: its model config.

The torch module is :class:`~rayrec.algorithms.a2c.torch.default_a2c_torch_rl_module.
DefaultA2CTorchRLModule`. Sizes come from ``config.rl_module(model_config={...})``;
the defaults are HAC's (the same SASRec state encoder, ``../shared/specs/hac.md``
"Baselines: same state encoder"), except dropout (see ``dropout`` below).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from rayrec.algorithms.hac.default_hac_rl_module import HACModelConfig


@dataclass(frozen=True)
class A2CModelConfig:
    """Network sizes of the A2C module.

    Attributes:
        state_dim / n_layers / n_heads / ffn_dim: HAC's SASRec encoder (32, 2, 4, 64).
        dropout: encoder dropout, **0 by default (ours)**: an on-policy gradient needs
            the training forward to give the same log-probability as the acting one
            (the PPO ratio is then exactly 1); dropout during training would turn the
            ratio into random noise on the policy gradient.
        policy_hidden: the MLP from the state s to Z(s), scores Φ(i)ᵀZ(s) (HAC's
            hyper-actor sizes, [256, 64]).
        value_hidden: the MLP of the value head V(s) (HAC's critic sizes, [256, 64]).
        use_user_id: add a user-id embedding to the state (as HAC).
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

    @classmethod
    def from_model_config(cls, model_config: dict[str, Any]) -> A2CModelConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in model_config.items() if k in known}
        for key in ("policy_hidden", "value_hidden"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)

    def encoder_config(self) -> HACModelConfig:
        """The settings of HAC's :class:`StateEncoder`, which A2C reuses unchanged."""
        return HACModelConfig(
            state_dim=self.state_dim,
            n_layers=self.n_layers,
            n_heads=self.n_heads,
            ffn_dim=self.ffn_dim,
            dropout=self.dropout,
            use_user_id=self.use_user_id,
        )
