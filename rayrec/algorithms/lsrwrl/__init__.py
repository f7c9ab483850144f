"""LSRWRL: RLlib's DQN over DeepFM long-term + self-attention short-term interest."""

from rayrec.algorithms.lsrwrl.lsrwrl import LSRWRL, LSRWRLConfig, LSRWRLModelConfig

__all__ = ["LSRWRL", "LSRWRLConfig", "LSRWRLModelConfig"]
