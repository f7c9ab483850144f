"""The ``rayrec`` command line.

Each verb is a function registered in :data:`COMMANDS` through ``@command``; this
module is the only place that writes to the terminal (the package itself logs).
Errors derived from :class:`~rayrec.errors.RayrecError` are shown as one message
with their exit code (2 for bad input); anything else as a one-line internal
error. ``--debug`` shows tracebacks. The notices of Ray, RLlib and Tune that a user
cannot act on are held back (:mod:`rayrec.notices`; Tune's own reporter is silent, our
progress table replaces it); ``-v`` / ``--debug`` show them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rayrec import __version__
from rayrec.errors import EXIT_FAILURE, InputError, RayrecError
from rayrec.notices import hold_back_notices, show_notices

if TYPE_CHECKING:
    from rayrec.runs import Existing

Handler = Callable[[argparse.Namespace], int]
#: "group verb" (or "verb") -> (parser builder, handler)
COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Handler]] = {}


def command(
    name: str, configure: Callable[[argparse.ArgumentParser], None]
) -> Callable[[Handler], Handler]:
    """Register a handler under ``name`` (``"data stats"`` makes ``rayrec data stats``)."""

    def wrap(fn: Handler) -> Handler:
        COMMANDS[name] = (configure, fn)
        return fn

    return wrap


def emit_json(obj: Any) -> None:
    """Print one JSON object as the last line of output (the ``--json`` contract)."""
    print(json.dumps(obj, default=str, separators=(",", ":")))


# ---------------------------------------------------------------------- data
def _dataset_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="dataset name (see `rayrec data list`)")
    p.add_argument(
        "--path",
        help="folder holding the dataset's original files (default: $RAYREC_DATA/<folder>)",
    )


def _stats_args(p: argparse.ArgumentParser) -> None:
    _dataset_args(p)
    p.add_argument("--json", action="store_true", help="end with one JSON object")
    p.add_argument("--no-cache", action="store_true", help="read the files, bypass the cache")
    p.add_argument("--cache-dir", help="cache root (default: $RAYREC_CACHE or ~/.cache/rayrec)")
    p.add_argument("--seed", type=int, default=0, help="seed for the synthetic dataset")


@command("data stats", _stats_args)
def _data_stats(args: argparse.Namespace) -> int:
    from rayrec.data import load_dataset, log_stats

    data = load_dataset(
        args.dataset,
        args.path,
        cache_dir=args.cache_dir,
        use_cache=not args.no_cache,
        seed=args.seed,
    )
    stats = log_stats(data)
    if args.json:
        emit_json(stats)
        return 0
    print(f"{data.meta.get('title', data.name)}")
    print(f"  users         {stats['users']:>12,}")
    print(f"  items         {stats['items']:>12,}")
    print(f"  interactions  {stats['interactions']:>12,}")
    if "sessions" in stats:
        print(f"  sessions      {stats['sessions']:>12,}")
    for fb, entry in stats["feedback"].items():
        detail = entry.get("histogram") or {"mean": entry.get("mean")}
        print(f"  {fb:<13} {entry['count']:>12,}  {detail}")
    span = stats["time_span"]
    if span:
        print(f"  time span     {span['start_utc']} .. {span['end_utc']} ({span['days']} days)")
    else:
        print("  time span     (no timestamps)")
    seq = stats["sequence_length"]
    print(f"  per user      mean {seq['per_user_mean']}, median {seq['per_user_median']}")
    if "per_session_mean" in seq:
        print(f"  per session   mean {seq['per_session_mean']}, median {seq['per_session_median']}")
    if stats.get("notes"):
        print(f"  note: {stats['notes']}")
    return 0


@command("data validate", _dataset_args)
def _data_validate(args: argparse.Namespace) -> int:
    from rayrec.data.datasets import make_reader

    reader = make_reader(args.dataset, args.path)
    reader.validate()
    names = ", ".join(reader.shown(p) for p in reader.source_files())
    print(f"{reader.title}: valid ({names})")
    return 0


def _prepare_args(p: argparse.ArgumentParser) -> None:
    _dataset_args(p)
    p.add_argument("--out", help="cache root to write into (default: $RAYREC_CACHE)")
    p.add_argument("--force", action="store_true", help="rebuild even if the cache exists")


@command("data prepare", _prepare_args)
def _data_prepare(args: argparse.Namespace) -> int:
    from rayrec.data import prepare_dataset

    target = prepare_dataset(args.dataset, args.path, args.out, force=args.force)
    print(f"cache: {target}")
    return 0


@command("data list", lambda p: None)
def _data_list(args: argparse.Namespace) -> int:
    from rayrec.data.readers.base import READERS

    seen: set[str] = set()
    for cls in sorted(set(READERS.values()), key=lambda c: c.name):
        if cls.name in seen:
            continue
        seen.add(cls.name)
        print(f"{cls.name:<18} {cls.title}  (folder '{cls.default_dir}')")
    print(f"{'synthetic':<18} seeded synthetic log with known ground truth (no files)")
    print(
        f"{'synthetic-sessions':<18} seeded click/purchase sessions on a hidden item chain"
        " (no files)"
    )
    return 0


def _download_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="dataset name with an official download (e.g. ml-1m)")
    p.add_argument("--dest", help="data root (default: $RAYREC_DATA or ./data)")
    p.add_argument("--url", help="download from this URL instead of the official one")
    p.add_argument("--sha256", help="expected checksum when --url is given")


class DownloadProgress:
    """The ``progress`` callback of a download: one concise line on ``stream``.

    A line is written when another ``step`` of the file is done, or ``interval``
    seconds after the last one (2 s on a terminal, 30 s otherwise), and once at 100%.
    On a terminal the line is rewritten in place with ``\\r``; elsewhere (a log file,
    CI) each update is a plain line. Call :meth:`close` when the download ends.
    """

    def __init__(
        self,
        label: str,
        stream: TextIO,
        *,
        step: float = 0.05,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.step = step
        self.interval = interval if interval is not None else (2.0 if self.tty else 30.0)
        self.clock = clock
        self._start: tuple[float, int] | None = None  # (time, bytes) of the first call
        self._last: tuple[float, int] | None = None  # (time, step count) of the last line
        self._width = 0  # length of the line on screen (terminal only)
        self._finished = False

    def __call__(self, done: int, total: int | None) -> None:
        now = self.clock()
        if self._start is None:
            self._start = (now, done)
        if self._finished:
            return
        complete = total is not None and 0 < total <= done
        steps = int(done / total / self.step + 1e-9) if total else 0  # whole steps done
        due = (
            self._last is None
            or complete
            or steps > self._last[1]
            or now - self._last[0] >= self.interval
        )
        if not due:
            return
        self._last = (now, steps)
        self._finished = complete
        self._write(self._line(done, total, now))

    def _line(self, done: int, total: int | None, now: float) -> str:
        mib = 1 << 20
        text = f"{self.label}: {done / mib:,.1f}"
        text += f" of {total / mib:,.1f} MiB ({100 * done // total}%)" if total else " MiB"
        start_time, start_bytes = self._start or (now, done)
        if now > start_time and done > start_bytes:
            text += f", {(done - start_bytes) / mib / (now - start_time):,.1f} MiB/s"
        return text

    def _write(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the terminal line, so what follows starts on its own line."""
        if self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0


