"""The ``rayrec`` command line.

Each verb is a function registered in :data:`COMMANDS` through ``@command``; this
module is the only place that writes to the terminal (the package itself logs).
Errors derived from :class:`~rayrec.errors.RayrecError` are shown as one message
with their exit code (2 for bad input); anything else as a one-line internal
error. ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from rayrec import __version__
from rayrec.errors import EXIT_FAILURE, RayrecError

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
    return 0


def _download_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="dataset name with an official download (e.g. ml-1m)")
    p.add_argument("--dest", help="data root (default: $RAYREC_DATA or ./data)")
    p.add_argument("--url", help="download from this URL instead of the official one")
    p.add_argument("--sha256", help="expected checksum when --url is given")


@command("data download", _download_args)
def _data_download(args: argparse.Namespace) -> int:
    from rayrec.data.download import download_dataset

    path = download_dataset(args.dataset, args.dest, url=args.url, sha256=args.sha256)
    print(f"{args.dataset}: ready in {path}")
    return 0


# ---------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rayrec",
        description="Reinforcement learning for recommender systems on Ray RLlib.",
    )
    parser.add_argument("--version", action="version", version=f"rayrec {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("-v", "--verbose", action="store_true", help="info-level logs")
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
    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
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
