"""A random slate policy as an RLlib RLModule: the baseline every algorithm must beat.

Each forward pass draws K distinct items uniformly from the pool for every
observation (Gumbel top-K over a uniform score, one tensor op), so slates are
always valid actions of :class:`~rayrec.environments.slate.SlateEnv`. It has no
parameters to train; :class:`RandomSlateConfig` is an ``AlgorithmConfig`` whose
default module is this one, which lets env runners sample without an algorithm.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule


class RandomSlateModule(TorchRLModule):
    """Uniformly random slates of K distinct item ids in 1..I.

    Shapes: any observation batch of size B -> actions (B, K) int64.
    """

    def setup(self) -> None:
        space = self.action_space
        if not isinstance(space, gym.spaces.MultiDiscrete):
            raise ValueError(f"RandomSlateModule needs a MultiDiscrete slate space, got {space}")
        self.n_items = int(space.nvec[0])
        self.slate_size = len(space.nvec)
        self.start = int(space.start[0])
        # A parameter-free module still needs one buffer for `.to(device)` to work.
        self.register_buffer("_anchor", torch.zeros(1))

    def _batch_size(self, batch: dict[str, Any]) -> int:
        obs = batch[Columns.OBS]
        first = next(iter(obs.values())) if isinstance(obs, dict) else obs
        return int(first.shape[0])

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        b = self._batch_size(batch)
        keys = torch.rand(b, self.n_items, device=self._anchor.device)  # (B, I)
        slates = keys.topk(self.slate_size, dim=1).indices + self.start  # (B, K)
        return {Columns.ACTIONS: slates}

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        raise NotImplementedError("RandomSlateModule has nothing to train")


class RandomSlateConfig(AlgorithmConfig):
    """An AlgorithmConfig whose default RLModule is :class:`RandomSlateModule`."""

    def get_default_rl_module_spec(self) -> RLModuleSpec:
        return RLModuleSpec(module_class=RandomSlateModule)