@command("data download", _download_args)
def _data_download(args: argparse.Namespace) -> int:
    from rayrec.data.download import download_dataset

    progress = DownloadProgress(args.dataset, sys.stderr)
    try:
        path = download_dataset(
            args.dataset, args.dest, url=args.url, sha256=args.sha256, progress=progress
        )
    finally:
        progress.close()
    print(f"{args.dataset}: ready in {path}")
    return 0


# ----------------------------------------------------------------- simulator
def _env_names() -> str:
    """The packaged env specs' names, for help texts."""
    from rayrec.environments.spec import packaged_spec_names

    return ", ".join(packaged_spec_names())


def _sim_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "spec", help=f"env spec: a YAML file, or a packaged spec's name ({_env_names()})"
    )
    p.add_argument("--data-dir", help="dataset folder (overrides the spec's dataset.path)")
    p.add_argument("--out", help="checkpoint folder (default runs/simulators/<spec name>)")
    p.add_argument(
        "--parts", default="train,eval", help="which simulators: train, eval or both (default)"
    )
    p.add_argument("--device", default="cpu", help="torch device for training (cpu, cuda)")
    p.add_argument("--json", action="store_true", help="end with one JSON object of metrics")


@command("simulator train", _sim_train_args)
def _simulator_train(args: argparse.Namespace) -> int:
    from rayrec.environments import load_env_spec
    from rayrec.environments.rllib_env import default_simulator_root
    from rayrec.environments.rollout import simulator_headroom
    from rayrec.environments.slate import SlateEnvSpec
    from rayrec.simulator.build import record_in_summary, train_simulators

    env_spec = load_env_spec(args.spec)  # the whole file is checked, env included
    spec = env_spec.simulator
    parts = tuple(p.strip() for p in args.parts.split(",") if p.strip())
    bad = [p for p in parts if p not in ("train", "eval")]
    if bad:
        raise InputError(f"--parts: expected 'train' and/or 'eval', got {', '.join(bad)}")
    out = Path(args.out) if args.out else default_simulator_root(spec.name)

    def progress(part: str, entry: dict[str, Any]) -> None:
        aucs = ", ".join(f"{k} {v['auc']:.4f}" for k, v in entry.get("valid", {}).items())
        print(
            f"[{part}] epoch {entry['epoch']:>3}  loss {entry['train_loss']:.4f}"
            f"  valid AUC {aucs or '-'}  ({entry['seconds']:.1f}s)",
            flush=True,
        )

    summary = train_simulators(
        spec, out, data_dir=args.data_dir, parts=parts, device=args.device, progress=progress
    )
    prov = summary["provenance"]
    print(f"data: {prov['dataset']} — {prov['dataset_note']}")
    print(
        f"      {prov['n_users']:,} users, {prov['n_items']:,} items, {prov['n_slates']:,} slates"
    )
    print(f"slates: {slate_construction(prov['slates'])}")
    report: dict[str, Any] = {"checkpoint": str(out), "parts": {}}
    for part, info in summary["parts"].items():
        metrics = info.get("metrics")
        if not metrics:
            print(f"[{part}] ground-truth simulator (no training), {info['part_slates']:,} slates")
            report["parts"][part] = {"slates": info["part_slates"]}
            continue
        print(f"[{part}] best epoch {metrics['best_epoch']}, validation (latest slates by time):")
        print(
            f"        {'feedback':<12}{'AUC':>8}{'logloss':>9}"
            f"   {'popularity AUC':>15}{'logloss':>9}"
        )
        for fb, m in metrics["valid"].items():
            base = metrics["popularity_baseline"].get(fb, {})
            print(
                f"        {fb:<12}{m['auc']:>8.4f}{m['logloss']:>9.4f}"
                f"   {base.get('auc', float('nan')):>15.4f}"
                f"{base.get('logloss', float('nan')):>9.4f}"
            )
        report["parts"][part] = {
            "valid": metrics["valid"],
            "popularity_baseline": metrics["popularity_baseline"],
        }
    if "eval" in summary["parts"] and isinstance(env_spec, SlateEnvSpec):
        headroom = simulator_headroom(
            out, env_spec.env, users=HEADROOM_USERS, seed=0, device=args.device
        )
        record_in_summary(out, "headroom", headroom)
        print(headroom_table(headroom))
        report["headroom"] = headroom
    print(f"checkpoint: {out}")
    if args.json:
        emit_json(report)
    return 0


