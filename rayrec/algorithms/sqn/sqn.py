"""SQN, its actor-critic variant (SAC) and plain CE: offline learners on logged sessions.

Xin et al., "Self-Supervised Reinforcement Learning for Recommender Systems", SIGIR 2020,
as ``../shared/specs/cal4rec.md`` ("Baselines") describes the authors' code. On the
``logged_sessions`` env kind (:mod:`rayrec.environments.sessions`): replay rows
``(s, a, is_buy, s', done)`` of the train sessions, ``s`` the previous ≤ 10 items.
One shared encoder per network (GRU, NextItNet or SASRec: ``backbone``) with two heads
over all N items; per replay row, with reward ``r`` = 1.0 for a purchase, 0.2 for a
click::

    L_CE = −log softmax(W_ce s + b_ce)[a]                                  (CE head)
    L_TD = 0.5 (r + γ (1 − done) Q'(s', argmax_a' Q(s', a')) − Q(s, a))²    (Q head, SQN)
    SQN:  mean(L_TD + L_CE)
    SAC:  mean(L_TD + L_CE),  then after T updates  mean(L_TD + stop_grad(Q(s, a)) · L_CE)
    CE:   mean(L_CE)            (one network, no Q head)

Double Q as the reference code does it (van Hasselt's, not a lagged target): two
complete networks; each update a coin flip picks the one trained (``Q``, its CE head
too) and the other gives the bootstrap value ``Q'``; the trained network selects the
next action. One Adam over both (the untrained network gets no gradient, so it does
not move). Recommendations and metrics use network 0's CE head.

The offline loop (:class:`SQN`, shared with CAL4Rec): an iteration is
``updates_per_iteration`` minibatches of ``train_batch_size_per_learner`` train rows,
drawn without replacement through a seeded permutation per epoch (ours: the reference
samples each batch with replacement). Every ``validation_interval`` iterations the
learner's weights are evaluated on the validation sessions by the SQN protocol
(:mod:`rayrec.metrics.next_item`); the weights with the best ``selection_metric`` so
far are the *selected* ones — they sit in the env runner's module, so
``algo.get_module()`` (what ``rayrec evaluate`` and the final test evaluation read) is
the selected checkpoint, and they travel in checkpoints. ``best_valid_<metric>`` logs
the best of all periodic validations of each metric: the SQN authors' reported figure.

Defaults: the paper's (batch 256, γ 0.5, lr 0.005 — the reference's RetailRocket rate;
0.01 on RC15 — rewards 0.2 / 1.0 come from the env spec, T = 15,000 for SAC). Ours:
the epoch-permutation sampling, the validation interval and the selection metric
(``total@20``: the sum of the four @20 figures over the targets that exist).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, cast

import numpy as np
from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig, NotProvided
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.metrics import (
    LEARNER_RESULTS,
    LEARNER_UPDATE_TIMER,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    TIMERS,
)

from rayrec.algorithms.sqn.sqn_learner import (
    BEST_VALID_PREFIX,
    EPOCHS,
    NUM_UPDATES,
    SELECTED_ITERATION,
    SELECTED_MODULE_DIR,
    SELECTED_VALUE,
    TRAIN_ROWS,
    VALID_PREFIX,
)
from rayrec.data.sessions import PART_TRAIN, PART_VALID, SessionData
from rayrec.errors import InputError
from rayrec.metrics.next_item import KS, NEXT_ITEM_METRICS, NextItemSums, next_item_metrics
from rayrec.models.checks import check_int, check_number
from rayrec.models.session import BACKBONES

#: the methods of the SQN family (``method``)
METHODS = ("ce", "sqn", "sac")
#: algorithm state key of the selected weights (kept in checkpoints)
SELECTION_STATE = "rayrec_selection"


@dataclass(frozen=True)
class SessionModelConfig:
    """The encoder's sizes (``rayrec train ... --config model.<field>=value``); the
    backbone is the training field ``backbone``, the item pool and the state length
    come from the env's spaces.

    Attributes:
        dim: item embedding and state size d (64, the paper's d_e = d_s).
        dropout: the encoder's dropout; None (default) is each backbone's in the SQN
            code: 0.1 for SASRec, none for GRU and NextItNet.
    """

    dim: int = 64
    dropout: float | None = None

    def __post_init__(self) -> None:
        check_int("model.dim", self.dim, low=1)
        if self.dropout is not None:
            check_number("model.dropout", self.dropout, low=0.0, high=1.0, high_open=True)

    @classmethod
    def from_model_config(cls, model_config: dict[str, Any]) -> SessionModelConfig:
        """The fields of an RLlib ``model_config`` dict (other keys ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in model_config.items() if k in known})


