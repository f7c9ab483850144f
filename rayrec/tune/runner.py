"""Run a sweep spec with Ray Tune: the trial function, its resources and the Tuner.

Each trial is a *function trainable* (:func:`rayrec_trial`, ours) that builds the
algorithm exactly as ``rayrec train`` does (:func:`rayrec.train.build_config`, with the
spec's resources set explicitly), trains it, and reports one row per iteration through
``tune.report``. Every ``checkpoint.frequency`` iterations, and at the last one, the
row carries a checkpoint: the RLlib algorithm state (``algorithm/``) plus the trial's
own counters (``rayrec_trial.json``). A trial started with a checkpoint — a retry
after a failure (``FailureConfig``) or ``rayrec resume`` after the driver died —
restores both and continues with the next iteration, so Tune's ``training_iteration``
and ours agree. A trial whose final, evaluated checkpoint was saved before the driver
died returns at once (training on would add an iteration). HAC-family checkpoints
carry their replay buffer (``store_buffer_in_checkpoints``, on by default), so a resumed
off-policy trial continues with the same transitions.

The last iteration (the first to meet a stop criterion) evaluates the greedy policy
in the spec's *evaluation* simulator next to a random policy, as the HAC paper's
protocol says, and reports ``eval_*`` and ``random_*``; earlier rows carry those keys
as NaN, so every row has the same columns (Tune's ``progress.csv`` fixes its columns
from the first row, and a searcher's metric must be in every row). A trial that a
scheduler (ASHA) stops early is not evaluated.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from rayrec.data.io import atomic_write_text
from rayrec.errors import InputError
from rayrec.tune.results import SPEC_FILE, write_results
from rayrec.tune.spec import RUN_KEYS, TuneSpec, _is_uri, spec_to_dict

log = logging.getLogger(__name__)

#: inside a trial checkpoint: the RLlib algorithm state and our counters
ALGO_DIR = "algorithm"
TRIAL_STATE = "rayrec_trial.json"
#: metrics of the final evaluation (reported as eval_<m> and random_<m>)
EVAL_METRICS = (
    "total_reward",
    "total_reward_std",
    "depth",
    "reward_variance",
    "reward_per_step",
    "coverage",
    "intra_list_diversity",
)
#: how many search points are built and validated before the sweep starts
MAX_CHECKED_POINTS = 256


# ------------------------------------------------------------------ the trial
def _simulator_folder(spec: TuneSpec) -> str | None:
    """The learned simulator's folder as an absolute path, resolved here in the driver:
    trials run in their own working folders, where ``runs/simulators`` is not."""
    from rayrec.environments import default_simulator_folder

    if spec.simulator:
        return str(Path(spec.simulator).resolve())
    folder = default_simulator_folder(spec.env)
    return None if folder is None else str(folder.resolve())


def param_space(spec: TuneSpec) -> dict[str, Any]:
    """The Tune ``param_space`` of a spec: ``algorithm``, ``seed``, ``config`` (the
    algorithm's fields, swept ones as Tune domains) and ``rayrec`` (run settings, the
    same for every trial; paths made absolute, as trials run in their own folders)."""
    run = {
        "env": str(Path(spec.env).resolve()),
        "simulator": _simulator_folder(spec),
        "resources": dataclasses.asdict(spec.resources),
        "stop": dataclasses.asdict(spec.stop),
        "checkpoint_frequency": spec.checkpoint.frequency,
        "evaluation": dataclasses.asdict(spec.evaluation),
    }
    space: dict[str, Any] = {
        "algorithm": spec.algorithm,
        "seed": spec.seed,
        "config": dict(spec.config),
        "rayrec": run,
    }
    for key, domain in spec.search_space.items():
        if key in RUN_KEYS:
            space[key] = domain.to_tune()
        else:
            space["config"][key] = domain.to_tune()
    return space


def algorithm_config(trial_config: dict[str, Any]) -> tuple[Any, str]:
    """The validated RLlib config of one trial and its simulator target."""
    from rayrec.train import TrainOptions, build_config

    run = trial_config["rayrec"]
    res = run["resources"]
    opts = TrainOptions(
        algo=str(trial_config["algorithm"]),
        env=run["env"],
        overrides=dict(trial_config.get("config") or {}),
        simulator=run["simulator"],
        num_env_runners=int(res["num_env_runners"]),
        num_envs_per_env_runner=int(res["num_envs_per_env_runner"]),
        gpus=float(res["gpus_per_learner"]),
        seed=int(trial_config["seed"]),
    )
    config, target = build_config(opts)
    config.env_runners(num_cpus_per_env_runner=res["cpus_per_env_runner"])
    config.learners(
        num_learners=int(res["num_learners"]),
        num_cpus_per_learner=res["cpus_per_learner"],
        num_gpus_per_learner=res["gpus_per_learner"],
    )
    config.resources(num_cpus_for_main_process=res["cpus_for_main_process"])
    try:
        config.validate()
    except ValueError as exc:
        text = str(exc).strip()
        raise InputError(text.splitlines()[0] if text else repr(exc)) from exc
    return config, target


def trial_resources(trial_config: dict[str, Any]) -> Any:
    """The trial's placement group: RLlib's own bundles for the algorithm config
    (main process + learner, then one bundle per env runner / remote learner)."""
    config, _ = algorithm_config(trial_config)
    return config.algo_class.default_resource_request(config)


def iteration_metrics(result: dict[str, Any]) -> dict[str, Any]:
    """The row of one ``algo.train()`` result: env steps, return, losses (as ``rayrec
    train`` logs them)."""
    from rayrec.train import LOGGED_LEARNER_KEYS

    env_r = result.get("env_runners", {}) or {}
    learner = (result.get("learners", {}) or {}).get("default_policy", {}) or {}
    return {
        "env_steps": int(env_r.get("num_env_steps_sampled_lifetime", 0) or 0),
        "episode_return_mean": _float(env_r.get("episode_return_mean")),
        "episode_len_mean": _float(env_r.get("episode_len_mean")),
        **{
            k: _float(v)
            for k, v in learner.items()
            if k.startswith("L_") or k in LOGGED_LEARNER_KEYS
        },
    }


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def stop_reached(stop: dict[str, Any], iteration: int, env_steps: int, seconds: float) -> bool:
    """Whether any stop criterion of the spec is met."""
    if iteration >= int(stop["training_iteration"]):
        return True
    if stop.get("env_steps") is not None and env_steps >= int(stop["env_steps"]):
        return True
    return stop.get("time_total_s") is not None and seconds >= float(stop["time_total_s"])


def evaluate(algo: Any, target: str, evaluation: dict[str, Any]) -> dict[str, float]:
    """Greedy policy and random policy in the evaluation simulator: eval_* / random_*."""
    from rayrec.environments.rollout import random_policy
    from rayrec.evaluation.slate_metrics import evaluate_policy, module_policy
    from rayrec.train import eval_simulator

    sim, env_cfg = eval_simulator(algo.config.env_config)
    users, seed = int(evaluation["users"]), int(evaluation["seed"])
    agent = evaluate_policy(
        sim, module_policy(algo.get_module()), env_cfg, n_users=users, seed=seed
    )
    rand = evaluate_policy(sim, random_policy(), env_cfg, n_users=users, seed=seed)
    return {
        **{f"eval_{m}": float(agent[m]) for m in EVAL_METRICS},
        **{f"random_{m}": float(rand[m]) for m in EVAL_METRICS},
    }


def rayrec_trial(config: dict[str, Any]) -> None:
    """One trial of a sweep (Tune function trainable): train, checkpoint, evaluate."""
    from ray import tune

    run = config["rayrec"]
    state: dict[str, Any] = {"iteration": 0, "seconds": 0.0, "done": False}
    checkpoint = tune.get_checkpoint()
    algo = None
    try:
        if checkpoint is not None:
            with checkpoint.as_directory() as folder:
                state = json.loads(Path(folder, TRIAL_STATE).read_text())
                if state.get("done"):
                    # its final (evaluated) checkpoint was saved before the driver died:
                    # the trial is finished; training on would add an iteration
                    log.info("finished at iteration %s; nothing to do", state["iteration"])
                    return
                algo_config, target = algorithm_config(config)
                algo = algo_config.build_algo()
                algo.restore_from_path(str(Path(folder, ALGO_DIR).resolve()))
            log.info("restored from iteration %s", state["iteration"])
        else:
            algo_config, target = algorithm_config(config)
            algo = algo_config.build_algo()
        pending_eval = {f"{p}_{m}": math.nan for p in ("eval", "random") for m in EVAL_METRICS}
        while True:
            iteration = int(state["iteration"]) + 1
            start = time.perf_counter()
            row = iteration_metrics(algo.train())
            seconds = float(state["seconds"]) + time.perf_counter() - start
            last = stop_reached(run["stop"], iteration, row["env_steps"], seconds)
            state = {"iteration": iteration, "seconds": seconds, "done": last}
            row["train_seconds"] = round(seconds, 3)
            row.update(evaluate(algo, target, run["evaluation"]) if last else pending_eval)
            if last or iteration % int(run["checkpoint_frequency"]) == 0:
                with tempfile.TemporaryDirectory(prefix="rayrec-ckpt-") as folder:
                    algo.save_to_path(str(Path(folder, ALGO_DIR)))
                    Path(folder, TRIAL_STATE).write_text(json.dumps(state))
                    tune.report(row, checkpoint=tune.Checkpoint.from_directory(folder))
            else:
                tune.report(row)
            if last:
                return
    finally:
        if algo is not None:
            algo.stop()


def trainable() -> Any:
    """:func:`rayrec_trial` with its per-trial resources (the same object on resume)."""
    from ray import tune

    return tune.with_resources(rayrec_trial, trial_resources)


# ------------------------------------------------------------------ the sweep
def point_config(space: dict[str, Any], point: dict[str, Any]) -> dict[str, Any]:
    """The trial config of ``space`` at one search point (swept key -> value)."""
    trial = {**space, "config": dict(space["config"])}
    for key, value in point.items():
        if key in RUN_KEYS:
            trial[key] = value
        else:
            trial["config"][key] = value
    return trial


def check_search_points(spec: TuneSpec, space: dict[str, Any], where: str) -> int:
    """Build the algorithm config of every grid/choice point (and range bound) before
    anything starts, so a bad value fails now, naming the point. Returns the count."""
    points = list(itertools.islice(spec.grid_points(), MAX_CHECKED_POINTS))
    for point in points:
        try:
            algorithm_config(point_config(space, point))
        except InputError as exc:
            shown = ", ".join(f"{k}={v!r}" for k, v in point.items())
            at = f"search point {{{shown}}}: " if shown else ""
            raise InputError(f"{where}: {at}{exc}") from exc
    return len(points)


def check_simulator(spec: TuneSpec, where: str) -> None:
    """The spec's simulator exists (a learned one must be trained first)."""
    from rayrec.environments.rllib_env import resolve_simulator

    try:
        resolve_simulator(spec.env, spec.simulator, option="a `simulator:` key in the spec with")
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from exc


