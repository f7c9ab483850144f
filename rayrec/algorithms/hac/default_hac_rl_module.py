"""Framework-independent parts of the HAC RLModule: its model config.

The torch module is :class:`~rayrec.algorithms.hac.torch.default_hac_torch_rl_module.
DefaultHACTorchRLModule`. Its sizes come from ``config.rl_module(model_config={...})``
(defaults: the HAC reference code's SASRec, 2 layers, d = 32, 4 heads, FFN 64,
dropout 0.1; KuaiSim's actor and critic MLPs [256, 64]).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class HACModelConfig:
    """Network sizes and the exploration / target-smoothing settings of the module."""

    state_dim: int = 32
    n_layers: int = 2
    n_heads: int = 4
    ffn_dim: int = 64
    dropout: float = 0.1
    actor_hidden: tuple[int, ...] = (256, 64)
    critic_hidden: tuple[int, ...] = (256, 64)
    use_user_id: bool = True
    kernel_init_std: float = 0.1  # (ours) Φ initial scale
    twin_q: bool = False
    exploration_noise: float = 0.1
    noise_type: str = "gaussian"
    target_noise: float = 0.0
    target_noise_clip: float = 0.5
    #: (ours) dropout in the target encoder while computing Q'(s', π'(s')). Off by
    #: default: a deterministic TD target (the reference code's target networks ran in
    #: train mode, with dropout); also a third of the learner's encoder cost on CPU.
    target_dropout: bool = False
    #: (ours) Z = tanh(MLP(s)), bounded so the critic is never asked to extrapolate far
    #: (an unbounded Z diverged in our first runs). False: Z = MLP(s), as in the
    #: reference code. On ML-1M the bounded Z saturates (|Z| reaches √(d+1)).
    tanh_hyper_action: bool = True

    @classmethod
    def from_model_config(cls, model_config: dict[str, Any]) -> HACModelConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in model_config.items() if k in known}
        for key in ("actor_hidden", "critic_hidden"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)