class SQNConfig(AlgorithmConfig):
    """Configuration of :class:`SQN` (module doc: the losses).

    Training fields (``config.training(...)`` / ``--config name=value``):
        method: ``sqn`` (default), ``sac`` (the SQN paper's actor-critic variant, not
            soft actor-critic) or ``ce`` (the backbone alone).
        backbone: ``gru``, ``nextitnet`` or ``sasrec`` (default).
        gamma: discount γ of the TD target (0.5).
        lr: Adam's learning rate (0.005).
        train_batch_size_per_learner: replay rows per update (256).
        sac_start: T, the updates of plain SQN before SAC weights the CE (15,000).
        sac_clip_weight: clip SAC's weight Q(s, a) at ≥ 0 (False; ours — Q can go
            negative and then pushes the logged item down).
        updates_per_iteration: minibatches per ``train()`` (500).
        validation_interval: iterations between validations (1; 0 = never: the last
            weights are the selected ones).
        selection_metric: the validation metric that selects the weights (``total@20``).
        max_nonfinite_updates: consecutive updates with a NaN / inf loss tolerated (each
            is skipped) before the run stops with an error (10).
    """

    model_config_class: Any = SessionModelConfig
    #: mirrors the registry entry's ``samples_env=False``
    samples_env_steps = False
    _label = "SQN"

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or SQN)
        self.method = "sqn"
        self.backbone = "sasrec"
        self.gamma = 0.5
        self.lr = 0.005
        self.train_batch_size_per_learner = 256
        self.sac_start = 15_000
        self.sac_clip_weight = False
        self.updates_per_iteration = 500
        self.validation_interval = 1
        self.selection_metric = "total@20"
        self.max_nonfinite_updates = 10
        self.grad_clip = None
        # the learners guard their losses (``max_nonfinite_updates``): RLlib's second
        # scan of every gradient for NaN / inf costs ~15% of an update on a 37k pool
        self.torch_skip_nan_gradients = True
        self.num_env_runners = 0
        self.min_sample_timesteps_per_iteration = 0

    def training(
        self,
        *,
        method: str | Any = NotProvided,
        backbone: str | Any = NotProvided,
        sac_start: int | Any = NotProvided,
        sac_clip_weight: bool | Any = NotProvided,
        updates_per_iteration: int | Any = NotProvided,
        validation_interval: int | Any = NotProvided,
        selection_metric: str | Any = NotProvided,
        max_nonfinite_updates: int | Any = NotProvided,
        **kwargs: Any,
    ) -> SQNConfig:
        super().training(**kwargs)
        self._set_provided(
            method=method,
            backbone=backbone,
            sac_start=sac_start,
            sac_clip_weight=sac_clip_weight,
            updates_per_iteration=updates_per_iteration,
            validation_interval=validation_interval,
            selection_metric=selection_metric,
            max_nonfinite_updates=max_nonfinite_updates,
        )
        return self

    def _set_provided(self, **values: Any) -> None:
        """Sets the fields given a value other than ``NotProvided``."""
        for name, value in values.items():
            if value is not NotProvided:
                setattr(self, name, value)

    def _check_int(self, name: str, low: int) -> None:
        value = getattr(self, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            self._value_error(
                f"{self._label} config: '{name}' must be an integer >= {low}, got {value!r}"
            )

    def _check_choice(self, name: str, choices: tuple[str, ...]) -> None:
        value = getattr(self, name)
        if value not in choices:
            self._value_error(
                f"{self._label} config: '{name}' must be one of {', '.join(choices)}, got {value!r}"
            )

    def validate(self) -> None:
        super().validate()
        self._check_choice("method", METHODS)
        self._check_choice("backbone", BACKBONES)
        self._check_choice("selection_metric", NEXT_ITEM_METRICS)
        for name, low in (
            ("sac_start", 0),
            ("updates_per_iteration", 1),
            ("validation_interval", 0),
            ("max_nonfinite_updates", 0),
        ):
            self._check_int(name, low)
        if not isinstance(self.sac_clip_weight, bool):
            self._value_error(
                f"{self._label} config: 'sac_clip_weight' must be true or false,"
                f" got {self.sac_clip_weight!r}"
            )
        g = self.gamma
        if isinstance(g, bool) or not isinstance(g, int | float) or not 0.0 <= g <= 1.0:
            self._value_error(f"{self._label} config: 'gamma' must be in [0, 1], got {g!r}")
        for name in (
            "min_sample_timesteps_per_iteration",
            "min_train_timesteps_per_iteration",
            "min_time_s_per_iteration",
        ):
            if getattr(self, name):
                self._value_error(
                    f"{self._label} config: '{name}' must be 0 (an offline iteration is"
                    f" 'updates_per_iteration' updates), got {getattr(self, name)!r}"
                )
        try:
            self.model_config_class.from_model_config(self.model_config)
        except InputError as exc:
            self._value_error(str(exc))

    @property
    def _model_config_auto_includes(self) -> dict[str, Any]:
        sessions = (self.env_config or {}).get("sessions") or {}
        two = self.method in ("sqn", "sac")
        return {
            "backbone": self.backbone,
            "padding": sessions.get("padding", "end"),
            "n_networks": 2 if two else 1,
            "q_head": two,
        }

    def get_default_rl_module_spec(self) -> RLModuleSpec:
        from rayrec.algorithms.sqn.torch.default_sqn_torch_rl_module import (
            DefaultSQNTorchRLModule,
        )

        return RLModuleSpec(module_class=DefaultSQNTorchRLModule)

    def get_default_learner_class(self) -> type:
        from rayrec.algorithms.sqn.torch.sqn_torch_learner import SQNTorchLearner

        return SQNTorchLearner


@dataclass
class Selection:
    """The validation record: the selected weights and the best figures so far."""

    value: float = -math.inf  #: the selected weights' selection metric
    iteration: int = 0  #: the iteration they come from (0: none yet)
    weights: dict[str, Any] | None = None  #: the module state (None: none yet)
    best: dict[str, float] | None = None  #: best of all validations, per metric


class SQN(Algorithm):
    """The offline loop over logged sessions (module doc), with validation selection."""

    data: SessionData
    train_rows: np.ndarray

    @classmethod
    def get_default_config(cls) -> SQNConfig:
        return SQNConfig()

    def setup(self, config: Any) -> None:
        super().setup(config)
        from rayrec.environments.sessions import session_data_for

        cfg: Any = self.config
        self.data = session_data_for(cfg.env_config)
        self.train_rows = self.data.rows(PART_TRAIN)
        if not len(self.train_rows):
            raise InputError(f"{cfg.env_config.get('spec')}: no train rows")
        self.selection = Selection()
        self._updates = 0
        self._rows_drawn = 0  # position in the stream of epoch permutations
        self._perms: dict[int, np.ndarray] = {}

    # ----------------------------------------------------------- minibatches
    def minibatches_per_update(self) -> int:
        """Minibatches of ``train_batch_size_per_learner`` rows one learner update
        takes (1; CAL4Rec's discriminator steps take more)."""
        return 1

    def _rows(self, first: int, size: int) -> np.ndarray:
        """Train rows at stream positions ``first .. first + size``: the endless stream
        of epoch permutations (epoch e shuffled by the generator of (seed, e))."""
        n = len(self.train_rows)
        epoch, offset = np.divmod(np.arange(first, first + size), n)  # (size,), (size,)
        picked = np.empty(size, dtype=np.int64)
        for e in np.unique(epoch):  # one or two epochs per minibatch
            at = epoch == e
            picked[at] = self._permutation(int(e))[offset[at]]
        return self.train_rows[picked]  # (size,)

    def _permutation(self, epoch: int) -> np.ndarray:
        """The order of the train rows in ``epoch`` (the last two are kept)."""
        if epoch not in self._perms:
            seed = int(self.config.seed or 0)  # type: ignore[union-attr]
            order = np.random.default_rng([seed, epoch]).permutation(len(self.train_rows))
            self._perms = {e: p for e, p in self._perms.items() if e == epoch - 1}
            self._perms[epoch] = order
        return self._perms[epoch]

    def training_step(self) -> None:
        cfg: Any = self.config
        metrics: Any = self.metrics
        size = cfg.total_train_batch_size * self.minibatches_per_update()
        for _ in range(cfg.updates_per_iteration):
            rows = self._rows(self._rows_drawn, size)
            self._rows_drawn += size
            batch = MultiAgentBatch(
                {DEFAULT_MODULE_ID: SampleBatch(self.data.batch(rows))}, env_steps=size
            )
            self._updates += 1
            with metrics.log_time((TIMERS, LEARNER_UPDATE_TIMER)):
                results = self.learner_group.update(  # type: ignore[union-attr]
                    batch=batch,
                    timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: self._rows_drawn},
                )
            metrics.aggregate(results, key=LEARNER_RESULTS)
        metrics.log_value(NUM_UPDATES, self._updates, window=1)
        metrics.log_value(EPOCHS, self._rows_drawn / len(self.train_rows), window=1)
        metrics.log_value(TRAIN_ROWS, len(self.train_rows), window=1)
        self._select(self.iteration + 1)

    # ------------------------------------------------------------- selection
    def _select(self, iteration: int) -> None:
        """Validate the learner's weights when due; keep the best as the selected."""
        cfg: Any = self.config
        runners: Any = self.env_runner_group
        module = self.env_runner.module
        metrics: Any = self.metrics
        due = cfg.validation_interval and iteration % cfg.validation_interval == 0
        runners.sync_weights(from_worker_or_learner_group=self.learner_group, inference_only=True)
        if not due:
            if cfg.validation_interval == 0:  # never validated: the last weights are selected
                self.selection = Selection(0.0, iteration, None, self.selection.best)
            elif self.selection.weights is not None:
                module.set_state(self.selection.weights)
            self._log_selection()
            return
        values = validation_metrics(module, self.data)
        for name, value in values.items():
            metrics.log_value(VALID_PREFIX + name, value, window=1)
        best = dict(self.selection.best or {})
        for name, value in values.items():
            if math.isfinite(value) and not value <= best.get(name, -math.inf):
                best[name] = value
        value = values[cfg.selection_metric]
        if self.selection.weights is None or value > self.selection.value:
            self.selection = Selection(value, iteration, copy.deepcopy(module.get_state()), best)
        else:
            self.selection.best = best
            module.set_state(self.selection.weights)
        self._log_selection()

    def _log_selection(self) -> None:
        sel, metrics = self.selection, cast(Any, self.metrics)
        metrics.log_value(SELECTED_ITERATION, sel.iteration, window=1)
        metrics.log_value(SELECTED_VALUE, sel.value, window=1)
        for name, value in (sel.best or {}).items():
            metrics.log_value(BEST_VALID_PREFIX + name, value, window=1)

    def get_state(
        self,
        components: Any = None,
        *,
        not_components: Any = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """RLlib's state plus the selection record and the update count (the env
        runner's module — the selected weights — is not in RLlib's checkpoints)."""
        state = super().get_state(components, not_components=not_components, **kwargs)
        if self._check_component(SELECTION_STATE, components, not_components):
            sel = self.selection
            state[SELECTION_STATE] = {
                "value": sel.value,
                "iteration": sel.iteration,
                "weights": sel.weights,
                "best": sel.best,
                "updates": self._updates,
                "rows_drawn": self._rows_drawn,
            }
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)  # syncs the learner's weights to the env runner
        saved = state.get(SELECTION_STATE)
        if saved is not None:
            self.selection = Selection(
                saved["value"], saved["iteration"], saved["weights"], saved["best"]
            )
            self._updates = int(saved["updates"])
            self._rows_drawn = int(saved["rows_drawn"])
            if self.selection.weights is not None:
                self.env_runner.module.set_state(self.selection.weights)

    def save_to_path(self, path: Any = None, *args: Any, **kwargs: Any) -> str:
        """RLlib's checkpoint, plus the selected module as an RLModule folder
        (:data:`SELECTED_MODULE_DIR`: what ``rayrec evaluate`` scores)."""
        saved = str(super().save_to_path(path, *args, **kwargs))
        self.env_runner.module.save_to_path(str(Path(saved) / SELECTED_MODULE_DIR))
        return saved

    def restore_from_path(self, path: Any, *args: Any, **kwargs: Any) -> None:
        """RLlib's restore, then the selected weights back in the env runner's module:
        RLlib syncs it from the restored learner (the last weights) after
        :meth:`set_state` has put the selected ones there."""
        super().restore_from_path(path, *args, **kwargs)
        if self.selection.weights is not None:
            self.env_runner.module.set_state(self.selection.weights)


def validation_metrics(module: Any, data: SessionData, batch: int = 1024) -> dict[str, float]:
    """The SQN protocol's figures (:data:`NEXT_ITEM_METRICS`) of ``module`` (its
    ``item_scores``, in eval mode) on every event of the validation sessions of ``data``.

    Raises:
        InputError: the split has no validation session.
    """
    import torch

    rows = data.rows(PART_VALID)
    if not len(rows):
        raise InputError("validation: the split has no validation sessions")
    sums = NextItemSums.zeros(KS)
    was_training = module.training
    module.eval()
    try:
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]  # (b,)
            state, len_state = data.states(chunk)  # (b, L), (b,)
            with torch.no_grad():
                scores = module.item_scores(torch.as_tensor(state), torch.as_tensor(len_state))
            sums.add(next_item_metrics(scores.numpy(), data.items[chunk], data.is_buy[chunk]))
    finally:
        module.train(was_training)
    return sums.metrics()
