"""Offline SL: the SASRec policy trained with BCE on the logged data.

The HAC paper's "Offline SL" baseline (``../shared/specs/hac.md``, "Baselines") is
SASRec trained on the logged exposures with a binary cross-entropy on the logged
per-item feedback. Here it is :class:`~rayrec.algorithms.supervised.online_sl.OnlineSL`'s
module and learner — HAC's with ``actor_q_coef = 0``, ``hyper_actor_coef = 0``,
``bce_coef = 1`` — fed from the log instead of the simulator::

    L_BCE = BCE(σ(Φ(a_t,i)ᵀ Z_t), y_t,i)  over the logged slate a_t,  Z_t = π(s_t)   actor, kernel
    L_TD  = (r_t + γ (1 − terminated) Q'(s_{t+1}, π'(s_{t+1})) − Q(s_t, Ẑ(a_t)))²     critic

The data are the slates the *train* simulator was fitted on (the first 80% of the
log by time), as transitions in the env's observation format
(:mod:`rayrec.environments.logged`). Z_t comes from the module's training
forward (no exploration noise and no stored hyper-action: the BCE is on π(s_t)).
The critic is fitted on the logged returns and logged, but the policy never uses it.

Ours: each iteration draws ``updates_per_iteration`` minibatches of
``train_batch_size_per_learner`` transitions uniformly with replacement, from a
generator seeded by (seed, iteration): two runs with one seed draw the same
minibatches, and a run restored from a checkpoint (which keeps the iteration count)
continues the stream where it stopped.
Nothing is sampled from the environment; it is there for the spaces and for the
greedy evaluation (``algo.get_module()``, synced from the learner after each
iteration).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.metrics import (
    LEARNER_RESULTS,
    LEARNER_UPDATE_TIMER,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    SYNCH_WORKER_WEIGHTS_TIMER,
    TIMERS,
)

from rayrec.algorithms.hac.hac import HAC, HACConfig
from rayrec.environments.logged import LoggedTransitions, train_part_transitions
from rayrec.errors import InputError

#: metric: transitions in the train part of the log
NUM_LOGGED_TRANSITIONS = "num_logged_transitions"


class OfflineSLConfig(HACConfig):
    """HAC's config with Online SL's loss weights and an offline data source.

    Training fields (``config.training(...)``), besides HAC's:
        updates_per_iteration: learner updates (minibatches) per ``train()`` call (8: as
            many as HAC makes per iteration at its defaults, 256 env steps × 2 / 64).
        logged_data_dir: the dataset folder to rebuild the log from (default: the env
            spec's ``dataset.path``, then ``$RAYREC_DATA``; unused for ``synthetic``).

    Replay and exploration settings of HAC are unused. An iteration is exactly
    ``updates_per_iteration`` updates, so RLlib's per-iteration minimums
    (``min_sample_timesteps_per_iteration`` etc.) must stay 0: no env steps are
    sampled, and a minimum on them would never be met.
    """

    #: mirrors the registry entry's ``samples_env=False`` (what ``rayrec.train.build_config``
    #: reads: no per-iteration minimum of env steps); the contract test checks they agree
    samples_env_steps = False

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or OfflineSL)
        self.actor_q_coef = 0.0
        self.hyper_actor_coef = 0.0
        self.bce_coef = 1.0
        self.updates_per_iteration = 8
        self.logged_data_dir: str | None = None
        self.min_sample_timesteps_per_iteration = 0
        self.num_steps_sampled_before_learning_starts = 0

    def training(
        self,
        *,
        updates_per_iteration: int | Any = NotProvided,
        logged_data_dir: str | Any | None = NotProvided,
        **kwargs: Any,
    ) -> OfflineSLConfig:
        super().training(**kwargs)
        if updates_per_iteration is not NotProvided:
            self.updates_per_iteration = updates_per_iteration
        if logged_data_dir is not NotProvided:
            self.logged_data_dir = logged_data_dir
        return self

    def validate(self) -> None:
        super().validate()
        n = self.updates_per_iteration
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            self._value_error(
                f"Offline SL config: 'updates_per_iteration' must be an integer >= 1, got {n!r}"
            )
        d = self.logged_data_dir
        if d is not None and (not isinstance(d, str) or not d):
            self._value_error(
                f"Offline SL config: 'logged_data_dir' must be a folder path or None, got {d!r}"
            )
        for name in (
            "min_sample_timesteps_per_iteration",
            "min_train_timesteps_per_iteration",
            "min_time_s_per_iteration",
        ):
            if getattr(self, name):
                self._value_error(
                    f"Offline SL config: '{name}' must be 0 (an offline iteration is"
                    f" 'updates_per_iteration' updates), got {getattr(self, name)!r}"
                )


class OfflineSL(HAC):
    """HAC's module and learner, updated on minibatches of logged transitions."""

    logged: LoggedTransitions

    @classmethod
    def get_default_config(cls) -> OfflineSLConfig:
        return OfflineSLConfig()

    def setup(self, config: Any) -> None:
        super().setup(config)
        cfg: Any = self.config
        if not (cfg.env_config or {}).get("simulator"):
            raise InputError(
                "offline-sl: env_config 'simulator' is required; its train part of the log"
                " is the training data (see rayrec.environments.rllib_env)"
            )
        self.logged = train_part_transitions(cfg.env_config, cfg.logged_data_dir)
        if len(self.logged) == 0:
            raise InputError(f"offline-sl: {cfg.env_config['simulator']}: no logged slates")
        self._logged_trained = 0

    def training_step(self) -> None:
        cfg: Any = self.config
        metrics, learners, runners = self.metrics, self.learner_group, self.env_runner_group
        assert metrics is not None and learners is not None and runners is not None
        seed = 0 if cfg.seed is None else int(cfg.seed)
        rng = np.random.default_rng([seed, self.iteration])
        size = cfg.total_train_batch_size
        for _ in range(cfg.updates_per_iteration):
            idx = rng.integers(0, len(self.logged), size=size)  # (B,)
            batch = MultiAgentBatch(
                {DEFAULT_MODULE_ID: SampleBatch(self.logged.batch(idx))}, env_steps=size
            )
            self._logged_trained += size
            with metrics.log_time((TIMERS, LEARNER_UPDATE_TIMER)):
                results = learners.update(
                    batch=batch,
                    # the target-network schedule counts logged transitions
                    timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: self._logged_trained},
                )
            metrics.aggregate(results, key=LEARNER_RESULTS)
        metrics.log_value(NUM_LOGGED_TRANSITIONS, len(self.logged), window=1)
        with metrics.log_time((TIMERS, SYNCH_WORKER_WEIGHTS_TIMER)):
            runners.sync_weights(from_worker_or_learner_group=learners, inference_only=True)
