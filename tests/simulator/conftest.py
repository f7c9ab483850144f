"""Small simulators shared by the simulator tests.

- :func:`tiny_ground_truth_spec` / ``gt_sim``: a 60-user, 40-item synthetic log with
  its true click model as the backend (the oracle is exact).

Both specs are slate env specs: ``.simulator`` (how it is learned) and ``.env`` (the
session settings); :func:`write_env_spec` writes one as an ``envs/*.yaml`` file.
- :func:`tiny_learned_spec` / ``learned_run``: a 300-user synthetic log with click and
  purchase feedback and a user feature, a GRU response model trained for 2 epochs
  (about 1.6 s, plus torch's one-time optimizer import of about 3 s on a busy box that
  whichever test trains first pays); ``learned_run`` holds the ``train/`` + ``eval/``
  checkpoints.

Tests never mutate these objects; variants are made with ``dataclasses.replace``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from rayrec.data.synthetic import SyntheticConfig
from rayrec.environments.slate import EnvConfig, LeaveConfig, SlateEnvSpec
from rayrec.simulator.build import in_memory_simulator, train_simulators
from rayrec.simulator.keys import PART_EVAL
from rayrec.simulator.simulator import Simulator
from rayrec.simulator.slates import FeedbackRule
from rayrec.simulator.spec import DatasetSpec, ModelSpec, SimulatorSpec, SlateSpec, TrainingSpec

REPO = Path(__file__).resolve().parents[2]
ENVS = REPO / "envs"

#: slate size K, history length H and step cap of the tiny specs
K, H, MAX_STEPS = 5, 10, 10


def tiny_ground_truth_spec(**env: Any) -> SlateEnvSpec:
    """A small synthetic spec with the ground-truth backend; ``env`` overrides EnvConfig."""
    return SlateEnvSpec(
        simulator=SimulatorSpec(
            name="tiny-gt",
            dataset=DatasetSpec(name="synthetic", note="tiny synthetic log (tests)"),
            backend="ground_truth",
            synthetic=SyntheticConfig(seed=0, n_users=60, n_items=40, dim=4, n_clusters=4),
            slates=SlateSpec(construction="log", feedback={"click": FeedbackRule(column="click")}),
        ),
        env=EnvConfig(**{"slate_size": K, "max_steps": MAX_STEPS, "history_length": H, **env}),
    )


def tiny_learned_spec(epochs: int = 2, name: str = "tiny-learned") -> SlateEnvSpec:
    """A synthetic spec with a learned backend that trains in about a second an epoch.

    Sharp preferences (``scale`` 8) and a high learning rate let 2 epochs beat the
    popularity baseline clearly (validation click AUC about 0.80 vs 0.63).
    """
    return SlateEnvSpec(
        simulator=SimulatorSpec(
            name=name,
            dataset=DatasetSpec(name="synthetic"),
            backend="learned",
            synthetic=SyntheticConfig(
                seed=0, n_users=300, n_items=100, dim=4, n_clusters=4, scale=8.0
            ),
            slates=SlateSpec(
                construction="log",
                feedback={
                    "click": FeedbackRule(column="click"),
                    "purchase": FeedbackRule(column="purchase"),
                },
            ),
            user_features=("segment",),
            response_model=ModelSpec(dim=32, dropout=0.0),
            training=TrainingSpec(epochs=epochs, lr=0.02, early_stopping=10, seed=0),
        ),
        env=EnvConfig(
            slate_size=K,
            max_steps=MAX_STEPS,
            history_length=H,
            reward_weights={"click": 1.0, "purchase": 2.0},
            leave=LeaveConfig(initial_patience=3.0),
        ),
    )


def write_env_spec(path: Path, spec: SlateEnvSpec) -> Path:
    """``spec`` as an env spec YAML file at ``path`` (kind, simulator sections, env)."""
    path.write_text(yaml.safe_dump(spec.to_mapping(), sort_keys=False))
    return path


@dataclass(frozen=True)
class LearnedRun:
    """The output of ``train_simulators`` on :func:`tiny_learned_spec` (``spec``)."""

    spec: SlateEnvSpec
    out: Path
    summary: dict[str, Any]

    def load(self, part: str = PART_EVAL) -> Simulator:
        return Simulator.load(self.out / part)


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread; several threads on a busy CI box made a
    0.7 s training take 15 s (oversubscription)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def gt_sim() -> Simulator:
    return in_memory_simulator(tiny_ground_truth_spec().simulator)


@pytest.fixture(scope="session")
def learned_run(tmp_path_factory: pytest.TempPathFactory) -> LearnedRun:
    spec = tiny_learned_spec()
    out = tmp_path_factory.mktemp("learned") / "sim"
    summary = train_simulators(spec.simulator, out)
    assert json.loads((out / "summary.json").read_text())["parts"].keys() == summary["parts"].keys()
    return LearnedRun(spec=spec, out=out, summary=summary)


@pytest.fixture(scope="session")
def learned_sim(learned_run: LearnedRun) -> Simulator:
    return learned_run.load()