#: users whose sessions measure a freshly trained simulator's headroom
HEADROOM_USERS = 500


def slate_construction(slates: Mapping[str, Any]) -> str:
    """One line on how a simulator's slates were built (its recorded ``slates`` section)."""
    if slates.get("construction") != "chunk":
        return f"{slates.get('construction')} (the log's own slates)"
    neg = slates.get("negatives") or {"sampler": "uniform"}
    how = (
        f"popularity-matched, p ∝ (count + 1)^{neg.get('exponent', 1.0):g} over unrated items"
        if neg["sampler"] == "popularity"
        else "uniform over unrated items (the reference construction)"
    )
    return (
        f"chunks of {slates.get('size')}, {slates.get('negative_ratio'):g} negative(s) per"
        f" positive, {how}"
    )


def headroom_table(headroom: Mapping[str, Any]) -> str:
    """The headroom of :func:`rayrec.environments.rollout.simulator_headroom` as text."""
    lines = [
        f"headroom: evaluation simulator, one session of {headroom['users']} users"
        f" (seed {headroom['seed']}), the spec's session settings",
        f"        {'policy':<14}{'total reward':>13}{'of oracle':>11}{'coverage':>10}"
        f"{'overlap':>9}",
    ]
    for name, m in headroom["policies"].items():
        lines.append(
            f"        {name:<14}{m['total_reward']:>13.3f}{m['of_oracle']:>11.0%}"
            f"{m['coverage']:>10.3f}{m['overlap']:>9.3f}"
        )
    if headroom["auc"]:
        lines.append(
            "        validation AUC, response model (popularity): "
            + ", ".join(
                f"{fb} {a['model']:.3f} ({a['popularity']:.3f})"
                for fb, a in headroom["auc"].items()
            )
        )
    return "\n".join(lines)


def _sim_check_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "target",
        help=f"env spec (a YAML file, or a packaged spec's name: {_env_names()}), or a simulator"
        " checkpoint folder (run with the default session)",
    )
    p.add_argument("--part", default="eval", choices=["train", "eval"], help="which simulator")
    p.add_argument("--checkpoint", help="checkpoint folder for a spec with a learned simulator")
    p.add_argument("--users", type=int, default=1000, help="users (sessions) per policy")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="end with one JSON object keyed by policy")


def simulator_target_config(
    target: str, part: str, checkpoint: str | None = None
) -> dict[str, Any]:
    """The ``env_config`` of a spec file (its session settings) or of a checkpoint
    folder (EnvConfig's default session: a checkpoint holds no session settings)."""
    from rayrec.environments import env_config_for

    if Path(target).is_dir():
        return {"simulator": target, "part": part, "env": {}}
    return dict(env_config_for(target, checkpoint, part=part, option="--checkpoint"))


def load_simulator_target(target: str, part: str, checkpoint: str | None = None) -> tuple[Any, Any]:
    """(Simulator, EnvConfig) of :func:`simulator_target_config`."""
    from rayrec.environments import env_config_of

    return env_config_of(simulator_target_config(target, part, checkpoint))


@command("simulator check", _sim_check_args)
def _simulator_check(args: argparse.Namespace) -> int:
    from rayrec.environments import env_config_of
    from rayrec.environments.rollout import NEEDS_TRAIN, POLICIES, rollout, train_simulator

    target_config = simulator_target_config(args.target, args.part, args.checkpoint)
    sim, env_config = env_config_of(target_config)
    if args.users < 1:
        raise InputError(f"--users must be >= 1, got {args.users}")
    # the personalised reference plays the train simulator's greedy slate in the eval one
    train = train_simulator(target_config) if args.part == "eval" else None
    results: dict[str, dict[str, float]] = {}
    print(f"simulator: {sim.meta.get('spec_name', args.target)} ({args.part}, {sim.kind})")
    if "slates" in sim.meta:
        print(f"slates: {slate_construction(sim.meta['slates'])}")
    print(
        f"{'policy':<14}{'total reward':>14}{'± std':>8}{'depth':>8}"
        f"{'variance':>10}{'coverage':>10}{'overlap':>9}"
    )
    for name, make in POLICIES.items():
        if name in NEEDS_TRAIN and train is None:
            continue
        res = rollout(sim, make(train), args.users, env_config, seed=args.seed, device=args.device)
        s = res.summary(sim.n_items)
        results[name] = s
        print(
            f"{name:<14}{s['total_reward']:>14.3f}{s['total_reward_std']:>8.2f}{s['depth']:>8.2f}"
            f"{s['reward_variance']:>10.3f}{s['coverage']:>10.3f}{s['overlap']:>9.3f}"
        )
    if args.json:
        emit_json(results)
    return 0


