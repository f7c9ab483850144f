"""SQN, its actor-critic variant (SAC) and plain CE on logged sessions (the CAL4Rec
paper's baselines), and the offline loop CAL4Rec shares."""

from rayrec.algorithms.sqn.sqn import SQN, SessionModelConfig, SQNConfig

__all__ = ["SQN", "SQNConfig", "SessionModelConfig"]
