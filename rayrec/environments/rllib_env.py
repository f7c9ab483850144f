"""The simulator as an RLlib environment.

RLlib's env runners call the creator with ``env_config | {"num_envs": n}`` when
``gym_env_vectorize_mode="vector_entry_point"``; :func:`make_env` then returns one
natively batched :class:`SlateEnv` for all n users of that runner. Without
``num_envs`` it returns the single-user view. Use it as::

    config.environment(env=make_env, env_config={"simulator": "runs/simulators/ml1m",
                                                 "part": "train"})
    config.env_runners(num_env_runners=2, num_envs_per_env_runner=256,
                       gym_env_vectorize_mode="vector_entry_point")

``env_config`` keys:

``simulator``  a checkpoint folder (with ``train/`` and ``eval/``, or one part) or an
               env spec YAML whose backend is the synthetic ground truth
``part``       ``train`` (default) or ``eval``
``env``        optional overrides of the spec's ``env`` section (a mapping)
``device``     torch device for the simulator (default ``cpu``)
``seed``       base seed; each runner adds its worker index so streams differ

Each runner loads the checkpoint once (read-only) and keeps it for the process.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rayrec.config import from_dict, to_dict
from rayrec.environments.slate import EnvConfig, SingleUserSlateEnv, SlateEnv
from rayrec.errors import InputError
from rayrec.simulator.keys import PART_EVAL, PART_TRAIN
from rayrec.simulator.simulator import Simulator

ENV_NAME = "rayrec-slate"
#: Where ``rayrec simulator train`` writes a spec's simulators (``<root>/<spec name>``):
#: ``$RAYREC_SIMULATORS`` (set on clusters, where ``runs/`` is not uploaded with a job)
#: or ``runs/simulators``.
SIM_ROOT_ENV = "RAYREC_SIMULATORS"
DEFAULT_SIM_ROOT = Path(os.environ.get(SIM_ROOT_ENV) or "runs/simulators")


def default_simulator_root(spec_name: str) -> Path:
    """``$RAYREC_SIMULATORS/<spec name>`` (read now), else ``runs/simulators/<name>``."""
    return Path(os.environ.get(SIM_ROOT_ENV) or DEFAULT_SIM_ROOT) / spec_name


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
    from rayrec.simulator.spec import load_spec

    spec = load_spec(spec_path)
    if folder is None and spec.backend == "ground_truth":
        return str(Path(spec_path).resolve())
    root = Path(folder) if folder is not None else default_simulator_root(spec.name)
    if not ((root / part / "meta.json").is_file() or (root / "meta.json").is_file()):
        raise InputError(
            f"no simulator checkpoint at {root}; run `rayrec simulator train {spec_path}` first"
            f" (or pass {option} DIR)"
        )
    return str(root.resolve())


@functools.lru_cache(maxsize=8)
def _load(target: str, part: str) -> tuple[Simulator, dict[str, Any]]:
    """(simulator, env section) from a checkpoint folder or a ground-truth spec."""
    path = Path(target)
    if path.is_dir():
        root = path / part if (path / part / "meta.json").is_file() else path
        sim = Simulator.load(root)
        return sim, dict(sim.meta.get("env", {}))
    if path.is_file():
        from rayrec.simulator.build import in_memory_simulator
        from rayrec.simulator.spec import load_spec

        spec = load_spec(path)
        return in_memory_simulator(spec, part), to_dict(spec.env)
    raise InputError(f"env_config 'simulator': {target} is neither a checkpoint folder nor a spec")


def env_config_of(env_config: Mapping[str, Any]) -> tuple[Simulator, EnvConfig]:
    """The simulator and the session settings an ``env_config`` describes."""
    target = env_config.get("simulator")
    if not target:
        raise InputError("env_config: 'simulator' (checkpoint folder or spec) is required")
    part = str(env_config.get("part", PART_TRAIN))
    if part not in (PART_TRAIN, PART_EVAL):
        raise InputError(f"env_config: 'part' must be 'train' or 'eval', got {part!r}")
    sim, env_section = _load(str(target), part)
    merged = {**env_section, **dict(env_config.get("env", {}) or {})}
    return sim, from_dict(EnvConfig, merged, "env_config: env")


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
    from ray.tune.registry import register_env

    register_env(ENV_NAME, make_env)
    return ENV_NAME