# ----------------------------------------------------------------- training
def loss_columns(row: Mapping[str, Any]) -> list[str]:
    """The loss keys of a row in a fixed order: the DDPG family's terms in the paper's
    order (L_TD, L_QMax, L_Hyper, L_BCE), then the on-policy learners' (policy_loss,
    vf_loss, entropy, vf_explained_var), then any other ``L_*`` by name."""
    from rayrec.algorithms.ddpg.ddpg_learner import BCE_LOSS, HYPER_LOSS, QMAX_LOSS, TD_LOSS
    from rayrec.train import LOGGED_LEARNER_KEYS

    order = (TD_LOSS, QMAX_LOSS, HYPER_LOSS, BCE_LOSS, *LOGGED_LEARNER_KEYS)
    known = [k for k in order if k in row]
    return known + sorted(k for k in row if k.startswith("L_") and k not in order)


def progress_line(row: Mapping[str, Any], eval_metrics: Sequence[str] = ()) -> str:
    """One progress line of a training row (:func:`rayrec.train.iteration_row`), its
    columns in a fixed order: iteration, env steps, the training return (``-`` until an
    episode has ended), the losses (:func:`loss_columns`), the evaluation's
    ``eval_<metric>`` figures for ``eval_metrics`` when the row has them, seconds
    trained. Python and numpy numbers alike (RLlib reports ``numpy.float32``)."""
    from rayrec.train import finite_scalar

    def number(key: str, fmt: str) -> str:
        value = finite_scalar(row.get(key))
        return "-" if value is None else format(value, fmt)

    parts = [
        f"iter {number('iteration', '.0f'):>4}",
        f"steps {number('env_steps', '.0f'):>8}",
        f"return {number('episode_return_mean', '.3f'):>8}",
    ]
    parts += [f"{key} {number(key, '.3f')}" for key in loss_columns(row)]
    evaluated = [m for m in eval_metrics if finite_scalar(row.get(f"eval_{m}")) is not None]
    if evaluated:
        parts.append("eval " + "  ".join(f"{m} {number(f'eval_{m}', '.3f')}" for m in evaluated))
    parts.append(f"({number('train_seconds', '.0f')}s)")
    return "  ".join(parts)


#: ``--stop-iters`` when only ``--stop-timesteps`` is given (a budget in env steps)
ITERATIONS_UNCAPPED = 10**6
#: ``rayrec train``'s option defaults. The parser's defaults are None, so a resumed run
#: can tell the options given now from its recorded ones.
TRAIN_DEFAULTS: dict[str, Any] = {
    "env": "synthetic",
    "simulator": None,
    "num_env_runners": 0,
    "num_envs": 32,
    "gpus": 0.0,
    "seed": 0,
    "stop_iters": 60,
    "stop_timesteps": None,
    "eval_users": 500,
    "checkpoint_every": 10,
}
#: ``rayrec train`` option (argparse dest) -> (TrainOptions field, flag)
TRAIN_FIELDS: dict[str, tuple[str, str]] = {
    "env": ("env", "--env"),
    "simulator": ("simulator", "--simulator"),
    "num_env_runners": ("num_env_runners", "--num-env-runners"),
    "num_envs": ("num_envs_per_env_runner", "--num-envs"),
    "gpus": ("gpus", "--gpus"),
    "seed": ("seed", "--seed"),
    "stop_iters": ("stop_iters", "--stop-iters"),
    "stop_timesteps": ("stop_timesteps", "--stop-timesteps"),
    "eval_users": ("eval_users", "--eval-users"),
    "checkpoint_every": ("checkpoint_every", "--checkpoint-every"),
}
#: what a resumed run may change: its budget, evaluation size and checkpoint cadence
RESUME_MAY_CHANGE = ("stop_iters", "stop_timesteps", "eval_users", "checkpoint_every")


def _train_args(p: argparse.ArgumentParser) -> None:
    from rayrec.algorithms.registry import ALGORITHMS

    d = TRAIN_DEFAULTS
    p.add_argument(
        "algo", nargs="?", choices=sorted(ALGORITHMS), help="algorithm (omit with --resume DIR)"
    )
    p.add_argument(
        "--env",
        help=f"env spec: a YAML file, or a packaged spec's name ({_env_names()});"
        f" default: {d['env']}",
    )
    p.add_argument("--simulator", help="simulator checkpoint folder (default: from the spec)")
    p.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --config actor_lr=1e-3 (repeatable)",
    )
    p.add_argument(
        "--preset",
        help="named settings: paper (the algorithm's defaults) or one of its own, e.g."
        " hac / online-sl personalise; --config applies on top",
    )
    p.add_argument("--num-env-runners", type=int, help="remote env runners (default 0)")
    p.add_argument("--num-envs", type=int, help="users stepped per env runner (default 32)")
    p.add_argument("--gpus", type=float, help="GPUs per learner (fractions ok; default 0)")
    p.add_argument("--seed", type=int, help="default 0")
    p.add_argument(
        "--stop-iters",
        type=int,
        help="iterations to train (default 60; no cap when only --stop-timesteps is given)",
    )
    p.add_argument(
        "--stop-timesteps",
        type=int,
        help="stop after this many env steps (with --stop-iters: whichever comes first)",
    )
    p.add_argument("--eval-users", type=int, help="users of the final evaluation (default 500)")
    p.add_argument(
        "--checkpoint-every",
        type=int,
        help="a checkpoint every N iterations and at the end (default 10)",
    )
    p.add_argument(
        "--out",
        help="run folder (default: a new numbered folder in runs/train/<algo>-<env>-s<seed>/,"
        " with `latest` pointing at it); an existing, non-empty one needs --resume or"
        " --overwrite",
    )
    existing = p.add_mutually_exclusive_group()
    existing.add_argument(
        "--resume",
        nargs="?",
        const="",
        metavar="DIR",
        help="continue the run in DIR (or --out; a folder of numbered runs: its latest) from"
        " its checkpoint, with its recorded options",
    )
    existing.add_argument(
        "--overwrite", action="store_true", help="delete what the --out run folder holds first"
    )
    p.add_argument("--json", action="store_true", help="end with one JSON object (result)")


