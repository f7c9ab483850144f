"""Supervised baselines of the HAC paper."""

from rayrec.algorithms.supervised.online_sl import OnlineSL, OnlineSLConfig

__all__ = ["OnlineSL", "OnlineSLConfig"]
