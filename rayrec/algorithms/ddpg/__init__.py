"""DDPG and TD3 (a DDPG preset): the root of the off-policy actor-critic family."""

from rayrec.algorithms.ddpg.ddpg import DDPG, TD3, DDPGConfig, DDPGModelConfig, TD3Config

__all__ = ["DDPG", "TD3", "DDPGConfig", "DDPGModelConfig", "TD3Config"]