def _same_option(field: str, given: Any, recorded: Any) -> bool:
    if given == recorded:
        return True
    if field in ("env", "simulator") and given is not None and recorded is not None:
        return bool(Path(given).resolve() == Path(recorded).resolve())
    return False


def train_options(args: argparse.Namespace) -> tuple[Any, Existing, list[str]]:
    """``rayrec train``'s :class:`rayrec.train.TrainOptions`, what to do with an existing
    run folder (``refuse`` / ``resume`` / ``overwrite``), and the notes to show.

    With ``--resume``, the options are the run folder's recorded ones; options given now
    must agree with them, except those in :data:`RESUME_MAY_CHANGE` (noted).

    Raises:
        InputError: naming the option (nothing is read but the run folder's status).
    """
    from rayrec.algorithms.registry import ALGORITHMS, preset_overrides
    from rayrec.runs import default_run_root, read_status, resolve_run_folder
    from rayrec.train import TrainOptions, parse_overrides

    given = {dest: getattr(args, dest) for dest in TRAIN_FIELDS if getattr(args, dest) is not None}
    overrides = parse_overrides(args.config) if args.config else None
    values = {**TRAIN_DEFAULTS, **given}
    if "stop_timesteps" in given and "stop_iters" not in given:
        values["stop_iters"] = ITERATIONS_UNCAPPED  # the env steps alone say when to stop
    if args.overwrite and args.out is None:
        raise InputError("--overwrite: expected --out DIR (a default run folder is always new)")
    if args.resume is None:
        if args.algo is None:
            raise InputError(
                f"train: expected an algorithm, one of {', '.join(sorted(ALGORITHMS))}"
                " (or --resume DIR to continue a run)"
            )
        if args.preset is not None:
            overrides = {**preset_overrides(args.algo, args.preset), **(overrides or {})}
        opts = TrainOptions(
            algo=args.algo,
            overrides=overrides or {},
            out=args.out,
            **{field: values[dest] for dest, (field, _) in TRAIN_FIELDS.items()},
        )
        return opts, "overwrite" if args.overwrite else "refuse", []

    if args.resume and args.out and Path(args.resume) != Path(args.out):
        raise InputError(
            f"--resume {args.resume} and --out {args.out}: name the run folder once"
            " (`rayrec train --resume DIR`)"
        )
    target = args.resume or args.out
    if not target:
        if args.algo is None:
            raise InputError("--resume: expected the run folder to continue (--resume DIR)")
        target = default_run_root(args.algo, values["env"], values["seed"])
    folder = resolve_run_folder(Path(target))
    status = read_status(folder)
    if status is None:
        raise InputError(
            f"{folder}: no run to resume here (no status.json); start one with"
            " `rayrec train ALGO --out DIR`"
        )
    recorded = TrainOptions.from_record(status.options, where=f"{folder}/status.json")
    notes: list[str] = []
    if args.algo is not None and args.algo != recorded.algo:
        raise InputError(
            f"train {args.algo}: the run in {folder} trains {recorded.algo}; a resumed run"
            " keeps its algorithm"
        )
    if args.preset is not None:
        overrides = {**preset_overrides(recorded.algo, args.preset), **(overrides or {})}
    may_change = [TRAIN_FIELDS[d][1] for d in RESUME_MAY_CHANGE]
    for dest, value in given.items():
        field, flag = TRAIN_FIELDS[dest]
        old = getattr(recorded, field)
        if _same_option(field, value, old):
            continue
        if dest not in RESUME_MAY_CHANGE:
            raise InputError(
                f"{flag} {value}: the run in {folder} was started with {flag} {old}; a resumed"
                f" run keeps its options (it may change {', '.join(may_change)})"
            )
        setattr(recorded, field, value)
        notes.append(f"{flag} {value} (was {old})")
    if overrides is not None and overrides != recorded.overrides:
        raise InputError(
            f"--config/--preset: the run in {folder} was started with"
            f" {recorded.overrides or 'none'}; a resumed run keeps its config (omit --config"
            " and --preset)"
        )
    recorded.out = str(folder)
    return recorded, "resume", notes