def check_fits(spec: TuneSpec, space: dict[str, Any], where: str) -> None:
    """Fail now if one trial needs more than the whole Ray cluster has, on a single
    local node (Tune would wait for ever); on a cluster, warn (an autoscaler may add
    nodes)."""
    import ray

    trial = point_config(space, next(iter(spec.grid_points())))
    need = trial_resources(trial).required_resources
    have = ray.cluster_resources()
    short = {k: v for k, v in need.items() if v > have.get(k, 0.0) + 1e-9}
    if not short:
        return
    asked = ", ".join(f"{v:g} {k}" for k, v in sorted(need.items()) if v)
    has = ", ".join(f"{have.get(k, 0.0):g} {k}" for k in sorted(short))
    message = f"{where}: resources: one trial asks for {asked}, but this Ray cluster has {has}"
    if single_local_node():
        raise InputError(
            f"{message}; lower the spec's resources (--smoke uses its smoke section) or run"
            " on a cluster that has them (set RAY_ADDRESS)"
        )
    log.warning("%s; trials wait until the cluster grows (autoscaler)", message)


def ensure_ray() -> None:
    """Connect to the cluster in ``RAY_ADDRESS`` / ``ray start``, else start a local one."""
    import ray

    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)


def single_local_node() -> bool:
    """Whether Ray is one node reached without ``RAY_ADDRESS`` (nothing will add
    nodes); a cluster, autoscaling or not, is reached through ``RAY_ADDRESS``."""
    import ray

    return not os.environ.get("RAY_ADDRESS") and len([n for n in ray.nodes() if n["Alive"]]) == 1


