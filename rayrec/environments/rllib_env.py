"""The ``slate`` env kind in RLlib: its ``env_config``, the env creator, the registration.

RLlib's env runners call the creator with ``env_config | {"num_envs": n}`` when
``gym_env_vectorize_mode="vector_entry_point"``; :func:`make_env` then returns one
natively batched :class:`SlateEnv` for all n users of that runner. Without
``num_envs`` it returns the single-user view. Build the ``env_config`` from the env
spec (:func:`rayrec.environments.env_config_for`), so the session settings are the
file's as of now::

    config.environment(env=env_creator_name("slate"),
                       env_config=env_config_for("envs/ml1m.yaml", part="train", seed=0))
    config.env_runners(num_env_runners=2, num_envs_per_env_runner=256,
                       gym_env_vectorize_mode="vector_entry_point")

``env_config`` keys:

``kind``       ``slate``
``spec``       the env spec file (error messages name it)
``simulator``  a checkpoint folder (with ``train/`` and ``eval/``, or one part) or an
               env spec YAML whose backend is the synthetic ground truth
``part``       ``train`` (default) or ``eval``
``env``        the session settings (:class:`EnvConfig` fields). With a spec file as
               ``simulator``, keys left out take that spec's ``env`` values; with a
               checkpoint folder it is required (keys left out take EnvConfig's
               defaults): a checkpoint holds no session settings
``device``     torch device for the simulator (default ``cpu``)
``seed``       base seed; each runner adds its worker index so streams differ

Each runner loads the checkpoint once (read-only) and keeps it for the process; the
session settings are checked against it there too (:meth:`EnvConfig.validate`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rayrec.config import from_dict, to_dict
from rayrec.environments.slate import (
    EnvConfig,
    SingleUserSlateEnv,
    SlateEnv,
    SlateEnvSpec,
    load_slate_spec,
)
from rayrec.environments.spec import (
    env_creator_name,
    load_env_spec,
    register_env_kind,
    spec_argument,
)
from rayrec.errors import InputError
from rayrec.simulator.keys import PART_EVAL, PART_TRAIN
from rayrec.simulator.simulator import Simulator

ENV_NAME = "rayrec-slate"
#: Where ``rayrec simulator train`` writes a spec's simulators (``<root>/<spec name>``):
#: ``$RAYREC_SIMULATORS`` (set on clusters, where ``runs/`` is not uploaded with a job)
#: or ``runs/simulators``.
SIM_ROOT_ENV = "RAYREC_SIMULATORS"
DEFAULT_SIM_ROOT = Path("runs/simulators")


def default_simulator_root(spec_name: str) -> Path:
    """``$RAYREC_SIMULATORS/<spec name>`` (read now), else ``runs/simulators/<name>``."""
    return Path(os.environ.get(SIM_ROOT_ENV) or DEFAULT_SIM_ROOT) / spec_name


def _slate_spec(spec_path: str | Path) -> SlateEnvSpec:
    spec = load_env_spec(spec_path)
    if not isinstance(spec, SlateEnvSpec):
        raise InputError(f"{spec_path}: kind: {spec.kind!r} specs have no slate simulator")
    return spec


def _resolve(spec: SlateEnvSpec, folder: str | None, part: str, option: str) -> str:
    if folder is None and spec.simulator.backend == "ground_truth":
        return str(Path(spec.path).resolve())
    root = Path(folder) if folder is not None else default_simulator_root(spec.name)
    if not ((root / part / "meta.json").is_file() or (root / "meta.json").is_file()):
        raise InputError(
            f"no simulator checkpoint at {root}; run `rayrec simulator train"
            f" {spec_argument(spec.path)}` first"
            f" (or pass {option} DIR)"
        )
    return str(root.resolve())


def resolve_simulator(
    spec_path: str,
    folder: str | None = None,
    *,
    part: str = PART_TRAIN,
    option: str = "--simulator",
) -> str:
    """The ``simulator`` entry of an ``env_config`` for an env spec.

    An explicit checkpoint ``folder`` wins; otherwise a ground-truth spec is its own
    simulator and a learned one lives in ``runs/simulators/<spec name>``. The spec is
    always loaded (and so validated). The root is read from ``$RAYREC_SIMULATORS`` at
    call time (default ``runs/simulators``).

    Raises:
        InputError: when the checkpoint is missing, saying how to make it.
    """
    return _resolve(_slate_spec(spec_path), folder, part, option)


def default_simulator_folder(spec_path: str | Path) -> Path | None:
    """Where ``rayrec simulator train`` writes a slate spec's learned simulator by default
    (:func:`default_simulator_root`); None for a ground-truth spec (its own simulator)."""
    spec = _slate_spec(spec_path)
    if spec.simulator.backend == "ground_truth":
        return None
    return default_simulator_root(spec.name)


@functools.lru_cache(maxsize=8)
def _load(target: str, part: str) -> Simulator:
    """The simulator of a checkpoint folder or of a ground-truth spec file."""
    path = Path(target)
    if path.is_dir():
        root = path / part if (path / part / "meta.json").is_file() else path
        return Simulator.load(root)
    if path.is_file():
        from rayrec.simulator.build import in_memory_simulator
        from rayrec.simulator.spec import load_simulator_spec

        return in_memory_simulator(load_simulator_spec(path), part)
    raise InputError(f"env_config 'simulator': {target} is neither a checkpoint folder nor a spec")


def env_config_of(env_config: Mapping[str, Any]) -> tuple[Simulator, EnvConfig]:
    """The simulator and the session settings an ``env_config`` describes (module doc).

    Raises:
        InputError: a key is missing or wrong, or a session setting asks for something
            the simulator cannot serve (naming the spec file and the key).
    """
    target = env_config.get("simulator")
    if not target:
        raise InputError("env_config: 'simulator' (checkpoint folder or spec) is required")
    part = str(env_config.get("part", PART_TRAIN))
    if part not in (PART_TRAIN, PART_EVAL):
        raise InputError(f"env_config: 'part' must be 'train' or 'eval', got {part!r}")
    sim = _load(str(target), part)
    spec_file = Path(str(target)).is_file()
    session = env_config.get("env")
    if session is None and not spec_file:
        raise InputError(
            f"env_config: 'env' (the session settings) is required with the checkpoint folder"
            f" {target}; build the env_config from the env spec"
            " (rayrec.environments.env_config_for)"
        )
    if not isinstance(session, Mapping | None):
        raise InputError(f"env_config: 'env' must be a mapping, got {session!r}")
    # a spec file's own session is the base only for what ``env`` leaves out
    # (env_config_for passes the whole session: the file is not read again)
    partial = session is None or any(f.name not in session for f in dataclasses.fields(EnvConfig))
    base = to_dict(_slate_spec(str(target)).env) if spec_file and partial else {}
    where = f"{env_config.get('spec') or target}: env"
    config = from_dict(EnvConfig, {**base, **(session or {})}, where)
    source = f"the simulator at {target}" if not spec_file else f"the simulator of {target}"
    config.validate(sim, where, source)
    return sim, config


def slate_env_config(
    spec: SlateEnvSpec, simulator: str | None, part: str, seed: int | None, option: str
) -> dict[str, Any]:
    """The ``env_config`` of a loaded slate spec (the ``slate`` kind's builder): its
    simulator resolved, its session settings as they are now, checked against it."""
    env_config: dict[str, Any] = {
        "kind": spec.kind,
        "spec": spec.path,
        "simulator": _resolve(spec, simulator, part, option),
        "part": part,
        "env": to_dict(spec.env),
    }
    if seed is not None:
        env_config["seed"] = seed
    env_config_of(env_config)  # loads the simulator: refuses what it cannot serve
    return env_config


def make_env(env_config: Mapping[str, Any]) -> SlateEnv | SingleUserSlateEnv:
    """Creator for RLlib (and plain gymnasium): batched if ``num_envs`` is given."""
    sim, config = env_config_of(env_config)
    device = str(env_config.get("device", "cpu"))
    base_seed = env_config.get("seed")
    worker = int(getattr(env_config, "worker_index", 0))
    seed = None if base_seed is None else int(base_seed) + 10_007 * worker
    num_envs = env_config.get("num_envs")
    if num_envs is None:
        return SingleUserSlateEnv(sim, config, device=device, seed=seed)
    return SlateEnv(sim, int(num_envs), config, device=device, seed=seed)


def register() -> str:
    """Register :func:`make_env` with Ray Tune under :data:`ENV_NAME`; return the name."""
    return env_creator_name(SlateEnvSpec.kind)


register_env_kind(
    SlateEnvSpec.kind,
    spec_class=SlateEnvSpec,
    load=load_slate_spec,
    env_config=slate_env_config,
    make_env=make_env,
    creator_name=ENV_NAME,
)
