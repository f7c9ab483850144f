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

Outputs of ``rayrec train`` in ``out``: ``checkpoint/`` (``algorithm/``, RLlib's
algorithm checkpoint, and ``rayrec_trial.json``, the counters), ``progress.csv`` (one
row per iteration), ``tensorboard/`` (the same scalars plus the final evaluation, as
TensorBoard event files: ``tensorboard --logdir OUT``), ``result.json`` (config,
budget, final evaluation of the agent and of the reference policies).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import difflib
import json
import logging
import math
import numbers
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from rayrec.algorithms.registry import check_env_kind, get_algorithm, make_config
from rayrec.config import check_field, check_like, data_fields
from rayrec.data.io import atomic_write_text
from rayrec.environments import env_config_for, env_creator_name, read_kind
from rayrec.errors import InputError
from rayrec.evaluation import EvalResult, EvaluationProtocol, get_protocol, protocol_for_kind
from rayrec.simulator.keys import PART_EVAL, PART_TRAIN

log = logging.getLogger(__name__)
RL_MODULE_PATH = Path("learner_group") / "learner" / "rl_module" / "default_policy"
#: learner results logged per iteration besides rayrec's own "L_*" losses (PPO / A2C's)
LOGGED_LEARNER_KEYS = ("policy_loss", "vf_loss", "entropy", "vf_explained_var")
#: inside a checkpoint folder: the RLlib algorithm state and the run's counters
ALGO_DIR = "algorithm"
TRIAL_STATE = "rayrec_trial.json"
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
    no checkpoint at all (a table's runs keep only their results).
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
    out: str = "runs/train"
    eval_users: int = 500
    checkpoint_every: int | None = 10
    source: str = "--config {key}"

    def validate(self) -> None:
        """Seeds and counts in range (before anything is built).

        Raises:
            InputError: naming the option, the bound and the value.
        """
        for option, value, low in (
            ("--seed", self.seed, 0),
            ("--num-env-runners", self.num_env_runners, 0),
            ("--num-envs", self.num_envs_per_env_runner, 1),
            ("--eval-users", self.eval_users, 1),
            (
                "--checkpoint-every",
                1 if self.checkpoint_every is None else self.checkpoint_every,
                1,
            ),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"{option}: expected an integer >= {low}, got {value!r}")
        if not self.gpus >= 0:
            raise InputError(f"--gpus: expected a number >= 0, got {self.gpus!r}")

    def stop(self) -> StopCriteria:
        return StopCriteria(iterations=self.stop_iters, env_steps=self.stop_timesteps)


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
    target = str(env_config["simulator"])
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

    def start(self, checkpoint: Path | None = None) -> None:
        """Build the algorithm; from ``checkpoint`` (a folder :meth:`save` wrote), restore
        its state and the counters, so the run continues with the next iteration."""
        self.algo = self.config.build_algo()
        if checkpoint is not None:
            self.algo.restore_from_path(str((Path(checkpoint) / ALGO_DIR).resolve()))
            self.state = RunState.read(checkpoint)

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

    def save(self, folder: Path) -> None:
        """A checkpoint in ``folder``: ``algorithm/`` (RLlib's state) and the counters."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.algo.save_to_path(str((folder / ALGO_DIR).resolve()))
        atomic_write_text(folder / TRIAL_STATE, json.dumps(dataclasses.asdict(self.state)))

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
    """``rayrec train``'s sink: ``progress.csv`` (rewritten each iteration),
    TensorBoard scalars, ``checkpoint/`` on the run's cadence, and a progress callback.

    An algorithm that samples no env steps logs its curves per iteration.
    """

    def __init__(
        self,
        out: Path,
        algo: str,
        *,
        per_iteration: bool = False,
        progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.out = out
        self.algo = algo
        self.per_iteration = per_iteration
        self.progress = progress
        self.rows: list[dict[str, Any]] = []
        self.saved = False
        self.board = _board(out / "tensorboard")

    @property
    def checkpoint(self) -> Path:
        return self.out / "checkpoint"

    def iteration(self, run: TrainingRun, it: Iteration) -> None:
        self.rows.append(it.row)
        _write_progress(self.out / "progress.csv", self.rows)
        step = it.row["iteration"] if self.per_iteration else it.row["env_steps"]
        _log_scalars(self.board, "train", it.row, step=step)
        if self.progress is not None:
            self.progress(it.row)
        if it.checkpoint_due:
            run.save(self.checkpoint)
            self.saved = True
        if it.evaluation is not None:
            for name, metrics in it.evaluation.by_policy(self.algo).items():
                _log_scalars(self.board, f"eval/{name}", metrics, step=it.row["env_steps"])

    def close(self) -> None:
        if self.board is not None:
            self.board.close()


def run_training(
    opts: TrainOptions, progress: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Train, checkpoint and evaluate; return (and write) the result."""
    import ray

    run = TrainingRun.from_options(opts)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    sink = LocalOutputs(
        out, opts.algo, per_iteration=not get_algorithm(opts.algo).samples_env, progress=progress
    )
    try:
        with run:
            run.start()
            evaluation = run.run(sink)
    finally:
        sink.close()
    last = sink.rows[-1]
    result_json = {
        "algorithm": opts.algo,
        "env": opts.env,
        "simulator": str(run.config.env_config["simulator"]),
        "seed": opts.seed,
        "iterations": last["iteration"],
        "env_steps": last["env_steps"],
        "train_seconds": last["train_seconds"],
        "overrides": opts.overrides,
        "protocol": evaluation.protocol,
        "evaluation": evaluation.by_policy(opts.algo),
        "checkpoint": str(sink.checkpoint.resolve()) if sink.saved else None,
    }
    atomic_write_text(out / "result.json", json.dumps(result_json, indent=2, default=str))
    return result_json


def _board(path: Path) -> Any:
    """A TensorBoard writer (tensorboardX, installed with ``ray[tune]``), or None."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError:  # pragma: no cover - ray[tune] depends on it
        log.warning("tensorboardX is not installed: no TensorBoard logs")
        return None
    return SummaryWriter(str(path), flush_secs=10)


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


def _write_progress(path: Path, rows: list[dict[str, Any]]) -> None:
    keys = sorted({k for r in rows for k in r}, key=lambda k: (k != "iteration", k))
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


# ------------------------------------------------------------- evaluating later
def load_policy_module(checkpoint: str | Path) -> Any:
    """The trained RLModule from a checkpoint folder (``rayrec train``'s ``out`` or
    ``out/checkpoint``, a Tune trial checkpoint, an RLlib algorithm checkpoint, or the
    module folder itself)."""
    from ray.rllib.core.rl_module.rl_module import RLModule

    path = Path(checkpoint)
    roots = (path / ALGO_DIR, path, path / "checkpoint" / ALGO_DIR, path / "checkpoint")
    for candidate in [*(root / RL_MODULE_PATH for root in roots), path]:
        if (candidate / "module_state.pt").is_file() or (
            candidate / "class_and_ctor_args.pkl"
        ).is_file():
            return RLModule.from_checkpoint(str(candidate.resolve()))
    raise InputError(f"{path}: not an rayrec/RLlib training checkpoint (no {RL_MODULE_PATH})")


def evaluate_checkpoint(
    checkpoint: str | Path,
    env: str,
    *,
    simulator: str | None = None,
    users: int = 1000,
    seed: int = 1,
) -> EvalResult:
    """A checkpoint's greedy policy evaluated by the protocol of the env's kind (the
    env spec is resolved first: a missing simulator says how to train it)."""
    env_config = env_config_for(env, simulator, part=PART_EVAL)
    module = load_policy_module(checkpoint)
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
    "parse_overrides",
    "run_training",
]
