"""A2C over slates: the HAC paper's policy-gradient baseline, as a preset of RLlib's PPO."""

from rayrec.algorithms.a2c.a2c import A2C, A2CConfig

__all__ = ["A2C", "A2CConfig"]
