"""Supervised baselines of the HAC paper."""

from rayrec.algorithms.supervised.offline_sl import OfflineSL, OfflineSLConfig
from rayrec.algorithms.supervised.online_sl import OnlineSL, OnlineSLConfig

__all__ = ["OfflineSL", "OfflineSLConfig", "OnlineSL", "OnlineSLConfig"]
