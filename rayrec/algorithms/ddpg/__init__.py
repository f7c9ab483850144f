"""DDPG and TD3 (a DDPG preset): the root of the off-policy actor-critic family."""

from rayrec.algorithms.ddpg.ddpg import DDPG, TD3, DDPGConfig, DDPGModelConfig, TD3Config
from rayrec.algorithms.ddpg.ddpg_la import DDPGLA, DDPGLAConfig, DDPGLAModelConfig

__all__ = [
    "DDPG",
    "DDPGLA",
    "TD3",
    "DDPGConfig",
    "DDPGLAConfig",
    "DDPGLAModelConfig",
    "DDPGModelConfig",
    "TD3Config",
]
