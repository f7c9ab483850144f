"""DDPG and TD3, the root of rayrec's off-policy actor-critic family (RLlib new API stack).

Lillicrap et al., "Continuous control with deep reinforcement learning" (ICLR 2016);
TD3: Fujimoto, van Hoof & Meger, "Addressing Function Approximation Error in
Actor-Critic Methods" (ICML 2018). The algorithm follows RLlib's DQN ``training_step``
(sample with the env runners, store in replay, sample batches, learner updates with
soft target updates, weight sync) over a columnar transition replay
(:mod:`rayrec.algorithms.ddpg.replay`); the networks are in
:mod:`rayrec.algorithms.ddpg.torch.default_ddpg_torch_rl_module`, the losses in
:mod:`rayrec.algorithms.ddpg.torch.ddpg_torch_learner`.

The actor emits a latent action z = π(s) that the critic Q(s, z) scores:

- **slate action spaces** (``MultiDiscrete([I] * K)``, the HAC paper's DDPG baseline):
  z is HAC's hyper-action Z ∈ R^{d+1}, the slate is the top-K of Φ(i)ᵀZ over the item
  kernel Φ, and a replayed slate a enters the critic as Ẑ(a) = mean_{i∈a} Φ(i). DDPG
  never trains Φ (HAC does: :mod:`rayrec.algorithms.hac`).
- **Box action spaces**: z = tanh(MLP(s)) ∈ [-1, 1]^n rescaled affinely to the bounds.

Losses, per replayed transition (s_t, a_t, r_t, s_{t+1}, terminated)::

    L_TD   = (r_t + γ (1 − terminated) Q'(s_{t+1}, π'(s_{t+1})) − Q(s_t, ẑ(a_t)))²   critic
    L_QMax = − Q(s_t, π(s_t))                                                     actor

TD3 (:class:`TD3Config`, a preset): twin critics and the min of their targets, target
policy smoothing π'(s') + clip(N(0, σ'²), ±c), and the actor and target networks updated
every ``policy_delay``-th step.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal, cast

from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.algorithms.dqn.dqn import DQN, DQNConfig
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.metrics import (
    ALL_MODULES,
    ENV_RUNNER_RESULTS,
    ENV_RUNNER_SAMPLING_TIMER,
    LEARNER_RESULTS,
    LEARNER_UPDATE_TIMER,
    NUM_AGENT_STEPS_SAMPLED_LIFETIME,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    REPLAY_BUFFER_ADD_DATA_TIMER,
    REPLAY_BUFFER_RESULTS,
    REPLAY_BUFFER_SAMPLE_TIMER,
    SYNCH_WORKER_WEIGHTS_TIMER,
    TIMERS,
)

from rayrec.algorithms.ddpg.replay import TransitionBuffer
from rayrec.errors import InputError
from rayrec.models.checks import check_bool, check_choice, check_number, check_widths
from rayrec.models.state import StateEncoderConfig

BOOTSTRAP_MODES = ("terminated", "reference_leave_flag")
NOISE_TYPES = ("gaussian", "uniform")
#: the key of the replay buffer's state in checkpoints (named when HAC was the family
#: root; kept so that earlier checkpoints restore with their replay)
REPLAY_STATE = "hac_replay"
#: the tag of async sampling requests (RLlib counts in-flight requests per tag)
ASYNC_SAMPLE_TAG = "ddpg_sample"


@dataclass(frozen=True)
class DDPGModelConfig:
    """Network sizes and the exploration / target-smoothing settings of the module.

    Set with ``config.rl_module(model_config={...})`` or ``rayrec train --config
    model.<field>=value``; every field is checked on construction (an
    :class:`~rayrec.errors.InputError` names ``model.<field>`` and the value). Defaults:
    the HAC reference code's SASRec (2 layers, d = 32, 4 heads, FFN 64, dropout 0.1) and
    KuaiSim's actor and critic MLPs [256, 64].

    Attributes:
        state_dim / n_layers / n_heads / ffn_dim / dropout / use_user_id / flat_hidden:
            the state encoder (:class:`~rayrec.models.state.StateEncoderConfig`).
        actor_hidden / critic_hidden: hidden widths of π and Q.
        kernel_init_std: (ours) initial scale of the item kernel Φ (slate spaces).
        twin_q / target_noise / target_noise_clip: TD3's twin critic and target smoothing.
        exploration_noise / noise_type: the noise on z while exploring.
        target_dropout: (ours) dropout in the target encoder while computing
            Q'(s', π'(s')). Off by default: a deterministic TD target (the reference
            code's target networks ran in train mode, with dropout); also a third of the
            learner's encoder cost on CPU.
        critic_bilinear: (ours) Q(s, z) = MLP([s; z]) + (W s)ᵀ z, W from zero: a
            critic whose gradient in z depends on the state from the start (False:
            the reference's plain MLP, which can fit Q as f(s) + g(z) and then pushes
            every user's z the same way).
        qmax_through_state: L_QMax = −Q(s, π(s)) differentiates through the critic's
            state input s as well as through π(s), so the actor's loss also moves the
            state encoder towards states the critic values highly (True: the HAC
            reference code's form, kept as the paper default). False (ours): the
            deterministic policy gradient, ∇_θ Q(sg(s), π_θ(s)). On the matched ML-1M
            simulator (20k user-steps, ``benchmarks/hac_personalisation.py``) the
            history's variation across users in s was < 0.01 of |s| with True and
            0.26–0.49 with False; every user still got one slate either way.
        tanh_hyper_action: (ours) Z = tanh(MLP(s)) in a slate space, bounded so the
            critic is never asked to extrapolate far (an unbounded Z diverged in our
            first runs). False: Z = MLP(s), as in the reference code. On ML-1M the
            bounded Z saturates (|Z| reaches √(d+1)). A Box action is always squashed.
    """

    state_dim: int = 32
    n_layers: int = 2
    n_heads: int = 4
    ffn_dim: int = 64
    dropout: float = 0.1
    actor_hidden: tuple[int, ...] = (256, 64)
    critic_hidden: tuple[int, ...] = (256, 64)
    use_user_id: bool = True
    flat_hidden: tuple[int, ...] = (64,)
    kernel_init_std: float = 0.1
    twin_q: bool = False
    exploration_noise: float = 0.1
    noise_type: Literal["gaussian", "uniform"] = "gaussian"
    target_noise: float = 0.0
    target_noise_clip: float = 0.5
    target_dropout: bool = False
    tanh_hyper_action: bool = True
    critic_bilinear: bool = False
    qmax_through_state: bool = True

    def __post_init__(self) -> None:
        encoder = self.encoder_config()  # checks (and normalises) the encoder's fields
        object.__setattr__(self, "dropout", encoder.dropout)
        object.__setattr__(self, "flat_hidden", encoder.flat_hidden)
        for name in ("actor_hidden", "critic_hidden"):
            object.__setattr__(self, name, check_widths(f"model.{name}", getattr(self, name)))
        for name, low_open in (
            ("kernel_init_std", True),
            ("exploration_noise", False),
            ("target_noise", False),
            ("target_noise_clip", False),
        ):
            value = check_number(f"model.{name}", getattr(self, name), low=0.0, low_open=low_open)
            object.__setattr__(self, name, value)
        for name in (
            "twin_q",
            "target_dropout",
            "tanh_hyper_action",
            "critic_bilinear",
            "qmax_through_state",
        ):
            check_bool(f"model.{name}", getattr(self, name))
        check_choice("model.noise_type", self.noise_type, NOISE_TYPES)

    def encoder_config(self) -> StateEncoderConfig:
        """The state encoder's settings."""
        return StateEncoderConfig.of(self)

    @classmethod
    def from_model_config(cls, model_config: dict[str, Any]) -> DDPGModelConfig:
        """The fields of an RLlib ``model_config`` dict (other keys ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in model_config.items() if k in known})


def _sample_transitions(runner: Any) -> tuple[dict[tuple[str, ...], Any], int, Any]:
    """Runs on an env runner: one ``sample()`` round flattened into replay columns
    (on the runner, in parallel, instead of in the driver), with the runner's metrics."""
    cols, n = TransitionBuffer.transitions_of(runner.sample())
    return cols, n, runner.get_metrics()


class DDPGConfig(DQNConfig):
    """Configuration of :class:`DDPG`; the HAC paper's and reference code's defaults.

    Losses (see the module docstring)::

        L_TD   = (r + γ (1 − terminated) Q'(s', π'(s')) − Q(s, ẑ(a)))²   critic
        L_QMax = − Q(s, π(s))   (÷ mean |Q(s, π(s))| with qmax_normalise) actor

    Training fields (``config.training(...)``):
        gamma: discount γ (0.9).
        tau: soft target update rate (0.01).
        actor_lr / critic_lr: learning rates of the actor (state encoder + π) and
            critic optimizers (1e-4 / 1e-3).
        weight_decay: Adam weight decay of every optimizer (1e-5).
        grad_clip / grad_clip_by: RLlib's gradient clipping per optimizer (None = off,
            the reference code's; RLlib's DQN default, which HAC inherited until
            2026-11-23, was 40 by global norm).
        exploration_noise: σ of the noise on z (0.1).
        noise_type: ``gaussian`` N(0, σ²) (default) or ``uniform`` — the HAC reference
            code's non-negative U[0, σ) clipped to ±1.
        twin_q / target_noise / target_noise_clip / policy_delay: TD3 settings
            (off / 0 / 0.5 / 1 for DDPG; :class:`TD3Config` turns them on).
        delay_target_updates: with ``policy_delay`` d > 1, soft-update the target
            networks only on the steps that update the actor, every d-th (True; TD3 as
            Fujimoto et al. 2018 write it). False updates them after every step.
        qmax_normalise: (ours) divide L_QMax by the batch's mean |Q(s, π(s))| (no
            gradient through the divisor), so the actor's step from the critic does not
            grow with the reward scale (Fujimoto & Gu's TD3+BC scaling). False (the
            papers' form): with returns of 10–40 the Q-max gradient outweighs HAC's
            L_BCE by orders of magnitude and drives every user's z to one corner.
        bootstrap: ``terminated`` (gymnasium-correct, default) or
            ``reference_leave_flag`` (the HAC reference code's form, for comparison).
        training_intensity: trained samples per sampled env step (2, the reference
            code's one update of 64 per call of 32 users), honoured exactly (below).
        store_buffer_in_checkpoints: save the replay buffer (and the fractional update
            credit) with every checkpoint, so a resumed run continues with the same
            transitions and replay draws (True). Only the filled rows are saved,
            zlib-packed (:meth:`TransitionBuffer.get_state`): on the synthetic env
            ~1.0 kB per transition raw, ~0.25 kB packed; a 60-iteration HAC run (16.6k
            transitions) checkpoints 5.8 MB in all, of which 4.1 MB replay (it was
            105 MB while the 100k preallocated rows were pickled raw); a full 100k
            buffer ~25 MB. False: ~1.8 MB, and a resumed run starts with an empty
            replay.
        async_sampling: with remote env runners, let them sample the next round while
            the learner trains on the last one; the acting weights then lag the
            learner's by one sync. Off by default: RLlib's synchronous sample → train
            → sync loop, which is faster when runners and learner share a few cores
            (2 cores, 2 runners × 32 users: 401–494 vs 379–381 user-steps/s,
            ``benchmarks/hac_throughput.py``); turn it on when runners have CPUs of
            their own (a cluster), where it removes the learner's wait for samples.
            Known gap: after a runner was SIGKILLed, RLlib brought it back after ~100 s
            in the async mode against ~13 s in the sync mode (one measurement each on
            2 loaded cores; cause not found); fault tolerance is tested in sync mode.

    The slate head's item kernel Φ has no optimizer in DDPG: it stays at its
    initialisation (DDPG as the HAC paper's baseline; Adam's weight decay never
    touches it either). Sizes go in ``config.rl_module(model_config=...)`` (see
    :class:`DDPGModelConfig`; ``rayrec train --config model.<field>=value``).
    """

    #: the dataclass of this algorithm's ``model_config`` keys (checked by ``rayrec``)
    model_config_class: Any = DDPGModelConfig

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or DDPG)
        self.gamma = 0.9
        self.tau = 0.01
        self.target_network_update_freq = 0  # soft update after every learner step
        self.actor_lr = 1e-4
        self.critic_lr = 1e-3
        self.weight_decay = 1e-5
        self.exploration_noise = 0.1
        self.noise_type = "gaussian"
        self.twin_q = False
        self.target_noise = 0.0
        self.target_noise_clip = 0.5
        self.policy_delay = 1
        self.delay_target_updates = True
        self.bootstrap = "terminated"
        self.qmax_normalise = False
        self.async_sampling = False
        self.store_buffer_in_checkpoints = True
        self.lr = 1e-3  # unused: each optimizer has its own rate
        # No gradient clipping, as in the reference code (DQNConfig's default is 40 by
        # global norm; on ML-1M HAC's critic gradient norm reaches ~1,600 and that clip
        # bound it). `grad_clip` stays a config field.
        self.grad_clip = None
        self.train_batch_size_per_learner = 64
        self.num_steps_sampled_before_learning_starts = 2000
        # DDPG replays from a TransitionBuffer built from "capacity" and "rng_seed"
        # here; the type string only satisfies DQNConfig.validate (new API stack).
        self.replay_buffer_config = {"type": "EpisodeReplayBuffer", "capacity": 100_000}
        # The reference code does one update of 64 per env call of 32 users: a replay
        # ratio of 64 / 32 = 2 trained samples per sampled step.
        self.training_intensity = 2.0
        # The module emits actions inside a Box's bounds already (z ∈ [-1, 1] rescaled);
        # RLlib's default would take them for [-1, 1]-normalised and rescale them again
        # before the env sees them, while the replay keeps the module's own action.
        self.normalize_actions = False
        self.clip_actions = False
        self.double_q = False
        self.dueling = False
        self.num_atoms = 1
        self.epsilon = [(0, 0.0)]

    def training(
        self,
        *,
        actor_lr: float | Any = NotProvided,
        critic_lr: float | Any = NotProvided,
        weight_decay: float | Any = NotProvided,
        exploration_noise: float | Any = NotProvided,
        noise_type: str | Any = NotProvided,
        twin_q: bool | Any = NotProvided,
        target_noise: float | Any = NotProvided,
        target_noise_clip: float | Any = NotProvided,
        policy_delay: int | Any = NotProvided,
        delay_target_updates: bool | Any = NotProvided,
        bootstrap: str | Any = NotProvided,
        qmax_normalise: bool | Any = NotProvided,
        async_sampling: bool | Any = NotProvided,
        store_buffer_in_checkpoints: bool | Any = NotProvided,
        **kwargs: Any,
    ) -> DDPGConfig:
        super().training(**kwargs)
        self._set_provided(
            actor_lr=actor_lr,
            critic_lr=critic_lr,
            weight_decay=weight_decay,
            exploration_noise=exploration_noise,
            noise_type=noise_type,
            twin_q=twin_q,
            target_noise=target_noise,
            target_noise_clip=target_noise_clip,
            policy_delay=policy_delay,
            delay_target_updates=delay_target_updates,
            bootstrap=bootstrap,
            qmax_normalise=qmax_normalise,
            async_sampling=async_sampling,
            store_buffer_in_checkpoints=store_buffer_in_checkpoints,
        )
        return self

    def _set_provided(self, **values: Any) -> None:
        """Sets the fields given a value other than ``NotProvided``."""
        for name, value in values.items():
            if value is not NotProvided:
                setattr(self, name, value)

    #: fields that must be numbers >= 0 (subclasses extend it)
    _non_negative: tuple[str, ...] = (
        "actor_lr",
        "critic_lr",
        "weight_decay",
        "exploration_noise",
        "target_noise",
        "target_noise_clip",
    )
    #: the name in validation messages
    _label = "DDPG"

    def validate(self) -> None:
        super().validate()
        label = self._label
        for name in self._non_negative:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                self._value_error(f"{label} config: '{name}' must be a number >= 0, got {value!r}")
        if not 0 < self.gamma < 1:
            self._value_error(f"{label} config: 'gamma' must be in (0, 1), got {self.gamma!r}")
        if not 0 < self.tau <= 1:
            self._value_error(f"{label} config: 'tau' must be in (0, 1], got {self.tau!r}")
        if self.noise_type not in NOISE_TYPES:
            self._value_error(
                f"{label} config: 'noise_type' must be one of {NOISE_TYPES},"
                f" got {self.noise_type!r}"
            )
        if self.bootstrap not in BOOTSTRAP_MODES:
            self._value_error(
                f"{label} config: 'bootstrap' must be one of {BOOTSTRAP_MODES},"
                f" got {self.bootstrap!r}"
            )
        for flag in (
            "async_sampling",
            "store_buffer_in_checkpoints",
            "delay_target_updates",
            "qmax_normalise",
        ):
            if not isinstance(getattr(self, flag), bool):
                self._value_error(
                    f"{label} config: '{flag}' must be true or false, got {getattr(self, flag)!r}"
                )
        if (
            isinstance(self.policy_delay, bool)
            or not isinstance(self.policy_delay, int)
            or self.policy_delay < 1
        ):
            self._value_error(
                f"{label} config: 'policy_delay' must be an integer >= 1, got {self.policy_delay!r}"
            )
        try:  # the model fields too (this algorithm's), before any module is built
            self.model_config_class.from_model_config(self.model_config)
        except InputError as exc:
            self._value_error(str(exc))

    def get_default_rl_module_spec(self) -> RLModuleSpec:
        from rayrec.algorithms.ddpg.torch.default_ddpg_torch_rl_module import (
            DefaultDDPGTorchRLModule,
        )

        return RLModuleSpec(module_class=DefaultDDPGTorchRLModule)

    @property
    def _model_config_auto_includes(self) -> dict[str, Any]:
        return {
            "twin_q": self.twin_q,
            "exploration_noise": self.exploration_noise,
            "noise_type": self.noise_type,
            "target_noise": self.target_noise,
            "target_noise_clip": self.target_noise_clip,
            "state_dim": DDPGModelConfig().state_dim,
        }

    def get_default_learner_class(self) -> type:
        from rayrec.algorithms.ddpg.torch.ddpg_torch_learner import DDPGTorchLearner

        return DDPGTorchLearner


class TD3Config(DDPGConfig):
    """DDPG with twin critics, target smoothing (σ 0.2, clip 0.5) and actor delay 2
    (as Stable-Baselines3 and RLlib make one a preset of the other)."""

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or TD3)
        self.twin_q = True
        self.target_noise = 0.2
        self.target_noise_clip = 0.5
        self.policy_delay = 2


class DDPG(DQN):
    """DQN's sample → replay → update → sync loop with DDPG's module and learner, over a
    columnar transition replay (:mod:`rayrec.algorithms.ddpg.replay`).

    ``training_intensity`` is honoured exactly: after each sampling round the learner
    owes ``training_intensity × new env steps / train_batch_size`` updates (fractions
    carried over; ``None`` = one update per training step, as in RLlib). RLlib's DQN
    derives a fixed round-robin ratio assuming the local env runner samples too, which
    with remote runners trains 1.5–2x more often than configured.
    """

    @classmethod
    def get_default_config(cls) -> DDPGConfig:
        return DDPGConfig()

    def _create_local_replay_buffer_if_necessary(self, config: Any) -> None:
        return None  # replaced by the transition buffer made in setup()

    def setup(self, config: Any) -> None:
        super().setup(config)
        buffer_cfg = cast(Any, self.config).replay_buffer_config
        self.transition_buffer = TransitionBuffer(
            capacity=int(buffer_cfg.get("capacity", 100_000)),
            rng_seed=buffer_cfg.get("rng_seed"),
        )
        self._update_credit = 0.0

    def get_state(
        self,
        components: Any = None,
        *,
        not_components: Any = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """RLlib's algorithm state plus, with ``store_buffer_in_checkpoints``, the replay
        buffer and the update credit (RLlib's new-stack checkpoints hold no replay)."""
        state = super().get_state(components, not_components=not_components, **kwargs)
        cfg: Any = self.config
        if cfg.store_buffer_in_checkpoints and self._check_component(
            REPLAY_STATE, components, not_components
        ):
            state[REPLAY_STATE] = {
                "buffer": self.transition_buffer.get_state(),
                "update_credit": self._update_credit,
            }
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        if REPLAY_STATE in state:
            self.transition_buffer.set_state(state[REPLAY_STATE]["buffer"])
            self._update_credit = float(state[REPLAY_STATE]["update_credit"])

    def _sample(self) -> tuple[list[tuple[dict[Any, Any], int]], list[Any]]:
        """One sampling round: (per-runner replay columns and sizes, per-runner metrics).

        Synchronous: every runner samples now, with the current weights. Asynchronous
        (``async_sampling`` and remote runners): collect the round the runners started
        during the previous training step, start the next one at once, and return —
        the runners sample while the learner trains. Results are in runner order, so
        seeded runs replay the same transitions.
        """
        cfg: Any = self.config
        runners: Any = self.env_runner_group
        if runners.num_remote_env_runners() == 0:
            results = [_sample_transitions(self.env_runner)]
        elif not cfg.async_sampling:
            results = runners.foreach_env_runner(
                _sample_transitions,
                local_env_runner=False,
                timeout_seconds=cfg.sample_timeout_s,
            )
        else:
            if runners.num_in_flight_async_reqs(tag=ASYNC_SAMPLE_TAG) == 0:  # first round
                runners.foreach_env_runner_async(_sample_transitions, tag=ASYNC_SAMPLE_TAG)
            ready = runners.fetch_ready_async_reqs(
                tags=ASYNC_SAMPLE_TAG, timeout_seconds=cfg.sample_timeout_s
            )
            # Runners idle now (answered, or restored after a failure) start the next
            # round; this step's weight sync reaches them after it.
            runners.foreach_env_runner_async(_sample_transitions, tag=ASYNC_SAMPLE_TAG)
            results = [result for _, result in sorted(ready, key=lambda r: r[0])]
        return [(cols, n) for cols, n, _ in results], [m for _, _, m in results]

    def training_step(self) -> None:
        cfg: Any = self.config
        metrics: Any = self.metrics
        runners: Any = self.env_runner_group
        learners: Any = self.learner_group
        with metrics.log_time((TIMERS, ENV_RUNNER_SAMPLING_TIMER)):
            transitions, env_runner_results = self._sample()
        metrics.aggregate(env_runner_results, key=ENV_RUNNER_RESULTS)
        with metrics.log_time((TIMERS, REPLAY_BUFFER_ADD_DATA_TIMER)):
            new_steps = sum(self.transition_buffer.add_columns(*t) for t in transitions)
        lifetime = metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0)
        if lifetime < cfg.num_steps_sampled_before_learning_starts:
            return
        batch_size = cfg.total_train_batch_size
        if cfg.training_intensity:
            self._update_credit += cfg.training_intensity * new_steps / batch_size
            n_updates, self._update_credit = divmod(self._update_credit, 1.0)
        else:  # RLlib's meaning of None: one update per training step
            n_updates = 1
        learner_results = None
        for _ in range(int(n_updates)):
            with metrics.log_time((TIMERS, REPLAY_BUFFER_SAMPLE_TIMER)):
                columns = self.transition_buffer.sample(batch_size)
            with metrics.log_time((TIMERS, LEARNER_UPDATE_TIMER)):
                learner_results = learners.update(
                    batch=MultiAgentBatch(
                        {DEFAULT_MODULE_ID: SampleBatch(columns)}, env_steps=batch_size
                    ),
                    timesteps={
                        NUM_ENV_STEPS_SAMPLED_LIFETIME: lifetime,
                        NUM_AGENT_STEPS_SAMPLED_LIFETIME: lifetime,
                    },
                )
            metrics.aggregate(learner_results, key=LEARNER_RESULTS)
        metrics.log_value(
            (REPLAY_BUFFER_RESULTS, "num_transitions"), len(self.transition_buffer), window=1
        )
        if learner_results is not None:
            with metrics.log_time((TIMERS, SYNCH_WORKER_WEIGHTS_TIMER)):
                runners.sync_weights(
                    from_worker_or_learner_group=learners,
                    policies=sorted(set(learner_results[0]) - {ALL_MODULES}),
                    inference_only=True,
                )


class TD3(DDPG):
    """DDPG run with :class:`TD3Config`'s preset."""

    @classmethod
    def get_default_config(cls) -> TD3Config:
        return TD3Config()
