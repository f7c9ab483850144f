"""Simulator specs: how a user simulator is learned, loaded into a typed, validated config.

A simulator spec names the dataset, how exposure slates are built from it, the
response model and its training, and the train/evaluation protocol. It shares its
YAML file with an env spec (``envs/*.yaml``): the file's other top-level keys,
:data:`SESSION_KEYS` (``kind`` and ``env``, how a session runs), are read by
``rayrec.environments`` at train and evaluation time and skipped here. Every key
is checked on load; errors name the file, the key and what was expected.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rayrec.config import from_dict, load_yaml
from rayrec.data.synthetic import SyntheticConfig
from rayrec.errors import InputError
from rayrec.simulator.slates import FeedbackRule, NegativeSampling, SlateConfig

#: Top-level keys of a spec file that say how a session runs (``rayrec.environments``
#: reads them); a simulator spec sharing the file skips them.
SESSION_KEYS = ("kind", "env")


@dataclass(frozen=True)
class DatasetSpec:
    """Which data the simulator learns from.

    Attributes:
        name: a registered dataset (``rayrec data list``) or ``synthetic``.
        path: its folder; default ``--data-dir`` then ``$RAYREC_DATA/<folder>``.
        note: what exactly is used (stated in every report).
    """

    name: str
    path: str | None = None
    note: str = ""


@dataclass(frozen=True)
class SlateSpec:
    """The ``slates`` section: :class:`~rayrec.simulator.slates.SlateConfig`'s fields.

    ``negatives`` (``{sampler: uniform | popularity, exponent: α}``) says how ``chunk``
    slates draw their negatives; left out, ``uniform`` (the reference construction).
    """

    construction: Literal["log", "chunk"] = "chunk"
    size: int = 10
    negative_ratio: float = 1.0
    feedback: dict[str, FeedbackRule] = field(default_factory=dict)
    seed: int = 0
    negatives: NegativeSampling = field(default_factory=NegativeSampling)

    def to_config(self) -> SlateConfig:
        return SlateConfig(
            construction=self.construction,
            size=self.size,
            negative_ratio=self.negative_ratio,
            feedback=dict(self.feedback),
            seed=self.seed,
            negatives=self.negatives,
        )


@dataclass(frozen=True)
class ModelSpec:
    encoder: Literal["gru", "sasrec"] = "gru"
    dim: int = 64
    history_slates: int = 10
    dropout: float = 0.1
    n_layers: int = 2
    n_heads: int = 4
    ffn_dim: int = 64


@dataclass(frozen=True)
class TrainingSpec:
    epochs: int = 15
    batch_size: int = 256
    sequence_batch_users: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-5
    valid_fraction: float = 0.1
    early_stopping: int = 3
    behaviour_weights: dict[str, float] = field(default_factory=dict)
    seed: int = 0


@dataclass(frozen=True)
class ProtocolSpec:
    """HAC's protocol: agents train in a simulator learned on the first
    ``train_fraction`` of the log by time and are evaluated in one learned on all."""

    train_fraction: float = 0.8


@dataclass(frozen=True)
class SimulatorSpec:
    """How a simulator is learned: the simulator sections of an ``envs/<name>.yaml`` file.

    Attributes:
        name: the spec's name; its checkpoints default to ``runs/simulators/<name>``.
        dataset / synthetic: the data (``synthetic`` configures the generator).
        backend: ``learned`` (a response model) or ``ground_truth`` (synthetic only).
        slates: how exposure slates and their feedback are built from the log.
        user_features: user columns the response model reads.
        response_model / training: the model and how it is fitted.
        protocol: the train/evaluation split of the log.
    """

    name: str
    dataset: DatasetSpec
    description: str = ""
    backend: Literal["learned", "ground_truth"] = "learned"
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    slates: SlateSpec = field(default_factory=SlateSpec)
    user_features: tuple[str, ...] = ()
    response_model: ModelSpec = field(default_factory=ModelSpec)
    training: TrainingSpec = field(default_factory=TrainingSpec)
    protocol: ProtocolSpec = field(default_factory=ProtocolSpec)

    def check(self, where: str) -> None:
        """Cross-field checks that need the whole spec."""
        if not self.slates.feedback:
            raise InputError(f"{where}: slates.feedback: name at least one feedback rule")
        if self.backend == "ground_truth":
            if self.dataset.name != "synthetic":
                raise InputError(f"{where}: backend 'ground_truth' needs dataset 'synthetic'")
            if list(self.slates.feedback) != ["click"]:
                raise InputError(
                    f"{where}: slates.feedback: the ground-truth backend simulates 'click' only"
                )
        if not 0 < self.protocol.train_fraction <= 1:
            raise InputError(f"{where}: protocol.train_fraction must be in (0, 1]")
        if not 0 <= self.training.valid_fraction < 1:
            raise InputError(f"{where}: training.valid_fraction must be in [0, 1)")
        if self.slates.size < 1 or self.slates.negative_ratio < 0:
            raise InputError(f"{where}: slates.size must be >= 1 and negative_ratio >= 0")
        self.slates.negatives.check(f"{where}: slates.negatives")
        if self.response_model.encoder != "gru" and self.backend == "learned":
            raise InputError(
                f"{where}: response_model.encoder: environments step users incrementally and"
                " need 'gru' ('sasrec' is available for response-model studies in Python)"
            )


def simulator_spec_from_dict(data: Mapping[str, Any], where: str) -> SimulatorSpec:
    """Build and check a simulator spec from a spec file's mapping.

    The :data:`SESSION_KEYS` of the mapping are skipped (``rayrec.environments``
    reads them); any other unknown top-level key is refused, listing all accepted ones.

    Raises:
        InputError: naming ``where`` (the file) and the key at fault.
    """
    if not isinstance(data, Mapping):
        raise InputError(f"{where}: expected a mapping, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(SimulatorSpec)}
    unknown = sorted(set(data) - known - set(SESSION_KEYS))
    if unknown:
        raise InputError(
            f"{where}: unknown key {', '.join(repr(u) for u in unknown)};"
            f" expected one of {', '.join(sorted(known | set(SESSION_KEYS)))}"
        )
    own = {k: v for k, v in data.items() if k not in SESSION_KEYS}
    spec = from_dict(SimulatorSpec, own, where)
    spec.check(where)
    return spec


def load_simulator_spec(path: str | Path) -> SimulatorSpec:
    """Load and validate the simulator sections of a spec file (its session keys skipped).

    Raises:
        InputError: naming the file and the key at fault.
    """
    return simulator_spec_from_dict(load_yaml(path), str(path))
