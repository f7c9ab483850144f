"""HAC: hyper-actor critic (Liu et al., WWW 2023)."""

from rayrec.algorithms.hac.hac import HAC, HACConfig

__all__ = ["HAC", "HACConfig"]
