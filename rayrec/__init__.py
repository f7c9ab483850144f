"""rayrec: distributed reinforcement learning for recommender systems on Ray RLlib."""

__version__ = "0.1.0"
