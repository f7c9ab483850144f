"""DDPG and TD3 in the hyper-action space: presets of HAC (as SB3's DDPG is a TD3 preset)."""

from rayrec.algorithms.ddpg.ddpg import DDPG, TD3, DDPGConfig, TD3Config

__all__ = ["DDPG", "TD3", "DDPGConfig", "TD3Config"]