@command("train", _train_args)
def _train(args: argparse.Namespace) -> int:
    """train an algorithm against a simulator, then evaluate it"""
    import shlex

    from rayrec.evaluation import get_protocol
    from rayrec.runs import Interrupts, RunFolder, RunInterrupted, resume_command
    from rayrec.train import algorithm_protocol, run_training

    opts, existing, notes = train_options(args)
    shown = algorithm_protocol(opts.algo).shown

    def progress(row: dict[str, Any]) -> None:
        print(progress_line(row, shown), flush=True)

    def claimed(folder: RunFolder) -> None:
        if folder.resumes_from is None:
            print(f"run folder: {folder.path}", flush=True)
        elif folder.resumes_from:
            was = folder.previous.describe() if folder.previous is not None else "a run"
            print(
                f"resuming {folder.path}, {was}: training on from iteration"
                f" {folder.resumes_from + 1}",
                flush=True,
            )
        else:
            print(f"resuming {folder.path}: no checkpoint, training from iteration 1", flush=True)
        for note in notes:
            print(f"  {note}", flush=True)

    def notify(signum: int) -> None:
        name = signal.Signals(signum).name
        # a signal can land while stderr is being written: a reentrant write raises
        with contextlib.suppress(RuntimeError):
            print(
                f"\n{name}: stopping after the iteration in progress, with a checkpoint"
                " (again to stop at once)",
                file=sys.stderr,
                flush=True,
            )

    try:
        result = run_training(
            opts,
            progress,
            existing=existing,
            interrupts=Interrupts(notify),
            started=claimed,
            command=shlex.join(["rayrec", *getattr(args, "argv", [])]),
        )
    except RunInterrupted as exc:
        ckpt = (
            f"checkpoint at iteration {exc.checkpoint_iteration}"
            if exc.checkpoint_iteration
            else "no checkpoint: a resumed run starts from iteration 1"
        )
        dropped = f"iteration {exc.iteration + 1} abandoned; " if exc.abandoned else ""
        print(
            f"interrupted ({exc.signal_name}) after iteration {exc.iteration}; {dropped}{ckpt}",
            file=sys.stderr,
        )
        print(f"run folder: {exc.folder} (status: interrupted)", file=sys.stderr)
        print(f"resume with: {resume_command(exc.folder)}", file=sys.stderr, flush=True)
        return exc.exit_code
    evaluated = get_protocol(result["protocol"]).evaluates.format(users=opts.eval_users)
    print(f"evaluation ({evaluated}, {result['protocol']}, greedy):")
    _print_metrics(result["protocol"], result["evaluation"], indent="  ")
    print(f"checkpoint: {result['checkpoint']}")
    print(f"run folder: {result['out']} (status: finished)")
    if args.json:
        emit_json(result)
    return 0


def _print_metrics(protocol: str, by_policy: dict[str, dict[str, float]], indent: str = "") -> None:
    """One line per policy with the protocol's summary metrics."""
    from rayrec.evaluation import get_protocol

    keys = get_protocol(protocol).shown
    width = max(12, *(len(k) + 2 for k in keys))
    print(f"{indent}{'policy':<12}" + "".join(f"{k:>{width}}" for k in keys))
    for name, m in by_policy.items():
        # a reference need not have every metric (the mean predictors: no own-history RMSE)
        cells = [f"{m[k]:>{width}.4f}" if k in m else f"{'–':>{width}}" for k in keys]
        print(f"{indent}{name:<12}" + "".join(cells))


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="training checkpoint folder (rayrec train --out)")
    p.add_argument(
        "--env",
        required=True,
        help=f"env spec of the evaluation simulator (a YAML file, or one of {_env_names()})",
    )
    p.add_argument("--simulator", help="simulator checkpoint folder (default: from the spec)")
    p.add_argument("--episodes", type=int, default=1000, help="user sessions to run")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="end with one JSON object")
    p.add_argument(
        "--no-verify",
        action="store_true",
        help="load a checkpoint without manifest.json (made before checkpoints had one)"
        " unchecked; its policy's spaces are still compared with the env's",
    )


@command("evaluate", _evaluate_args)
def _evaluate(args: argparse.Namespace) -> int:
    """evaluate a trained policy by the protocol of the env's kind"""
    from rayrec.runs import resolve_run_folder
    from rayrec.train import evaluate_checkpoint

    if args.episodes < 1:
        raise InputError(f"--episodes: expected an integer >= 1, got {args.episodes}")
    if args.seed < 0:
        raise InputError(f"--seed: expected an integer >= 0, got {args.seed}")
    res = evaluate_checkpoint(
        resolve_run_folder(Path(args.checkpoint)),  # a folder of numbered runs: its latest
        args.env,
        simulator=args.simulator,
        users=args.episodes,
        seed=args.seed,
        verify=not args.no_verify,
    )
    print(f"{res.protocol}: {res.evaluated} evaluated on the {res.data}")
    _print_metrics(res.protocol, res.by_policy("agent"))
    if args.json:
        emit_json({**res.metrics, **res.references})
    return 0


# ------------------------------------------------------------ reproductions
def _reproduce_args(p: argparse.ArgumentParser) -> None:
    from rayrec.tables import STUDIES, TABLES

    names = ", ".join(sorted({**TABLES, **STUDIES}))
    p.add_argument(
        "table",
        nargs="?",
        help=f"the table or study to reproduce ({names}; --list says what each is)",
    )
    p.add_argument(
        "--list", action="store_true", help="list the tables and studies and what each reproduces"
    )
    p.add_argument(
        "--env", help="env spec: a YAML file or a packaged spec's name (default: the table's)"
    )
    p.add_argument("--algos", nargs="+", help="rows to train (default: the table's; not a study)")
    p.add_argument(
        "--values",
        nargs="+",
        metavar="VALUE",
        help="a study's grid: the values of its config key (default: the study's)",
    )
    p.add_argument("--seeds", type=int, nargs="+", help="seeds (default: the table's)")
    p.add_argument(
        "--budget-steps",
        type=int,
        help="env (user-)steps of training per run (default: the table's)",
    )
    p.add_argument("--eval-users", type=int, help="users of the evaluation (default: the table's)")
    p.add_argument(
        "--config",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field of every row, as `rayrec train --config` does"
        " (e.g. --config model.exploration_noise=1.0 actor_lr=1e-3)",
    )
    p.add_argument(
        "--preset",
        default="paper",
        help="the algorithms' named settings (paper: their defaults; e.g. personalise for"
        " hac and online-sl); --config applies on top",
    )
    p.add_argument("--num-env-runners", type=int, default=0)
    p.add_argument(
        "--out",
        help="output folder (default runs/reproduce/<table>-<env>, then the overrides if any)",
    )
    p.add_argument(
        "--assemble",
        action="store_true",
        help="make the table from the finished runs in --out, training nothing (a missing"
        " run is named; its row shows the seeds it has)",
    )
    p.add_argument("--json", action="store_true", help="end with one JSON object (summary)")


