"""Shared pieces of the sweep tests: a spec writer over the synthetic env."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
SYNTHETIC = REPO / "envs" / "synthetic.yaml"
SHIPPED = sorted((REPO / "tune_configs").glob("*.yaml"))


def tiny_spec(**overrides: Any) -> dict[str, Any]:
    """A sweep of 2 HAC trials on the synthetic env, a few seconds per iteration."""
    spec: dict[str, Any] = {
        "name": "tiny",
        "algorithm": "hac",
        "env": str(SYNTHETIC),
        "config": {"num_steps_sampled_before_learning_starts": 128},
        "search_space": {"hyper_actor_coef": {"grid_search": [0.0, 1.0]}},
        "resources": {
            "cpus_for_main_process": 1,
            "cpus_per_learner": 1,
            "num_env_runners": 0,
            "num_envs_per_env_runner": 8,
        },
        "stop": {"training_iteration": 2},
        "checkpoint": {"frequency": 1, "num_to_keep": None},
        "failure": {"max_failures": 1},
        "evaluation": {"users": 20},
    }
    for key, value in overrides.items():
        spec[key] = value
    return spec


def write_spec(folder: Path, spec: dict[str, Any], name: str = "spec.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path
