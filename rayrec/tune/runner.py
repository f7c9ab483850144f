"""Run a sweep spec with Ray Tune: the trial function, its resources and the Tuner.

Each trial is a *function trainable* (:func:`rayrec_trial`, ours) that runs the one
training path (:class:`rayrec.train.TrainingRun`, built from the config exactly as
``rayrec train`` builds it, with the spec's resources set explicitly) and reports each
iteration's row through ``tune.report`` (:class:`TuneReport`). Every
``checkpoint.frequency`` iterations, and at the last one, the row carries a checkpoint
in the run's layout: the RLlib algorithm state (``algorithm/``) plus the run's counters
(``rayrec_trial.json``). A trial started with a checkpoint — a retry after a failure
(``FailureConfig``) or ``rayrec resume`` after the driver died — restores both and
continues with the next iteration, so Tune's ``training_iteration`` and ours agree. A
trial whose final, evaluated checkpoint was saved before the driver died returns at
once (training on would add an iteration). A checkpoint is verified before it is
restored (:mod:`rayrec.checkpoints`: its files' sizes and hashes, the algorithm, the
env's spaces); a damaged one fails the trial with a message naming the file.
HAC-family checkpoints carry their replay buffer (``store_buffer_in_checkpoints``, on
by default), so a resumed off-policy trial continues with the same transitions.

The last iteration (the first to meet a stop criterion) is evaluated by the
algorithm's protocol (:mod:`rayrec.evaluation`; the slate protocol: the greedy policy
in the spec's *evaluation* simulator next to a random policy, as the HAC paper's
protocol says) and reports ``eval_*`` and ``random_*``; earlier rows carry those keys
as NaN, so every row has the same columns (Tune's ``progress.csv`` fixes its columns
from the first row, and a searcher's metric must be in every row). A trial that a
scheduler (ASHA) stops early is not evaluated.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from rayrec.checkpoints import verify_checkpoint
from rayrec.data.io import atomic_write_text
from rayrec.errors import InputError
from rayrec.tune.results import SPEC_FILE, write_results
from rayrec.tune.spec import RUN_KEYS, TuneSpec, _is_uri, spec_to_dict

log = logging.getLogger(__name__)

#: how many search points are built and validated before the sweep starts
MAX_CHECKED_POINTS = 256
#: Tune's switch between its output engines (``"0"``: the older one)
AIR_NEW_OUTPUT = "RAY_AIR_NEW_OUTPUT"


# ------------------------------------------------------------------ the trial
def _simulator_folder(spec: TuneSpec) -> str | None:
    """The learned simulator's folder as an absolute path, resolved here in the driver:
    trials run in their own working folders, where ``runs/simulators`` is not. An env
    kind that replays a dataset (``rating_walk``) has none: its trials find the data as
    ``rayrec train`` does (the spec's ``dataset.path``, else ``$RAYREC_DATA``)."""
    from rayrec.environments import default_simulator_folder, read_kind

    if spec.simulator:
        return str(Path(spec.simulator).resolve())
    if read_kind(spec.env) != "slate":
        return None
    folder = default_simulator_folder(spec.env)
    return None if folder is None else str(folder.resolve())


def param_space(spec: TuneSpec) -> dict[str, Any]:
    """The Tune ``param_space`` of a spec: ``algorithm``, ``seed``, ``config`` (the
    algorithm's fields, swept ones as Tune domains) and ``rayrec`` (run settings, the
    same for every trial; paths made absolute, as trials run in their own folders)."""
    from rayrec.environments import resolve_env_spec

    run = {
        "env": str(resolve_env_spec(spec.env).resolve()),
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


def train_options(trial_config: dict[str, Any]) -> Any:
    """The :class:`rayrec.train.TrainOptions` of one trial."""
    from rayrec.train import TrainOptions

    run = trial_config["rayrec"]
    res = run["resources"]
    stop = run["stop"]
    return TrainOptions(
        algo=str(trial_config["algorithm"]),
        env=run["env"],
        overrides=dict(trial_config.get("config") or {}),
        simulator=run["simulator"],
        num_env_runners=int(res["num_env_runners"]),
        num_envs_per_env_runner=int(res["num_envs_per_env_runner"]),
        gpus=float(res["gpus_per_learner"]),
        seed=int(trial_config["seed"]),
        stop_iters=int(stop["training_iteration"]),
        stop_timesteps=stop.get("env_steps"),
        eval_users=int(run["evaluation"]["users"]),
        checkpoint_every=int(run["checkpoint_frequency"]),
        source="config.{key}",
    )


def algorithm_config(trial_config: dict[str, Any]) -> tuple[Any, str]:
    """The validated RLlib config of one trial and its simulator target."""
    from rayrec.train import build_config, validate_config

    res = trial_config["rayrec"]["resources"]
    config, target = build_config(train_options(trial_config))
    config.env_runners(num_cpus_per_env_runner=res["cpus_per_env_runner"])
    config.learners(
        num_learners=int(res["num_learners"]),
        num_cpus_per_learner=res["cpus_per_learner"],
        num_gpus_per_learner=res["gpus_per_learner"],
    )
    config.resources(num_cpus_for_main_process=res["cpus_for_main_process"])
    validate_config(config)
    return config, target


def trial_resources(trial_config: dict[str, Any]) -> Any:
    """The trial's placement group: RLlib's own bundles for the algorithm config
    (main process + learner, then one bundle per env runner / remote learner)."""
    config, _ = algorithm_config(trial_config)
    return config.algo_class.default_resource_request(config)


def trial_run(trial_config: dict[str, Any]) -> Any:
    """The :class:`rayrec.train.TrainingRun` of one trial (stop criteria, checkpoint
    cadence and evaluation from the spec)."""
    from rayrec.train import StopCriteria, TrainingRun, algorithm_protocol

    run = trial_config["rayrec"]
    stop = run["stop"]
    config, _ = algorithm_config(trial_config)
    return TrainingRun(
        config,
        algorithm_protocol(str(trial_config["algorithm"])),
        stop=StopCriteria(
            iterations=int(stop["training_iteration"]),
            env_steps=stop.get("env_steps"),
            seconds=stop.get("time_total_s"),
        ),
        checkpoint_every=int(run["checkpoint_frequency"]),
        eval_users=int(run["evaluation"]["users"]),
        eval_seed=int(run["evaluation"]["seed"]),
    )


class TuneReport:
    """The trial's sink: each row (with the protocol's ``eval_*`` columns, NaN before
    the final evaluation) through ``tune.report``, with a checkpoint when one is due."""

    def iteration(self, run: Any, it: Any) -> None:
        from ray import tune

        row = {**it.row, **run.protocol.columns(it.evaluation)}
        if not it.checkpoint_due:
            tune.report(row)
            return
        with tempfile.TemporaryDirectory(prefix="rayrec-ckpt-") as folder:
            run.save(Path(folder))
            tune.report(row, checkpoint=tune.Checkpoint.from_directory(folder))


def rayrec_trial(config: dict[str, Any]) -> None:
    """One trial of a sweep (Tune function trainable): train, checkpoint, evaluate."""
    from ray import tune

    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        run = _started_run(config, None)
    else:
        with checkpoint.as_directory() as folder:
            # its files checked here, its env and algorithm by TrainingRun.start
            state = verify_checkpoint(Path(folder)).state
            if state.get("done"):
                # its final (evaluated) checkpoint was saved before the driver died:
                # the trial is finished; training on would add an iteration
                log.info("finished at iteration %s; nothing to do", state.get("iteration"))
                return
            run = _started_run(config, Path(folder))
        log.info("restored from iteration %s", state.get("iteration"))
    with run:
        run.run(TuneReport())


def _started_run(config: dict[str, Any], checkpoint: Path | None) -> Any:
    """The trial's run, built (and restored from ``checkpoint``); stopped if that fails."""
    run = trial_run(config)
    try:
        run.start(checkpoint)
    except BaseException:
        run.close()
        raise
    return run


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
    """The spec's simulator exists (a learned one must be trained first); an env kind
    that replays a dataset (``rating_walk``) finds and reads its data."""
    from rayrec.environments import env_config_for, read_kind
    from rayrec.environments.rllib_env import resolve_simulator

    try:
        if read_kind(spec.env) != "slate":
            env_config_for(spec.env, spec.simulator, option="a `simulator:` key in the spec with")
            return
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
    from rayrec.algorithms.registry import get_algorithm
    from rayrec.evaluation import get_protocol
    from rayrec.tune.progress import (
        ProgressTable,
        ResumableCSVLogger,
        ResumableJsonLogger,
        metric_columns,
    )

    # the protocol of the sweep's (first) algorithm: a sweep mixing protocols is refused
    # by its report, and its table shows the first one's metrics
    protocol = get_protocol(get_algorithm(spec.algorithms()[0]).protocol)
    table = ProgressTable(
        list(spec.swept()),
        interval_s=progress_interval_s,
        columns=metric_columns(protocol.shown),
        headline=protocol.headline,
        reference=protocol.references[0] if protocol.references else "",
    )
    return [
        table,
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


@contextlib.contextmanager
def tune_reporter(show: bool) -> Iterator[None]:
    """Tune's own console output while a sweep runs: shown (``show``: its default
    reporter, at RunConfig ``verbose``) or silent. Tune's newer output engine prints its
    configuration box and a TensorBoard hint into Ray's temporary folder at every
    verbosity, 0 included; the older engine prints nothing at verbosity 0, so a silent
    sweep runs with that one (``RAY_AIR_NEW_OUTPUT=0``, read by ``Tuner.fit``)."""
    if show:
        yield
        return
    before = os.environ.get(AIR_NEW_OUTPUT)
    os.environ[AIR_NEW_OUTPUT] = "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(AIR_NEW_OUTPUT, None)
        else:
            os.environ[AIR_NEW_OUTPUT] = before


def run_sweep(
    spec: TuneSpec,
    *,
    storage: str | None = None,
    where: str = "spec",
    smoke: bool = False,
    progress_interval_s: float = 30.0,
    tune_output: bool = False,
) -> SweepOutcome:
    """Run every trial of ``spec`` and write the results table. ``where`` (the spec's
    file) prefixes errors; ``smoke`` is recorded for the report; ``tune_output`` shows
    Tune's own reporter beside our progress table (:func:`tune_reporter`).

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
            verbose=1 if tune_output else 0,
        ),
    )
    with tune_reporter(tune_output):
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
