"""The learned user simulator: slates from logs, response + leave model, batched envs."""

from rayrec.simulator.env import EnvConfig, LeaveConfig, SingleUserSlateEnv, SlateEnv
from rayrec.simulator.simulator import Simulator

__all__ = ["EnvConfig", "LeaveConfig", "Simulator", "SingleUserSlateEnv", "SlateEnv"]