def _reproduce_out(
    args: argparse.Namespace, name: str, env: str, overrides: dict[str, Any]
) -> Path:
    """``--out``, else ``runs/reproduce/<name>-<env>`` with the preset (when not the
    paper's) and the overrides (``-key=value,key=value``, characters unsafe in a file
    name as ``_``)."""
    from rayrec.tables.runner import overrides_text, safe_name

    if args.out:
        return Path(args.out)
    default = f"runs/reproduce/{name}-{Path(env).stem}"
    if args.preset != "paper":
        default += f"-{safe_name(args.preset)}"
    if overrides:
        default += "-" + safe_name(overrides_text(overrides).replace(", ", ","))
    return Path(default)


def _say(line: str) -> None:
    print(line, flush=True)


@command("reproduce", _reproduce_args)
def _reproduce(args: argparse.Namespace) -> int:
    """train and evaluate every row of a paper's table or parameter study; resumable"""
    from rayrec.algorithms.registry import preset_names, preset_overrides
    from rayrec.tables import (
        STUDIES,
        TABLES,
        Study,
        Table,
        get_reproduction,
        run_study,
        run_table,
    )
    from rayrec.train import parse_overrides

    if args.list:
        items: list[Table | Study] = [*TABLES.values(), *STUDIES.values()]
        width = max(len(item.name) for item in items) + 2
        for item in items:
            print(f"{item.name:<{width}}{item.reproduces} (default env {item.env})")
        return 0
    if args.table is None:
        names = ", ".join(sorted({**TABLES, **STUDIES}))
        raise InputError(f"reproduce: expected a table or study name, one of: {names} (or --list)")
    target = get_reproduction(args.table)
    overrides = parse_overrides(args.config)
    choices: dict[str, Any] = {
        "env": args.env,
        "seeds": tuple(args.seeds) if args.seeds else None,
        "budget_steps": args.budget_steps,
        "eval_users": args.eval_users,
        "num_env_runners": args.num_env_runners,
        "preset": args.preset,
        "assemble_only": args.assemble or None,
    }
    if isinstance(target, Study):
        if args.algos:
            raise InputError(f"--algos: {target.name} is a study of {target.algo} alone")
        values = None
        if args.values:
            values = [parse_overrides([f"{target.key}={v}"])[target.key] for v in args.values]
        preset = preset_overrides(target.algo, args.preset)
        preset.pop(target.key, None)  # the study varies it
        study_plan = target.plan(values=values, overrides={**preset, **overrides}, **choices)
        study_plan.validate()
        out = _reproduce_out(args, target.name, study_plan.runs.env, overrides)
        summary = run_study(target, study_plan, out, say=_say)
        shown = f"  plot: {out / 'study.png'}"
    else:
        if args.values:
            raise InputError(f"--values: only a study has values; {target.name} is a table")
        plan = target.plan(algos=tuple(args.algos) if args.algos else None, **choices)
        missing = [a for a in plan.algos if args.preset not in preset_names(a)]
        if missing:
            having = [a for a in plan.algos if a not in missing]
            raise InputError(
                f"--preset {args.preset}: not defined for {', '.join(missing)}"
                + (f" (pass --algos with some of {', '.join(having)})" if having else "")
            )
        given = {a: {**preset_overrides(a, args.preset), **overrides} for a in plan.algos}
        plan.overrides = {a: o for a, o in given.items() if o}
        plan.validate()
        out = _reproduce_out(args, target.name, plan.env, overrides)
        summary = run_table(target, plan, out, say=_say)
        shown = ""
    print(summary["markdown"], end="")
    written = summary.get("written")  # a table runner that writes other files names them
    if written:
        print("  ".join(f"{name}: {out / file}" for name, file in written.items()))
    else:
        print(f"table: {out / 'table.md'}  runs: {out / 'runs.csv'}{shown}")
    if args.json:
        emit_json({k: v for k, v in summary.items() if k != "markdown"})
    return 0


# -------------------------------------------------------------------- sweeps
class _CurrentStdout(logging.StreamHandler):
    """Writes records to whatever ``sys.stdout`` is at the time (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


def _show_sweep_progress(args: argparse.Namespace) -> logging.Handler:
    """Show the sweep's progress table (the ``rayrec.tune.progress`` logger) on stdout."""
    from rayrec.tune.progress import PROGRESS_LOGGER

    handler = _CurrentStdout()
    handler.setFormatter(logging.Formatter("%(message)s"))
    progress = logging.getLogger(PROGRESS_LOGGER)
    progress.addHandler(handler)
    progress.setLevel(logging.INFO)
    progress.propagate = False
    return handler


