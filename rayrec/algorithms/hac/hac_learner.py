"""HAC learner base: target-network handling (from RLlib's DQNLearner) and batch pieces.

Loss names live in :mod:`rayrec.algorithms.keys`; the torch losses in
:mod:`rayrec.algorithms.hac.torch.hac_torch_learner`.
"""

from __future__ import annotations

from ray.rllib.algorithms.dqn.dqn_learner import DQNLearner
from ray.rllib.connectors.common.add_observations_from_episodes_to_batch import (
    AddObservationsFromEpisodesToBatch,
)
from ray.rllib.core.rl_module.apis import TargetNetworkAPI

from rayrec.algorithms.connectors import AddSlateResponsesToTrainBatch


class HACLearner(DQNLearner):
    """DQNLearner's target updates (τ, frequency) + the slate-response batch column."""

    def build(self) -> None:
        super().build()  # makes target nets, adds NEXT_OBS to train batches
        assert self._learner_connector is not None
        self._learner_connector.insert_after(
            AddObservationsFromEpisodesToBatch, AddSlateResponsesToTrainBatch()
        )

    @classmethod
    def rl_module_required_apis(cls) -> list[type]:
        return [TargetNetworkAPI]
