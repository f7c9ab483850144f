"""Train an algorithm against a simulator and evaluate it: what ``rayrec train`` runs.

The agent trains in the spec's *train* simulator (first 80% of the log by time) and is
evaluated greedily in its *evaluation* simulator (all of the log), next to a random
policy, as the HAC paper's protocol says. Ray is started locally unless a cluster is
reachable (``RAY_ADDRESS`` / ``ray start``); env runners each step a batched
``SlateEnv`` of ``num_envs_per_env_runner`` users.

Outputs in ``out``: ``checkpoint/`` (RLlib algorithm checkpoint, resumable),
``progress.csv`` (one row per iteration), ``tensorboard/`` (the same scalars plus the
final evaluation, as TensorBoard event files: ``tensorboard --logdir OUT``),
``result.json`` (config, budget, final evaluation of the agent and of the random
policy).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rayrec.algorithms.registry import make_config
from rayrec.data.io import atomic_write_text
from rayrec.environments import env_config_for, env_config_of, env_creator_name
from rayrec.environments.rollout import random_policy
from rayrec.environments.slate import EnvConfig
from rayrec.errors import InputError
from rayrec.evaluation.slate_metrics import evaluate_policy, module_policy
from rayrec.simulator.keys import PART_EVAL, PART_TRAIN
from rayrec.simulator.simulator import Simulator

log = logging.getLogger(__name__)
RL_MODULE_PATH = Path("learner_group") / "learner" / "rl_module" / "default_policy"
#: learner results logged per iteration besides rayrec's own "L_*" losses (PPO / A2C's)
LOGGED_LEARNER_KEYS = ("policy_loss", "vf_loss", "entropy", "vf_explained_var")


@dataclass
class TrainOptions:
    """What ``rayrec train`` was asked to do."""

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
    checkpoint_every: int = 10


#: ``--config model.<field>=value`` sets a field of the algorithm's model config
MODEL_PREFIX = "model."


def _model_field(config: Any, algo: str, key: str) -> str:
    """The model-config field named by ``model.<field>``, checked against the algorithm's
    model-config dataclass (sizes, dropout, ...)."""
    name = key[len(MODEL_PREFIX) :]
    cls = getattr(config, "model_config_class", None)
    known = sorted(f.name for f in dataclasses.fields(cls)) if cls is not None else []
    if name not in known:
        raise InputError(
            f"--config {key}: not a model field of {algo}; expected one of: "
            + ", ".join(f"model.{k}" for k in known)
        )
    return name


def build_config(opts: TrainOptions) -> tuple[Any, str]:
    """The algorithm config for ``opts`` (validated) and the simulator target."""
    env_config = env_config_for(opts.env, opts.simulator, part=PART_TRAIN, seed=opts.seed)
    target = str(env_config["simulator"])
    config = make_config(opts.algo)
    off_policy = isinstance(getattr(config, "replay_buffer_config", None), dict)
    if off_policy:
        config.replay_buffer_config = {**config.replay_buffer_config, "rng_seed": opts.seed}
    model: dict[str, Any] = {}
    for key, value in opts.overrides.items():
        if key.startswith(MODEL_PREFIX):
            model[_model_field(config, opts.algo, key)] = value
            continue
        if not hasattr(config, key):
            raise InputError(f"--config {key}: not a field of the {opts.algo} config")
        setattr(config, key, value)
    if model:
        config.rl_module(model_config={**config._model_config, **model})
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
            min_sample_timesteps_per_iteration=256
            if getattr(config, "samples_env_steps", True)
            else 0
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
    try:
        config.validate()
    except ValueError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise InputError(first) from exc  # without RLlib's "to suppress..." boilerplate
    return config, target


def eval_simulator(target: str | Mapping[str, Any]) -> tuple[Simulator, EnvConfig]:
    """The evaluation simulator and session settings of a training ``env_config`` (or of
    a ground-truth spec file's path)."""
    env_config = {"simulator": target} if isinstance(target, str) else dict(target)
    return env_config_of({**env_config, "part": PART_EVAL})


def run_training(
    opts: TrainOptions, progress: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Train, checkpoint and evaluate; return (and write) the result."""
    import ray

    config, target = build_config(opts)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    algo = config.build_algo()
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    board = _board(out / "tensorboard")
    try:
        for it in range(1, opts.stop_iters + 1):
            result = algo.train()
            env_r = result.get("env_runners", {})
            learner = result.get("learners", {}).get("default_policy", {})
            row = {
                "iteration": it,
                "seconds": round(time.perf_counter() - t0, 2),
                "env_steps": int(env_r.get("num_env_steps_sampled_lifetime", 0)),
                "episode_return_mean": env_r.get("episode_return_mean"),
                "episode_len_mean": env_r.get("episode_len_mean"),
                **{
                    k: float(v)
                    for k, v in learner.items()
                    if k.startswith("L_") or k in LOGGED_LEARNER_KEYS
                },
            }
            rows.append(row)
            # an offline algorithm's curves run per iteration (it samples no env steps)
            offline = not getattr(config, "samples_env_steps", True)
            _log_scalars(board, "train", row, step=it if offline else row["env_steps"])
            if progress is not None:
                progress(row)
            if it % opts.checkpoint_every == 0 or it == opts.stop_iters:
                algo.save_to_path(str((out / "checkpoint").resolve()))
            if opts.stop_timesteps is not None and row["env_steps"] >= opts.stop_timesteps:
                break
        _write_progress(out / "progress.csv", rows)
        sim, env_cfg = eval_simulator(config.env_config)
        agent = evaluate_policy(
            sim, module_policy(algo.get_module()), env_cfg, n_users=opts.eval_users, seed=1
        )
        rand = evaluate_policy(
            sim,
            random_policy(),
            env_cfg,
            n_users=opts.eval_users,
            seed=1,
        )
        _log_scalars(board, f"eval/{opts.algo}", agent, step=rows[-1]["env_steps"] if rows else 0)
        _log_scalars(board, "eval/random", rand, step=rows[-1]["env_steps"] if rows else 0)
    finally:
        algo.stop()
        if board is not None:
            board.close()
    result_json = {
        "algorithm": opts.algo,
        "env": opts.env,
        "simulator": target,
        "seed": opts.seed,
        "iterations": len(rows),
        "env_steps": rows[-1]["env_steps"] if rows else 0,
        "train_seconds": rows[-1]["seconds"] if rows else 0.0,
        "overrides": opts.overrides,
        "evaluation": {opts.algo: agent, "random": rand},
        "checkpoint": str((out / "checkpoint").resolve()),
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


def _log_scalars(board: Any, prefix: str, values: dict[str, Any], step: int) -> None:
    if board is None:
        return
    for key, value in values.items():
        if key in ("iteration", "env_steps") or isinstance(value, bool):
            continue
        if isinstance(value, int | float) and value == value:  # skips None and NaN
            board.add_scalar(f"{prefix}/{key}", float(value), global_step=step)


def _write_progress(path: Path, rows: list[dict[str, Any]]) -> None:
    keys = sorted({k for r in rows for k in r}, key=lambda k: (k != "iteration", k))
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def load_policy_module(checkpoint: str | Path) -> Any:
    """The trained RLModule from an algorithm checkpoint folder (or the module folder)."""
    from ray.rllib.core.rl_module.rl_module import RLModule

    path = Path(checkpoint)
    for candidate in (path / RL_MODULE_PATH, path / "checkpoint" / RL_MODULE_PATH, path):
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
) -> dict[str, dict[str, float]]:
    """Greedy evaluation of a checkpoint and of the random policy in the eval simulator."""
    env_config = env_config_for(env, simulator, part=PART_EVAL)
    module = load_policy_module(checkpoint)
    sim, env_cfg = eval_simulator(env_config)
    return {
        "agent": evaluate_policy(sim, module_policy(module), env_cfg, n_users=users, seed=seed),
        "random": evaluate_policy(
            sim,
            random_policy(),
            env_cfg,
            n_users=users,
            seed=seed,
        ),
    }


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["actor_lr=1e-3", "twin_q=true"]`` -> typed dict (values parsed as YAML)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--config {item!r}: expected KEY=VALUE")
        value = yaml.safe_load(raw)
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
            with contextlib.suppress(ValueError):
                value = float(value)
        out[key.strip()] = value
    return out


__all__ = [
    "TrainOptions",
    "build_config",
    "evaluate_checkpoint",
    "parse_overrides",
    "run_training",
]