def _sweep_done(outcome: Any, as_json: bool) -> int:
    counts = outcome.counts()
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    finished = counts.get("TERMINATED", 0)
    if finished == len(outcome.table):
        print(f"done in {outcome.seconds:.0f}s: {summary}")
    else:  # interrupted, or trials failed: the statuses of Tune's last snapshot
        print(
            f"ended after {outcome.seconds:.0f}s: {finished} of {len(outcome.table)} trials"
            f" finished ({summary})"
        )
    print(f"results: {outcome.results_csv}")
    print(f"         {outcome.results_parquet}")
    print(f"report:  rayrec report {outcome.experiment_path}")
    unfinished = len(outcome.table) - counts.get("TERMINATED", 0)
    if unfinished:
        print(
            f"{unfinished} trial(s) did not finish; `rayrec resume {outcome.experiment_path}`"
            " restarts them",
            file=sys.stderr,
        )
    if as_json:
        emit_json(
            {
                "experiment": outcome.experiment_path,
                "results_csv": outcome.results_csv,
                "results_parquet": outcome.results_parquet,
                "seconds": round(outcome.seconds, 1),
                "status": counts,
            }
        )
    return 0 if not unfinished else EXIT_FAILURE


def _tune_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="sweep spec YAML (tune_configs/*.yaml)")
    p.add_argument(
        "--smoke",
        action="store_true",
        help="apply the spec's smoke overrides (synthetic env, seconds per trial; for CI)",
    )
    p.add_argument(
        "--storage",
        help="results root, a folder or a cloud URI (default: the spec's storage);"
        " the sweep goes to STORAGE/<spec name>",
    )
    p.add_argument(
        "--progress-every", type=float, default=30.0, help="seconds between progress tables"
    )
    p.add_argument("--json", action="store_true", help="end with one JSON object")


@command("tune", _tune_args)
def _tune(args: argparse.Namespace) -> int:
    """run a sweep spec (tune_configs/*.yaml) with Ray Tune"""
    from rayrec.tune.runner import run_sweep
    from rayrec.tune.spec import load_tune_spec

    if not args.progress_every > 0:
        raise InputError(f"--progress-every: expected seconds > 0, got {args.progress_every}")
    spec = load_tune_spec(args.spec, smoke=args.smoke)
    swept = ", ".join(f"{k} {d.values}" for k, d in spec.search_space.items()) or "nothing"
    print(
        f"sweep {spec.name}{' (smoke)' if args.smoke else ''}: {spec.n_trials()} trials,"
        f" {', '.join(spec.algorithms())} on {spec.env}; swept: {swept}"
    )
    print(f"experiment: {spec.experiment_path(args.storage)}", flush=True)
    handler = _show_sweep_progress(args)
    try:
        outcome = run_sweep(
            spec,
            storage=args.storage,
            where=args.spec,
            smoke=args.smoke,
            progress_interval_s=args.progress_every,
            tune_output=args.verbose or args.debug,
        )
    finally:
        logging.getLogger("rayrec.tune.progress").removeHandler(handler)
    return _sweep_done(outcome, args.json)


def _resume_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("experiment", help="experiment folder (or URI) of an interrupted sweep")
    p.add_argument(
        "--errored",
        choices=["restart", "resume", "skip"],
        default="restart",
        help="errored trials: start over (default), continue from their last checkpoint,"
        " or leave them",
    )
    p.add_argument("--json", action="store_true", help="end with one JSON object")


@command("resume", _resume_args)
def _resume(args: argparse.Namespace) -> int:
    """resume an interrupted sweep (finish unfinished trials, restart errored ones)"""
    from rayrec.tune.resume import experiment_location, resume_sweep

    print(f"resuming {experiment_location(args.experiment)}", flush=True)
    handler = _show_sweep_progress(args)
    try:
        outcome = resume_sweep(
            args.experiment, errored=args.errored, tune_output=args.verbose or args.debug
        )
    finally:
        logging.getLogger("rayrec.tune.progress").removeHandler(handler)
    return _sweep_done(outcome, args.json)


def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("experiment", help="experiment folder of a finished sweep")
    p.add_argument("--out", help="output folder (default: <experiment>/report)")


@command("report", _report_args)
def _report(args: argparse.Namespace) -> int:
    """write a sweep's Markdown summary and PNG plots"""
    from rayrec.tune.report import write_report

    report = write_report(args.experiment, args.out)
    print(f"report: {report.markdown}")
    for plot in report.plots:
        print(f"plot:   {plot}")
    return 0


# ---------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rayrec",
        description="Reinforcement learning for recommender systems on Ray RLlib.",
    )
    parser.add_argument("--version", action="version", version=f"rayrec {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="info-level logs, and the notices of Ray, RLlib and Tune that are held back"
        " by default (rayrec.notices)",
    )
    groups: dict[str, argparse._SubParsersAction[argparse.ArgumentParser]] = {}
    top = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (configure, handler) in COMMANDS.items():
        words = name.split()
        if len(words) == 1:
            sub = top.add_parser(words[0], help=(handler.__doc__ or "").strip() or None)
        else:
            group, verb = words
            if group not in groups:
                gp = top.add_parser(group, help=f"{group} commands")
                groups[group] = gp.add_subparsers(dest="verb", metavar="VERB", required=True)
            sub = groups[group].add_parser(verb)
        configure(sub)
        sub.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if args.debug or args.verbose:
        show_notices()
    else:
        hold_back_notices()  # Ray's, RLlib's and Tune's notices a user cannot act on
    try:
        code: int = args.handler(args)
        return code
    except RayrecError as exc:
        if args.debug:
            raise
        print(f"rayrec: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("rayrec: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"rayrec: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the"
            " traceback)",
            file=sys.stderr,
        )
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
