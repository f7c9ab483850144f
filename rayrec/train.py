"""The one training path: what ``rayrec train``, Tune trials and tables all run.

:func:`build_config` turns :class:`TrainOptions` into a validated RLlib config (typed
``--config`` overrides, the env-kind check, seeds) before Ray starts.
:class:`TrainingRun` builds (or restores) the algorithm and trains it until a stop
criterion is met; each iteration gives one row (:func:`iteration_row`), checkpoints
follow one cadence and one layout (:meth:`TrainingRun.save`: ``algorithm/`` with
RLlib's state, ``rayrec_trial.json`` with the counters), and the last iteration is
evaluated by the algorithm's protocol (:mod:`rayrec.evaluation`). Where the rows,
checkpoints and evaluation go is the caller's :class:`RunSink`: :class:`LocalOutputs`
for ``rayrec train`` (below), ``tune.report`` for a Tune trial
(:mod:`rayrec.tune.runner`).

The agent trains in the spec's *train* simulator (first 80% of the log by time) and
is evaluated greedily in its *evaluation* simulator (all of the log), next to a random
policy, as the HAC paper's protocol says. Ray is started locally unless a cluster is
reachable (``RAY_ADDRESS`` / ``ray start``); env runners each step a batched
``SlateEnv`` of ``num_envs_per_env_runner`` users.

Outputs of ``rayrec train`` in its run folder (:mod:`rayrec.runs`: claimed atomically,
never silently reused): ``status.json`` (running / finished / interrupted / failed, the
last completed iteration, the options), ``checkpoint/`` (``algorithm/``, RLlib's
algorithm checkpoint, and ``rayrec_trial.json``, the counters), ``progress.csv`` (one
row appended per iteration), ``tensorboard/`` (the same scalars plus the final
evaluation, as TensorBoard event files: ``tensorboard --logdir OUT``), and for a
finished run ``result.json`` (config, budget, final evaluation of the agent and of the
reference policies). SIGINT / SIGTERM stop the run after the iteration in progress,
with a checkpoint; ``rayrec train --resume OUT`` continues it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import json
import logging
import math
import numbers
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from signal import SIGINT
from types import TracebackType
from typing import Any, Protocol

from rayrec.algorithms.registry import check_env_kind, get_algorithm, make_config
from rayrec.algorithms.sqn.sqn_learner import (
    BEST_VALID_PREFIX,
    EPOCHS,
    NUM_UPDATES,
    SELECTED_ITERATION,
    SELECTED_MODULE_DIR,
    SELECTED_VALUE,
    VALID_PREFIX,
)
from rayrec.checkpoints import (
    algorithm_record,
    check_module_spaces,
    env_record,
    find_checkpoint,
    loading,
    verify_checkpoint,
    write_checkpoint,
)
from rayrec.config import check_field, check_like, data_fields
from rayrec.data.io import atomic_write_text
from rayrec.environments import env_config_for, env_creator_name, env_source, read_kind
from rayrec.errors import InputError
from rayrec.evaluation import EvalResult, EvaluationProtocol, get_protocol, protocol_for_kind
from rayrec.runs import (
    CHECKPOINT_DIR,
    Existing,
    Interrupts,
    ProgressLog,
    RunFolder,
    RunInterrupted,
    claim,
    default_run_root,
    new_run_folder,
    read_status,
)
from rayrec.simulator.keys import PART_EVAL, PART_TRAIN

log = logging.getLogger(__name__)
RL_MODULE_PATH = Path("learner_group") / "learner" / "rl_module" / "default_policy"
#: learner results logged per iteration besides rayrec's own "L_*" losses (PPO / A2C's)
LOGGED_LEARNER_KEYS = ("policy_loss", "vf_loss", "entropy", "vf_explained_var")
#: an offline loop's top-level figures an iteration's row keeps (:mod:`rayrec.algorithms.sqn`)
OFFLINE_LOOP_KEYS = (EPOCHS, NUM_UPDATES, SELECTED_ITERATION, SELECTED_VALUE)
OFFLINE_LOOP_PREFIXES = (VALID_PREFIX, BEST_VALID_PREFIX)
#: inside a checkpoint folder: the RLlib algorithm state and the run's counters
ALGO_DIR = "algorithm"
TRIAL_STATE = "rayrec_trial.json"
#: the first columns of an iteration's row (progress.csv keeps this order, then the
#: others sorted)
ROW_COLUMNS = ("iteration", "train_seconds", "env_steps", "episode_return_mean", "episode_len_mean")
#: ``--config model.<field>=value`` sets a field of the algorithm's model config
MODEL_PREFIX = "model."


def algorithm_protocol(algo: str) -> EvaluationProtocol:
    """The evaluation protocol ``algo`` declares in the registry."""
    return get_protocol(get_algorithm(algo).protocol)


# ------------------------------------------------------------------ options
@dataclass
class TrainOptions:
    """What one training run is asked to do (``rayrec train``'s options).

    ``overrides`` are ``--config`` fields (``model.<field>`` for the model config);
    ``source`` formats the name of an overridden field in errors (``--config {key}``
    on the command line, ``config.{key}`` in a sweep spec). ``checkpoint_every`` None:
    no checkpoint at all (a table's runs keep only their results). ``out`` None: a new
    numbered run folder under ``runs/train/<algo>-<env>-s<seed>/``
    (:func:`rayrec.runs.new_run_folder`).
    """

    algo: str
    env: str
    overrides: dict[str, Any] = field(default_factory=dict)
    simulator: str | None = None
    num_env_runners: int = 0
    num_envs_per_env_runner: int = 32
    gpus: float = 0.0
    seed: int = 0
    stop_iters: int = 60
    stop_timesteps: int | None = None
    out: str | None = None
    eval_users: int = 500
    checkpoint_every: int | None = 10
    source: str = "--config {key}"

    def validate(self, *, local: bool = False) -> None:
        """Seeds, counts and budgets in range (before anything is built or started).

        Args:
            local: also check what this machine must have for a run whose learner
                trains in this process (``rayrec train``, a table's runs): a CUDA GPU
                when ``gpus`` > 0. A Tune trial's learner may be placed on another
                node, so sweeps leave this to Ray.

        Raises:
            InputError: naming the option, the bound and the value.
        """
        for option, value, low in (
            ("--seed", self.seed, 0),
            ("--num-env-runners", self.num_env_runners, 0),
            ("--num-envs", self.num_envs_per_env_runner, 1),
            ("--eval-users", self.eval_users, 1),
            ("--stop-iters", self.stop_iters, 1),
            ("--stop-timesteps", 1 if self.stop_timesteps is None else self.stop_timesteps, 1),
            (
                "--checkpoint-every",
                1 if self.checkpoint_every is None else self.checkpoint_every,
                1,
            ),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"{option}: expected an integer >= {low}, got {value!r}")
        if not self.gpus >= 0 or not math.isfinite(self.gpus):
            raise InputError(f"--gpus: expected a number >= 0, got {self.gpus!r}")
        if local and self.gpus > 0:
            import torch

            count = torch.cuda.device_count() if torch.cuda.is_available() else 0
            if self.gpus > count:
                seen = f"only {count} CUDA GPU(s)" if count else "no CUDA GPU"
                raise InputError(
                    f"--gpus: {self.gpus:g} GPU(s) asked for the learner, which trains in"
                    f" this process, but torch sees {seen} on this machine; use --gpus"
                    f" {min(count, 1)}"
                )

    def stop(self) -> StopCriteria:
        return StopCriteria(iterations=self.stop_iters, env_steps=self.stop_timesteps)

    @classmethod
    def from_record(cls, data: Mapping[str, Any], where: str) -> TrainOptions:
        """The options a run folder recorded (``status.json``'s ``options``).

        Raises:
            InputError: naming ``where`` when they are not a run's options.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: v for k, v in dict(data).items() if k in known})
        except TypeError as exc:
            raise InputError(f"{where}: options: expected a run's options, got {exc}") from exc


# ------------------------------------------------------------------ config
def apply_overrides(
    config: Any, algo: str, overrides: Mapping[str, Any], source: str = "--config {key}"
) -> None:
    """Set ``overrides`` on ``config``: only its declared data fields, each value checked
    against the field's current default; ``model.<field>`` values through the
    algorithm's model-config dataclass (its own checks included).

    Raises:
        InputError: naming the field, what it expects and what it got.
    """
    fields = data_fields(config)
    model: dict[str, Any] = {}
    for key, value in overrides.items():
        if key.startswith(MODEL_PREFIX):
            model[key[len(MODEL_PREFIX) :]] = value
            continue
        where = source.format(key=key)
        if key not in fields:
            raise InputError(f"{where}: {_not_a_field(config, algo, key, fields)}")
        if value is None and _nullable(config, key):
            setattr(config, key, None)  # RLlib's own meaning of None for this field
            continue
        setattr(config, key, check_like(fields[key], value, where))
    if model:
        config.rl_module(model_config=_model_config(config, algo, model, source))


def _nullable(config: Any, key: str) -> bool:
    """Whether RLlib's own config class (the first RLlib class ``config`` derives from)
    has None as ``key``'s default: None then has RLlib's meaning there (e.g.
    ``training_intensity=None``: one update per training step), though our preset sets
    a number."""
    rllib_class = next(c for c in type(config).__mro__ if c.__module__.startswith("ray.rllib."))
    defaults = vars(rllib_class())
    return key in defaults and defaults[key] is None


def _not_a_field(config: Any, algo: str, key: str, fields: Mapping[str, Any]) -> str:
    text = f"not a field of the {algo} config"
    if hasattr(config, key):
        attr = getattr(type(config), key, None)
        what = "a property" if isinstance(attr, property) else "a method or class"
        text += f" ({what}, not a settable data field)"
    close = difflib.get_close_matches(key, list(fields), n=3)
    return text + (f"; did you mean {', '.join(close)}?" if close else "")


def _model_config(config: Any, algo: str, model: dict[str, Any], source: str) -> dict[str, Any]:
    """The algorithm's model config with ``model`` applied: each value checked against
    its field's type, then the whole built through the model-config dataclass so its
    own range checks (``__post_init__``) run now."""
    cls = getattr(config, "model_config_class", None)
    known = sorted(f.name for f in dataclasses.fields(cls)) if cls is not None else []
    values: dict[str, Any] = {}
    for name, value in model.items():
        where = source.format(key=MODEL_PREFIX + name)
        if name not in known:
            raise InputError(
                f"{where}: not a model field of {algo}; expected one of: "
                + ", ".join(f"{MODEL_PREFIX}{k}" for k in known)
            )
        values[name] = check_field(cls, name, value, where)  # type: ignore[arg-type]
    current = {k: v for k, v in (config._model_config or {}).items() if k in known}
    try:
        built = cls(**{**current, **values})  # type: ignore[misc]
    except InputError as exc:  # its checks name the field as model.<field>
        raise InputError(f"{source.format(key='')}{exc}") from exc
    return {**config._model_config, **{k: getattr(built, k) for k in values}}


def build_config(opts: TrainOptions) -> tuple[Any, str]:
    """The algorithm config for ``opts`` (validated) and the simulator target.

    Everything here runs before Ray starts: bad options, overrides or a mismatched
    algorithm / env kind pair are an :class:`InputError` naming the option or field.
    """
    opts.validate()
    config = make_config(opts.algo)
    check_env_kind(opts.algo, read_kind(opts.env), opts.env)
    off_policy = isinstance(getattr(config, "replay_buffer_config", None), dict)
    if off_policy:
        config.replay_buffer_config = {**config.replay_buffer_config, "rng_seed": opts.seed}
    apply_overrides(config, opts.algo, opts.overrides, opts.source)
    env_config = env_config_for(opts.env, opts.simulator, part=PART_TRAIN, seed=opts.seed)
    target = env_source(env_config)
    per_runner_cpu = 0.5 if opts.num_env_runners else 0
    config = (
        config.environment(env=env_creator_name(env_config["kind"]), env_config=env_config)
        .env_runners(
            num_env_runners=opts.num_env_runners,
            num_envs_per_env_runner=opts.num_envs_per_env_runner,
            gym_env_vectorize_mode="vector_entry_point",
            # on-policy (A2C): each runner's fragment is its share of one train batch,
            # so the batch stays train_batch_size_per_learner for any number of runners
            rollout_fragment_length=8 if off_policy else "auto",
            num_cpus_per_env_runner=per_runner_cpu,
        )
        .learners(num_gpus_per_learner=opts.gpus)
        # an algorithm that learns from the log only (offline-sl) samples no env steps
        .reporting(
            min_sample_timesteps_per_iteration=256 if get_algorithm(opts.algo).samples_env else 0
        )
        # A crashed or preempted env runner (spot node, OOM kill) is restarted by Ray
        # and gets the current weights before it samples again; training goes on
        # (tests/cluster/test_env_runner_fault.py). RLlib's default waits 60 s before a
        # runner whose env raised exits; 5 s is enough for its log to reach the driver.
        .fault_tolerance(
            restart_failed_env_runners=True,
            max_num_env_runner_restarts=100,
            delay_between_env_runner_restarts_s=5.0,
        )
        .debugging(seed=opts.seed)
    )
    validate_config(config)
    return config, target


def validate_config(config: Any) -> None:
    """RLlib's ``validate()``, its error as an :class:`InputError` (first line only,
    without RLlib's "to suppress..." boilerplate)."""
    try:
        config.validate()
    except ValueError as exc:
        text = str(exc).strip()
        raise InputError(text.splitlines()[0] if text else repr(exc)) from exc


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["actor_lr=1e-3", "twin_q=true"]`` -> typed dict (values parsed as YAML)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--config {item!r}: expected KEY=VALUE")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw  # e.g. "[1,": checked against the field as the text it is
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
            with contextlib.suppress(ValueError):
                value = float(value)
        out[key.strip()] = value
    return out


# ----------------------------------------------------------- the training run
def pin_torch_threads(config: Any) -> int | None:
    """Torch threads of this process = the CPUs the config reserves for it
    (``num_cpus_for_main_process``, 1 by default), Ray's own rule for its workers,
    unless ``OMP_NUM_THREADS`` is set (then torch already follows it). Returns the
    count set, or None.

    The main process runs the local learner (and, without remote env runners, the
    sampling). Unpinned, torch takes every core: two runs on a 2-core machine (a table
    beside a study) then ran HAC at ~60 user-steps/s each instead of ~540, their
    OpenMP threads spinning against each other (measured 2026-12-07).
    """
    if os.environ.get("OMP_NUM_THREADS"):
        return None
    import torch

    n = max(1, math.ceil(float(getattr(config, "num_cpus_for_main_process", 1) or 1)))
    torch.set_num_threads(n)
    return n


@dataclass(frozen=True)
class StopCriteria:
    """Stop at ``iterations``, or once ``env_steps`` were sampled, or after ``seconds``
    of training, whichever comes first."""

    iterations: int
    env_steps: int | None = None
    seconds: float | None = None

    def reached(self, iteration: int, env_steps: int, seconds: float) -> bool:
        if iteration >= self.iterations:
            return True
        if self.env_steps is not None and env_steps >= self.env_steps:
            return True
        return self.seconds is not None and seconds >= self.seconds


@dataclass(frozen=True)
class RunState:
    """The counters a checkpoint carries: iterations done, seconds trained, and
    whether the run finished (its final, evaluated checkpoint)."""

    iteration: int = 0
    seconds: float = 0.0
    done: bool = False

    @classmethod
    def read(cls, folder: Path) -> RunState:
        data = json.loads((Path(folder) / TRIAL_STATE).read_text())
        return cls(int(data["iteration"]), float(data["seconds"]), bool(data.get("done", False)))


@dataclass(frozen=True)
class Iteration:
    """One training iteration as a sink sees it.

    Args:
        row: the iteration's metrics (:func:`iteration_row`).
        state: the counters after it.
        checkpoint_due: whether a checkpoint is due now (cadence, or the last one).
        evaluation: the final evaluation, on the last iteration only.
    """

    row: dict[str, Any]
    state: RunState
    checkpoint_due: bool
    evaluation: EvalResult | None


class RunSink(Protocol):
    """Where a run's iterations go (``rayrec train``'s files, or ``tune.report``)."""

    def iteration(self, run: TrainingRun, it: Iteration) -> None: ...


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def iteration_row(result: Mapping[str, Any], *, iteration: int, seconds: float) -> dict[str, Any]:
    """The row of one ``algo.train()`` result: iteration, seconds trained, env steps,
    return and episode length (NaN until the first episode ends), losses."""
    env_r = result.get("env_runners", {}) or {}
    learner = (result.get("learners", {}) or {}).get("default_policy", {}) or {}
    return {
        "iteration": iteration,
        "train_seconds": round(seconds, 3),
        "env_steps": int(env_r.get("num_env_steps_sampled_lifetime", 0) or 0),
        "episode_return_mean": _float(env_r.get("episode_return_mean")),
        "episode_len_mean": _float(env_r.get("episode_len_mean")),
        **{
            k: _float(v)
            for k, v in learner.items()
            if k.startswith("L_") or k in LOGGED_LEARNER_KEYS
        },
        # an offline loop's own figures (logged-session learners: epochs, validation,
        # the selected weights)
        **{
            k: _float(v)
            for k, v in result.items()
            if k in OFFLINE_LOOP_KEYS or k.startswith(OFFLINE_LOOP_PREFIXES)
        },
    }


class TrainingRun:
    """Train one algorithm config until a stop criterion, checkpoint on a cadence, and
    evaluate the last iteration by the algorithm's protocol.

    Args:
        config: a validated RLlib algorithm config (:func:`build_config`); the
            evaluation runs on its ``env_config`` (the protocol takes the evaluation
            part).
        protocol: the evaluation protocol.
        stop: when to stop.
        checkpoint_every: a checkpoint every this many iterations and at the last (None:
            no checkpoints).
        eval_users: users (sessions) of the final evaluation; ``eval_seed`` their seed.

    Use as a context manager (the algorithm is stopped on exit)::

        with TrainingRun(config, protocol, stop=StopCriteria(10)) as run:
            run.start()
            run.run(sink)
    """

    def __init__(
        self,
        config: Any,
        protocol: EvaluationProtocol,
        *,
        stop: StopCriteria,
        checkpoint_every: int | None = 10,
        eval_users: int = 500,
        eval_seed: int = 1,
    ) -> None:
        self.config = config
        self.protocol = protocol
        self.stop_criteria = stop
        self.checkpoint_every = checkpoint_every
        self.eval_users = eval_users
        self.eval_seed = eval_seed
        self.state = RunState()
        self.algo: Any = None

    @classmethod
    def from_options(cls, opts: TrainOptions) -> TrainingRun:
        """The run ``rayrec train`` (and a table) makes of ``opts``."""
        config, _ = build_config(opts)
        return cls(
            config,
            algorithm_protocol(opts.algo),
            stop=opts.stop(),
            checkpoint_every=opts.checkpoint_every,
            eval_users=opts.eval_users,
        )

    def start(self, checkpoint: Path | None = None, *, verify: bool = True) -> None:
        """Build the algorithm; from ``checkpoint`` (a folder :meth:`save` wrote), restore
        its state and the counters, so the run continues with the next iteration.

        The checkpoint is verified first, before the algorithm is built
        (:func:`rayrec.checkpoints.verify_checkpoint`: every file's size and sha256, the
        algorithm and model config, the env's spaces); ``verify=False`` skips that (a
        checkpoint from before manifests).

        Raises:
            InputError: the checkpoint is missing, incomplete, altered, or made for
                another algorithm or env (naming the file and what differs).
        """
        folder = None if checkpoint is None else Path(checkpoint)
        if folder is not None and verify:
            verify_checkpoint(folder, env_config=self.config.env_config, config=self.config)
        elif folder is not None and not (folder / ALGO_DIR).is_dir():
            raise InputError(f"{folder / ALGO_DIR}: no such folder (not a training checkpoint)")
        pin_torch_threads(self.config)
        self.algo = self.config.build_algo()
        if folder is not None:
            with loading(folder / ALGO_DIR):
                self.algo.restore_from_path(str((folder / ALGO_DIR).resolve()))
            self.state = RunState.read(folder)

    def step(self) -> Iteration:
        """One ``algo.train()``; the final evaluation when a stop criterion is met."""
        iteration = self.state.iteration + 1
        begin = time.perf_counter()
        result = self.algo.train()
        seconds = self.state.seconds + time.perf_counter() - begin
        row = iteration_row(result, iteration=iteration, seconds=seconds)
        last = self.stop_criteria.reached(iteration, row["env_steps"], seconds)
        self.state = RunState(iteration, seconds, last)
        return Iteration(
            row=row,
            state=self.state,
            checkpoint_due=self.checkpoint_every is not None
            and (last or iteration % self.checkpoint_every == 0),
            evaluation=self.evaluate() if last else None,
        )

    def run(self, sink: RunSink) -> EvalResult:
        """Iterate until a stop criterion; each iteration to ``sink``. Returns the
        final evaluation."""
        while True:
            it = self.step()
            sink.iteration(self, it)
            if it.evaluation is not None:
                return it.evaluation

    def evaluate(self) -> EvalResult:
        """The current module evaluated by the protocol."""
        return self.protocol.evaluate_module(
            self.algo.get_module(),
            self.config.env_config,
            users=self.eval_users,
            seed=self.eval_seed,
        )

    def save(self, folder: Path) -> Path:
        """A checkpoint in ``folder``: ``algorithm/`` (RLlib's state), the counters and
        ``manifest.json`` (:mod:`rayrec.checkpoints`), written beside ``folder`` and
        renamed into place: a crash mid-save leaves the previous checkpoint intact.
        Returns ``folder``."""

        def write(tmp: Path) -> None:
            self.algo.save_to_path(str((tmp / ALGO_DIR).resolve()))
            (tmp / TRIAL_STATE).write_text(json.dumps(dataclasses.asdict(self.state)))

        record = {
            "algorithm": algorithm_record(self.config),
            "env": env_record(self.config.env_config),
            "state": dataclasses.asdict(self.state),
        }
        return write_checkpoint(folder, write, record)

    def close(self) -> None:
        if self.algo is not None:
            self.algo.stop()
            self.algo = None

    def __enter__(self) -> TrainingRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --------------------------------------------------------- rayrec train's files
class LocalOutputs:
    """``rayrec train``'s sink, writing into a claimed run folder
    (:class:`rayrec.runs.RunFolder`): ``progress.csv`` (one row appended per
    iteration), TensorBoard scalars, ``checkpoint/`` on the run's cadence, the
    folder's ``status.json`` after each iteration, and a progress callback.

    With ``interrupts``, a stop requested by SIGINT / SIGTERM ends the run after the
    iteration in progress: a checkpoint is taken (when the run takes checkpoints at
    all) and :class:`rayrec.runs.RunInterrupted` is raised. An algorithm that samples
    no env steps logs its curves per iteration.
    """

    def __init__(
        self,
        folder: RunFolder,
        algo: str,
        *,
        per_iteration: bool = False,
        progress: Callable[[dict[str, Any]], None] | None = None,
        interrupts: Interrupts | None = None,
    ) -> None:
        self.folder = folder
        self.out = folder.path
        self.algo = algo
        self.per_iteration = per_iteration
        self.progress = progress
        self.interrupts = interrupts
        self.log = ProgressLog(folder.progress, leading=ROW_COLUMNS)
        self.last_row: dict[str, Any] | None = None
        self.saved = False
        self.board: Any = None

    @property
    def checkpoint(self) -> Path:
        return self.folder.checkpoint

    def _step(self, row: Mapping[str, Any]) -> int:
        return int(float(row["iteration"] if self.per_iteration else row["env_steps"]))

    def begin(self, state: RunState) -> None:
        """Continue after ``state`` (a new run: iteration 0): ``progress.csv`` keeps the
        rows up to its iteration, TensorBoard drops the events after it."""
        kept = self.log.keep_through(state.iteration)
        if kept is None:
            shutil.rmtree(self.folder.tensorboard, ignore_errors=True)
            self.board = _board(self.folder.tensorboard)
        else:
            self.board = _board(self.folder.tensorboard, purge_step=self._step(kept) + 1)
        self.saved = state.iteration > 0 and self.checkpoint.is_dir()

    def iteration(self, run: TrainingRun, it: Iteration) -> None:
        self.log.append(it.row)
        self.last_row = it.row
        step = self._step(it.row)
        _log_scalars(self.board, "train", it.row, step=step)
        if self.progress is not None:
            self.progress(it.row)
        stop = self.interrupts is not None and self.interrupts.requested
        stop = stop and it.evaluation is None  # the last iteration simply finishes
        saved: dict[str, float] | None = None
        if it.checkpoint_due or (stop and run.checkpoint_every is not None):
            run.save(self.checkpoint)
            self.saved = True
            saved = {k: it.row[k] for k in ("iteration", "env_steps", "train_seconds")}
        if it.evaluation is not None:
            for name, metrics in it.evaluation.by_policy(self.algo).items():
                _log_scalars(self.board, f"eval/{name}", metrics, step=it.row["env_steps"])
        self.folder.iteration_done(it.row["iteration"], saved)
        if stop:
            assert self.interrupts is not None and self.interrupts.signum is not None
            raise RunInterrupted(
                self.out,
                it.row["iteration"],
                self.folder.status.checkpoint_iteration,
                self.interrupts.signum,
            )

    def close(self) -> None:
        if self.board is not None:
            self.board.close()
            self.board = None


def run_training(
    opts: TrainOptions,
    progress: Callable[[dict[str, Any]], None] | None = None,
    *,
    existing: Existing = "refuse",
    interrupts: Interrupts | None = None,
    started: Callable[[RunFolder], None] | None = None,
    command: str = "",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Train, checkpoint and evaluate in a run folder; return (and write) the result.

    Options, the algorithm config and the run folder are all checked before Ray
    starts (:class:`InputError` naming the option or folder; nothing written).
    ``opts.out`` None: a new numbered folder (:func:`rayrec.runs.new_run_folder`).

    Args:
        opts: the run's options.
        progress: called with each iteration's row.
        existing: an ``opts.out`` that holds something is refused, resumed (from its
            checkpoint; ``progress.csv`` continues after the checkpoint's iteration)
            or overwritten (:func:`rayrec.runs.claim`).
        interrupts: SIGINT / SIGTERM handling while training; without it a
            ``KeyboardInterrupt`` abandons the iteration in progress.
        started: called with the claimed folder, before Ray starts.
        command: the command line, recorded in ``status.json``.
        extra: more keys for ``result.json`` (a table's budget and code version).

    Raises:
        RunInterrupted: stopped by a signal (or KeyboardInterrupt); the folder is
            marked ``interrupted`` with its last completed iteration.
    """
    import ray

    opts.validate(local=True)
    run = TrainingRun.from_options(opts)
    if opts.out is None:
        path = new_run_folder(default_run_root(opts.algo, opts.env, opts.seed))
        existing = "refuse"
    else:
        path = Path(opts.out)
    opts = dataclasses.replace(opts, out=str(path))
    if existing == "resume":
        _check_stop_ahead(opts, path)
    folder = claim(path, existing, options=dataclasses.asdict(opts), command=command)
    sink = LocalOutputs(
        folder,
        opts.algo,
        per_iteration=not get_algorithm(opts.algo).samples_env,
        progress=progress,
        interrupts=interrupts,
    )
    try:
        if started is not None:
            started(folder)
        if not ray.is_initialized():
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
        with interrupts if interrupts is not None else contextlib.nullcontext(), run:
            run.start(folder.checkpoint if folder.resumes_from else None)
            sink.begin(run.state)
            evaluation = run.run(sink)
    except RunInterrupted:
        folder.interrupted()
        raise
    except KeyboardInterrupt as exc:
        folder.interrupted()
        signum = interrupts.signum if interrupts is not None and interrupts.signum else SIGINT
        raise RunInterrupted(
            folder.path,
            folder.status.iteration,
            folder.status.checkpoint_iteration,
            signum,
            abandoned=True,
        ) from exc
    except SystemExit:  # Ray's own SIGTERM handler, when no Interrupts are installed
        folder.interrupted()
        raise
    except BaseException as exc:
        folder.failed(exc)
        raise
    finally:
        sink.close()
    last = sink.last_row or {}
    result_json = {
        "algorithm": opts.algo,
        "env": opts.env,
        "simulator": env_source(run.config.env_config),
        "seed": opts.seed,
        "iterations": last.get("iteration"),
        "env_steps": last.get("env_steps"),
        "train_seconds": last.get("train_seconds"),
        "last_row": last,
        "overrides": opts.overrides,
        "protocol": evaluation.protocol,
        "evaluation": evaluation.by_policy(opts.algo),
        "checkpoint": str(sink.checkpoint.resolve()) if sink.saved else None,
        "out": str(folder.path),
        **(extra or {}),
    }
    atomic_write_text(folder.result, json.dumps(result_json, indent=2, default=str))
    folder.finished()
    return result_json


def _check_stop_ahead(opts: TrainOptions, path: Path) -> None:
    """A run to resume must have iterations left: its stop criteria not yet met at the
    checkpoint it continues from.

    Raises:
        InputError: naming the folder, where it stands and the options to extend.
    """
    status = read_status(path)
    ckpt = status.checkpoint if status is not None else None
    if status is None or ckpt is None or not (path / CHECKPOINT_DIR).is_dir():
        return
    iteration, env_steps = int(ckpt["iteration"]), int(ckpt["env_steps"])
    if opts.stop().reached(iteration, env_steps, 0.0):
        budget = f"--stop-iters {opts.stop_iters}" + (
            f", --stop-timesteps {opts.stop_timesteps}" if opts.stop_timesteps else ""
        )
        raise InputError(
            f"{path}: {status.describe()}, {env_steps} env steps, has reached its stop"
            f" criteria ({budget}): nothing to train; pass a larger --stop-iters or"
            " --stop-timesteps to train on, or --overwrite to start again"
        )


def _board(path: Path, purge_step: int | None = None) -> Any:
    """A TensorBoard writer (tensorboardX, installed with ``ray[tune]``), or None;
    ``purge_step``: events of an earlier session from that step on are dropped (a
    resumed run logs them again)."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError:  # pragma: no cover - ray[tune] depends on it
        log.warning("tensorboardX is not installed: no TensorBoard logs")
        return None
    return SummaryWriter(str(path), flush_secs=10, purge_step=purge_step)


def finite_scalar(value: Any) -> float | None:
    """``value`` as a float if it is a finite real number — a Python or a numpy scalar
    (RLlib's metrics are ``numpy.float32``); None for anything else (None, NaN, bools,
    text)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None  # numpy's bool_ is not a numbers.Real; its integers and floats are
    number = float(value)
    return number if math.isfinite(number) else None


def _log_scalars(board: Any, prefix: str, values: Mapping[str, Any], step: int) -> None:
    """Each finite real value of ``values`` as the TensorBoard scalar ``prefix/key``
    (the step counters themselves are the x axis, not scalars)."""
    if board is None:
        return
    for key, value in values.items():
        number = finite_scalar(value)
        if key not in ("iteration", "env_steps") and number is not None:
            board.add_scalar(f"{prefix}/{key}", number, global_step=step)


# ------------------------------------------------------------- evaluating later
def load_policy_module(
    checkpoint: str | Path,
    *,
    env_config: Mapping[str, Any] | None = None,
    verify: bool = True,
) -> Any:
    """The trained RLModule of a checkpoint folder (``rayrec train``'s ``out`` or
    ``out/checkpoint``, a Tune trial checkpoint), verified first
    (:func:`rayrec.checkpoints.verify_checkpoint`: every file's size and sha256 and, with
    ``env_config``, the env's spaces).

    ``verify=False`` loads an unchecked checkpoint (one from before manifests, or
    RLlib's own algorithm checkpoint or module folder); its module's spaces are still
    compared with ``env_config``'s.

    Raises:
        InputError: no such folder, an empty or non-checkpoint folder, a missing,
            truncated or altered file, or a checkpoint made for another env.
    """
    from ray.rllib.core.rl_module.rl_module import RLModule

    path = Path(checkpoint)
    if verify:
        manifest = verify_checkpoint(find_checkpoint(path), env_config=env_config)
        module_dir = manifest.folder / ALGO_DIR / RL_MODULE_PATH
        selected = manifest.folder / ALGO_DIR / SELECTED_MODULE_DIR
        if selected.is_dir():  # an offline loop's validation-selected weights
            module_dir = selected
        with loading(module_dir, manifest):
            return RLModule.from_checkpoint(str(module_dir.resolve()))
    if not path.is_dir():
        raise InputError(f"{path}: no such folder")
    roots = (path / ALGO_DIR, path, path / "checkpoint" / ALGO_DIR, path / "checkpoint")
    chosen = [root / SELECTED_MODULE_DIR for root in roots]
    for candidate in [*chosen, *(root / RL_MODULE_PATH for root in roots), path]:
        if (candidate / "module_state.pt").is_file() or (
            candidate / "class_and_ctor_args.pkl"
        ).is_file():
            with loading(candidate):
                module = RLModule.from_checkpoint(str(candidate.resolve()))
            if env_config is not None:
                check_module_spaces(module, candidate, env_config)
            return module
    raise InputError(f"{path}: not an rayrec/RLlib training checkpoint (no {RL_MODULE_PATH})")


def evaluate_checkpoint(
    checkpoint: str | Path,
    env: str,
    *,
    simulator: str | None = None,
    users: int = 1000,
    seed: int = 1,
    verify: bool = True,
) -> EvalResult:
    """A checkpoint's greedy policy evaluated by the protocol of the env's kind (the
    env spec is resolved first: a missing simulator says how to train it; then the
    checkpoint is verified against it, :func:`load_policy_module`)."""
    env_config = env_config_for(env, simulator, part=PART_EVAL)
    module = load_policy_module(checkpoint, env_config=env_config, verify=verify)
    return protocol_for_kind(env_config["kind"]).evaluate_module(
        module, env_config, users=users, seed=seed
    )


__all__ = [
    "ALGO_DIR",
    "TRIAL_STATE",
    "Iteration",
    "LocalOutputs",
    "RunSink",
    "RunState",
    "StopCriteria",
    "TrainOptions",
    "TrainingRun",
    "apply_overrides",
    "build_config",
    "evaluate_checkpoint",
    "finite_scalar",
    "iteration_row",
    "load_policy_module",
    "parse_overrides",
    "pin_torch_threads",
    "run_training",
]
