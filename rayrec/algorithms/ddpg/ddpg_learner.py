"""DDPG learner base: target networks (from RLlib's DQNLearner), TD3's delay, key names.

The torch losses are in :mod:`rayrec.algorithms.ddpg.torch.ddpg_torch_learner`. Each
optimizer is registered under a name and minimises the loss named ``<name>_loss``.
"""

from __future__ import annotations

from typing import Any

from ray.rllib.algorithms.dqn.dqn_learner import DQNLearner
from ray.rllib.core.rl_module.apis import TargetNetworkAPI

# optimizer names (each minimises the loss "<name>_loss")
CRITIC = "critic"
CRITIC_TWIN = "critic_twin"
ACTOR = "actor"

# optimizer losses
CRITIC_LOSS = f"{CRITIC}_loss"
CRITIC_TWIN_LOSS = f"{CRITIC_TWIN}_loss"
ACTOR_LOSS = f"{ACTOR}_loss"

# loss terms, as logged ("L_" + the paper's name)
TD_LOSS = "L_TD"
QMAX_LOSS = "L_QMax"
# HAC's alignment and supervision terms: optimised by HAC, logged by DDPG (slate spaces)
HYPER_LOSS = "L_Hyper"
BCE_LOSS = "L_BCE"


class DDPGLearner(DQNLearner):
    """DQNLearner's target networks (made in ``build``; τ and frequency from the config)
    and the count of updates that TD3's delayed actor reads."""

    def build(self) -> None:
        super().build()  # makes the target networks
        self._num_updates = 0

    @classmethod
    def rl_module_required_apis(cls) -> list[type]:
        return [TargetNetworkAPI]

    def _actor_delayed(self, cfg: Any) -> bool:
        """Whether this update skips the actor (TD3: all but every ``policy_delay``-th)."""
        return self._num_updates % max(1, cfg.policy_delay) != 0
