"""HAC: hyper-actor critic (Liu et al., WWW 2023), an extension of DDPG."""

from rayrec.algorithms.hac.hac import HAC, HACConfig

__all__ = ["HAC", "HACConfig"]
