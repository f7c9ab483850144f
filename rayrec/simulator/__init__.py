"""The learned user simulator: slates from logs, response + leave model, checkpoints."""

from rayrec.simulator.simulator import Simulator

__all__ = ["Simulator"]
