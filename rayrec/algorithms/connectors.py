"""Learner connector pieces that bring the simulator's per-item feedback into batches."""

from __future__ import annotations

from typing import Any

import numpy as np
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core.rl_module.rl_module import RLModule

from rayrec.algorithms.keys import RESPONSE, SLATE_VALID
from rayrec.environments.keys import INFO_RESPONSE, INFO_SLATE_VALID


class AddSlateResponsesToTrainBatch(ConnectorV2):
    """Adds ``slate_response`` (K, F) and ``slate_valid`` (K,) for every timestep.

    The response to the slate taken at step t is in the info the env returned after
    that step, i.e. the episode's info at index t + 1.
    """

    def __call__(
        self,
        *,
        rl_module: RLModule,
        batch: dict[str, Any],
        episodes: list[Any],
        explore: bool | None = None,
        shared_data: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        if RESPONSE in batch:
            return batch
        for episode in self.single_agent_episode_iterator(episodes, agents_that_stepped_only=False):
            n = len(episode)
            infos = [episode.get_infos(t + 1) for t in range(n)]
            self.add_n_batch_items(
                batch,
                RESPONSE,
                items_to_add=[np.asarray(i[INFO_RESPONSE], dtype=np.float32) for i in infos],
                num_items=n,
                single_agent_episode=episode,
            )
            self.add_n_batch_items(
                batch,
                SLATE_VALID,
                items_to_add=[np.asarray(i[INFO_SLATE_VALID], dtype=bool) for i in infos],
                num_items=n,
                single_agent_episode=episode,
            )
        return batch
