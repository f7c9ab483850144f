"""LSRWRL's RLModule in torch: the long/short-term Q-network and its target copy.

Implements RLlib's DQN APIs (``QNetAPI``, ``TargetNetworkAPI``) so RLlib's
``DQNTorchLearner`` trains it unchanged. Over the ``topn`` env's observation
(:mod:`rayrec.environments.topn`)::

    user_features (B, F_u), long_items (B, L), short_items (B, n), action_mask (B, I + 1)
    Q(s, ·) = LongShortQNetwork(...)           (B, I + 1)
    Q(s, i) = −∞ where action_mask[i] is False (padding, recommended, consumed)

RLlib's DQN loss reads −∞ as "not available": the taken action is always available,
and the double-Q bootstrap takes the argmax of the masked online values (a state with
nothing available is terminal, and ``nan_to_num`` makes its −∞ a 0 there). Exploration
is ε-greedy over the available items only (RLlib's default draws among the non-zero
finite values, which would skip an item whose Q is exactly 0).
"""

from __future__ import annotations

from typing import Any, cast

import gymnasium as gym
import torch
from ray.rllib.algorithms.dqn.default_dqn_rl_module import QF_PREDS
from ray.rllib.algorithms.dqn.torch.default_dqn_torch_rl_module import DefaultDQNTorchRLModule
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.utils import make_target_network
from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule
from ray.rllib.utils.schedules.scheduler import Scheduler

from rayrec.algorithms.lsrwrl.lsrwrl import LSRWRLModelConfig
from rayrec.environments.keys import (
    OBS_ACTION_MASK,
    OBS_LONG_ITEMS,
    OBS_SHORT_ITEMS,
    OBS_USER_FEATURES,
)
from rayrec.models.long_short import LongShortQNetwork


class LSRWRLTorchRLModule(DefaultDQNTorchRLModule):
    """The Q-network (``q_net``) and its target (``_target_q_net``); DQN's forward
    passes (inference: masked argmax; exploration: ε-greedy over available items;
    train: RLlib's, with the double-Q next-state pass)."""

    q_net: LongShortQNetwork
    _target_q_net: LongShortQNetwork

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # no catalog: the network is ours (DefaultDQNTorchRLModule would build DQN's)
        kwargs.pop("catalog_class", None)
        TorchRLModule.__init__(self, *args, **kwargs)

    def setup(self) -> None:
        mc = cast(dict[str, Any], self.model_config or {})
        cfg = LSRWRLModelConfig.from_model_config(mc)
        obs, act = self.observation_space, self.action_space
        need = (OBS_USER_FEATURES, OBS_LONG_ITEMS, OBS_SHORT_ITEMS, OBS_ACTION_MASK)
        if not isinstance(obs, gym.spaces.Dict) or not all(k in obs.spaces for k in need):
            raise ValueError(f"LSRWRL needs the topn env's observations ({need}), got {obs}")
        if not isinstance(act, gym.spaces.Discrete):
            raise ValueError(f"LSRWRL recommends one item: a Discrete action space, got {act}")
        n_user_features = int(cast(gym.spaces.Box, obs[OBS_USER_FEATURES]).shape[0])
        short_window = int(cast(gym.spaces.Box, obs[OBS_SHORT_ITEMS]).shape[0])
        self.net_config = cfg.network(
            n_items=int(act.n) - 1, n_user_features=n_user_features, short_window=short_window
        )
        self.uses_dueling = False
        self.uses_double_q = bool(mc.get("double_q", True))
        self.num_atoms = 1
        self.epsilon_schedule = Scheduler(
            fixed_value_or_schedule=mc.get("epsilon", 0.1), framework="torch"
        )
        self.q_net = LongShortQNetwork(self.net_config)

    # ------------------------------------------------------------ DQN's APIs
    def get_non_inference_attributes(self) -> list[str]:
        return ["_target_q_net"]

    def make_target_networks(self) -> None:
        self._target_q_net = cast(LongShortQNetwork, make_target_network(self.q_net))

    def get_target_network_pairs(self) -> list[tuple[Any, Any]]:
        return [(self.q_net, self._target_q_net)]

    def compute_q_values(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {QF_PREDS: self._masked_q(self.q_net, batch[Columns.OBS])}

    def forward_target(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {QF_PREDS: self._masked_q(self._target_q_net, batch[Columns.OBS])}

    def get_initial_state(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def _masked_q(net: LongShortQNetwork, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        q = net(
            obs[OBS_USER_FEATURES].float(),
            obs[OBS_LONG_ITEMS].long(),
            obs[OBS_SHORT_ITEMS].long(),
        )  # (B, I + 1)
        allowed = obs[OBS_ACTION_MASK].bool()  # (B, I + 1)
        return q.masked_fill(~allowed, float("-inf"))  # (B, I + 1)

    # ------------------------------------------------------------- acting
    def _forward_exploration(
        self, batch: dict[str, Any], t: int = 0, **kwargs: Any
    ) -> dict[str, Any]:
        """ε-greedy: the masked argmax, or with probability ε a uniform draw among the
        available items (``t``, the env runner's sampled steps, drives an ε schedule)."""
        q = self.compute_q_values(batch)[QF_PREDS]  # (B, I + 1)
        greedy = q.argmax(dim=-1)  # (B,)
        self.epsilon_schedule.update(t)
        epsilon = float(self.epsilon_schedule.get_current_value())
        allowed = batch[Columns.OBS][OBS_ACTION_MASK].bool()  # (B, I + 1)
        weights = allowed.float()
        # a row with nothing available (its episode ends) draws padding, never used
        weights[:, 0] += (~allowed.any(dim=-1)).float()
        random = torch.multinomial(weights, 1).squeeze(-1)  # (B,)
        explore = torch.rand(q.shape[0], device=q.device) < epsilon  # (B,)
        return {Columns.ACTIONS: torch.where(explore, random, greedy)}