def make_searcher(spec: TuneSpec) -> Any:
    if spec.searcher is None:
        return None
    try:
        import optuna  # noqa: F401
        from ray.tune.search.optuna import OptunaSearch
    except ImportError:
        raise InputError(
            "searcher: optuna: the optuna package is not installed (pip install optuna),"
            " or remove the searcher key"
        ) from None
    return OptunaSearch(metric=spec.searcher.metric, mode=spec.searcher.mode)


def make_scheduler(spec: TuneSpec) -> Any:
    if spec.scheduler is None:
        return None
    from ray.tune.schedulers import ASHAScheduler

    s = spec.scheduler
    return ASHAScheduler(
        time_attr="training_iteration",
        metric=s.metric,
        mode=s.mode,
        max_t=spec.stop.training_iteration,
        grace_period=s.grace_period,
        reduction_factor=s.reduction_factor,
    )


def callbacks(spec: TuneSpec, progress_interval_s: float) -> list[Any]:
    from rayrec.tune.progress import ProgressTable, ResumableCSVLogger, ResumableJsonLogger

    return [
        ProgressTable(list(spec.swept()), interval_s=progress_interval_s),
        ResumableCSVLogger(),
        ResumableJsonLogger(),
    ]


@dataclass
class SweepOutcome:
    """Where a finished sweep's results are, and its table."""

    experiment_path: str
    results_csv: str
    results_parquet: str
    table: pd.DataFrame
    seconds: float

    def counts(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.table["status"].value_counts().items()}


