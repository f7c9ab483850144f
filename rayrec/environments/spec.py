"""Env specs: ``envs/*.yaml`` files with a ``kind``, and the registry of env kinds.

The specs rayrec ships are package data (``rayrec/envs/``; ``envs`` at the repository
root links there): wherever an env spec is taken, a bare name (``synthetic``, ``ml1m``)
is the packaged spec of that name (:func:`resolve_env_spec`), and a path is a file.

An env spec says how a session runs. Its top-level ``kind`` picks the schema and the
environment (:data:`ENV_KINDS`; a file without ``kind`` is a ``slate`` spec). Each
kind registers, with :func:`register_env_kind`, its spec dataclass, the loader that
turns the file into it, the builder of an RLlib ``env_config`` from a loaded spec,
and the RLlib env creator::

    spec = load_env_spec("ml1m")                      # typed, validated, has .kind
    env_config = env_config_for("envs/ml1m.yaml")     # session settings read now
    config.environment(env=env_creator_name(spec.kind), env_config=env_config)

The session settings travel in the ``env_config``: they are read from the file each
time a run starts, so editing them needs no retraining of a simulator, and a setting
the simulator cannot serve is refused there, naming the file and the key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rayrec.config import load_yaml
from rayrec.errors import InputError

#: Every env kind rayrec knows; a kind is usable once a module registers it.
ENV_KINDS: tuple[str, ...] = ("slate", "rating_walk", "topn", "logged_sessions")
#: The kind of a spec file without a ``kind`` key (every file before kinds existed).
DEFAULT_KIND = "slate"
#: The env specs shipped inside the package, each usable by its name (``--env synthetic``).
PACKAGED_SPECS = Path(__file__).resolve().parents[1] / "envs"
SPEC_SUFFIXES = (".yaml", ".yml")

#: (file, its mapping) -> the kind's typed spec
SpecLoader = Callable[[Path, dict[str, Any]], Any]
#: (spec, simulator folder or None, part, seed, option) -> RLlib env_config
EnvConfigBuilder = Callable[[Any, str | None, str, int | None, str], dict[str, Any]]
#: RLlib's env creator: env_config -> env
EnvCreator = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class EnvKind:
    """What a registered env kind provides.

    Attributes:
        name: the kind (a member of :data:`ENV_KINDS`).
        spec_class: the dataclass :attr:`load` returns (it has a ``kind`` attribute).
        load: builds and validates the spec from a file's mapping; errors name the file.
        env_config: builds the RLlib ``env_config`` of a loaded spec and checks that
            its session settings fit the simulator or data they run on.
        make_env: the RLlib env creator.
        creator_name: the name the creator is registered under with Ray Tune.
    """

    name: str
    spec_class: type
    load: SpecLoader
    env_config: EnvConfigBuilder
    make_env: EnvCreator
    creator_name: str


_KINDS: dict[str, EnvKind] = {}


def register_env_kind(
    kind: str,
    *,
    spec_class: type,
    load: SpecLoader,
    env_config: EnvConfigBuilder,
    make_env: EnvCreator,
    creator_name: str | None = None,
) -> EnvKind:
    """Register an env kind (one call per kind module, at import).

    Raises:
        ValueError: ``kind`` is not in :data:`ENV_KINDS` or is registered already.
    """
    if kind not in ENV_KINDS:
        raise ValueError(f"env kind {kind!r}: add it to ENV_KINDS ({', '.join(ENV_KINDS)}) first")
    if kind in _KINDS:
        raise ValueError(f"env kind {kind!r} is registered already")
    entry = EnvKind(
        name=kind,
        spec_class=spec_class,
        load=load,
        env_config=env_config,
        make_env=make_env,
        creator_name=creator_name or f"rayrec-{kind}",
    )
    _KINDS[kind] = entry
    return entry


def registered_kinds() -> tuple[str, ...]:
    """The kinds that can be used now, in :data:`ENV_KINDS` order."""
    return tuple(k for k in ENV_KINDS if k in _KINDS)


def env_kind(kind: str, where: str = "") -> EnvKind:
    """The registry entry of ``kind``.

    Raises:
        InputError: ``<where>: kind: ...`` for an unknown kind (listing the kinds) or a
            known one no module provides yet.
    """
    prefix = f"{where}: kind" if where else "kind"
    if kind not in ENV_KINDS:
        raise InputError(
            f"{prefix}: expected one of {', '.join(map(repr, ENV_KINDS))}, got {kind!r}"
        )
    if kind not in _KINDS:
        raise InputError(
            f"{prefix}: {kind!r} environments are not available yet"
            f" (available: {', '.join(registered_kinds())})"
        )
    return _KINDS[kind]


def _kind_of(data: Mapping[str, Any], where: str) -> str:
    kind = data.get("kind", DEFAULT_KIND)
    if not isinstance(kind, str) or kind not in ENV_KINDS:
        raise InputError(
            f"{where}: kind: expected one of {', '.join(map(repr, ENV_KINDS))}, got {kind!r}"
        )
    return kind


def packaged_spec_names() -> tuple[str, ...]:
    """The names of the env specs shipped in the package, sorted."""
    return tuple(sorted(p.stem for p in PACKAGED_SPECS.glob("*.yaml")))


def resolve_env_spec(spec: str | Path) -> Path:
    """The env spec file ``spec`` names: an existing file as given, else a bare name
    (no folder, no ``.yaml``) as the packaged spec of that name.

    Raises:
        InputError: an unknown name or a missing file, listing the packaged names.
    """
    path = Path(spec)
    if path.is_file():
        return path
    names = packaged_spec_names()
    shown = ", ".join(names)
    if path.parent == Path(".") and path.suffix not in SPEC_SUFFIXES:
        if path.name in names:
            return PACKAGED_SPECS / f"{path.name}.yaml"
        raise InputError(
            f"env spec {str(spec)!r}: expected a spec file or a packaged spec name"
            f" ({shown}), got neither"
        )
    if path.is_dir():
        raise InputError(f"{path}: expected an env spec file, got a folder")
    raise InputError(f"{path}: cannot read (no such file); packaged env specs by name: {shown}")


def spec_argument(path: str | Path) -> str:
    """How to name the spec at ``path`` on the command line: a packaged spec by its
    name (``ml1m``), any other file by its path."""
    path = Path(path)
    if path.resolve().parent == PACKAGED_SPECS and path.suffix == ".yaml":
        return path.stem
    return str(path)


def read_kind(path: str | Path) -> str:
    """The ``kind`` of the env spec at ``path`` or of the packaged spec of that name
    (``slate`` when the file has none).

    Raises:
        InputError: the file is unreadable or not a mapping, or its ``kind`` is not one
            of :data:`ENV_KINDS` (naming the file and the key).
    """
    path = resolve_env_spec(path)
    return _kind_of(load_yaml(path), str(path))


def load_env_spec(path: str | Path) -> Any:
    """The typed, validated spec of the env spec file at ``path``, or of the packaged
    spec of that name (it has ``.kind``).

    Raises:
        InputError: naming the file and the key at fault; for a kind that is not
            available yet, naming the key ``kind``.
    """
    path = resolve_env_spec(path)
    data = load_yaml(path)
    kind = env_kind(_kind_of(data, str(path)), str(path))
    return kind.load(path, data)


def env_config_for(
    spec_path: str | Path,
    simulator: str | None = None,
    *,
    part: str = "train",
    seed: int | None = None,
    option: str = "--simulator",
) -> dict[str, Any]:
    """The RLlib ``env_config`` of an env spec, its session settings read from the file now.

    Args:
        spec_path: the env spec file, or a packaged spec's name.
        simulator: a simulator checkpoint folder (default: where the spec's kind keeps
            it, e.g. ``runs/simulators/<name>`` for a learned slate simulator).
        part: ``train`` or ``eval`` (which simulator / part of the log).
        seed: the env's base seed (each env runner adds its own offset).
        option: how error messages name the way to pass ``simulator``.

    Raises:
        InputError: the spec is invalid, the simulator is missing, or a session setting
            asks for something the simulator cannot serve (naming the file and the key).
    """
    spec = load_env_spec(spec_path)
    return _KINDS[spec.kind].env_config(spec, simulator, part, seed, option)


def env_source(env_config: Mapping[str, Any]) -> str:
    """What an ``env_config``'s env runs on, in words for results and messages: the
    simulator checkpoint (or ground-truth spec) of a ``slate`` env, the dataset folder of
    a log-replay env (``rating_walk``)."""
    if env_config.get("simulator"):
        return str(env_config["simulator"])
    dataset = env_config.get("dataset") or {}
    return str(dataset.get("path") or dataset.get("name") or env_config.get("spec", ""))


def env_creator_name(kind: str) -> str:
    """Register ``kind``'s RLlib env creator with Ray Tune; return the name to pass as
    ``config.environment(env=...)``.

    Raises:
        InputError: the kind is unknown or not available yet.
    """
    from ray.tune.registry import register_env

    entry = env_kind(kind)
    register_env(entry.creator_name, entry.make_env)
    return entry.creator_name
