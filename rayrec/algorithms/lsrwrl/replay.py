"""RLlib's episode replay with a seeded sampling generator.

RLlib 2.60's ``EpisodeReplayBuffer`` draws its samples from ``default_rng(seed=None)``
(``../shared/RLLIB_NOTES.md``), so two runs with one seed replay different batches and
learn different Q-functions. :class:`SeededEpisodeReplayBuffer` is that buffer, unchanged
but for the generator: ``rng_seed`` (which ``rayrec train`` sets to the run's seed in
every off-policy ``replay_buffer_config``) seeds it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ray.rllib.utils.replay_buffers.episode_replay_buffer import EpisodeReplayBuffer

#: the dotted ``replay_buffer_config["type"]`` (RLlib requires the name to contain
#: ``EpisodeReplayBuffer``)
SEEDED_EPISODE_REPLAY_BUFFER = f"{__name__}.SeededEpisodeReplayBuffer"


class SeededEpisodeReplayBuffer(EpisodeReplayBuffer):
    """``EpisodeReplayBuffer`` whose samples follow ``rng_seed`` (module doc).

    Args:
        capacity: env steps kept (oldest episodes evicted).
        rng_seed: seed of the sampling generator (``None``: fresh entropy, RLlib's way).
        **kwargs: the rest of ``EpisodeReplayBuffer``'s arguments.
    """

    def __init__(self, capacity: int = 10_000, *, rng_seed: int | None = None, **kwargs: Any):
        super().__init__(capacity, **kwargs)
        self.rng = np.random.default_rng(rng_seed)