def run_sweep(
    spec: TuneSpec,
    *,
    storage: str | None = None,
    where: str = "spec",
    smoke: bool = False,
    progress_interval_s: float = 30.0,
) -> SweepOutcome:
    """Run every trial of ``spec`` and write the results table. ``where`` (the spec's
    file) prefixes errors; ``smoke`` is recorded for the report.

    Raises:
        InputError: bad search points, a missing simulator, or an experiment folder
            that already holds a sweep (resume it instead).
    """
    from ray import tune

    exp_path = spec.experiment_path(storage)
    if tune.Tuner.can_restore(exp_path):
        raise InputError(
            f"{exp_path} already holds a sweep: `rayrec resume {exp_path}` continues it;"
            " or pass --storage DIR, or remove the folder"
        )
    space = param_space(spec)
    check_simulator(spec, where)
    check_search_points(spec, space, where)
    ensure_ray()
    check_fits(spec, space, where)
    write_spec_record(spec, exp_path, source=where, smoke=smoke)
    start = time.perf_counter()
    tuner = tune.Tuner(
        trainable(),
        param_space=space,
        tune_config=tune.TuneConfig(
            num_samples=spec.num_samples,
            search_alg=make_searcher(spec),
            scheduler=make_scheduler(spec),
            max_concurrent_trials=spec.max_concurrent_trials,
        ),
        run_config=tune.RunConfig(
            name=spec.name,
            storage_path=exp_path.rsplit("/", 1)[0],
            callbacks=callbacks(spec, progress_interval_s),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=spec.checkpoint.num_to_keep),
            failure_config=tune.FailureConfig(max_failures=spec.failure.max_failures),
            verbose=0,
        ),
    )
    tuner.fit()
    return finish(exp_path, start)


def finish(exp_path: str, start: float) -> SweepOutcome:
    """Write the results table of a finished (or resumed) sweep."""
    csv_path, pq_path, table = write_results(exp_path)
    return SweepOutcome(exp_path, str(csv_path), str(pq_path), table, time.perf_counter() - start)


def write_spec_record(spec: TuneSpec, exp_path: str, *, source: str, smoke: bool) -> None:
    """``<experiment>/rayrec_sweep.json``: the spec as run, its file, whether ``--smoke``
    applied (the report reads it)."""
    record = {"source": source, "smoke": smoke, "spec": spec_to_dict(spec)}
    text = json.dumps(record, indent=2, default=str)
    if _is_uri(exp_path):
        import pyarrow.fs

        fs, path = pyarrow.fs.FileSystem.from_uri(exp_path)
        fs.create_dir(path, recursive=True)
        with fs.open_output_stream(f"{path}/{SPEC_FILE}") as out:
            out.write(text.encode("utf-8"))
        return
    atomic_write_text(Path(exp_path) / SPEC_FILE, text)
