"""From a simulator spec to simulator checkpoints, following HAC's protocol.

``train_simulators(spec)`` loads the dataset, builds exposure slates, and writes

``<out>/train/``  a simulator learned on the first ``protocol.train_fraction`` of
                  the slates by time (agents train in it);
``<out>/eval/``   a simulator learned on all slates (agents are evaluated in it);
``<out>/spec.yaml`` (the simulator spec) and ``<out>/summary.json`` (metrics of both,
                  data provenance).

A checkpoint records what its simulator predicts (feedback names, id spaces, the
history it can serve), not how sessions run: slate size, step cap, reward and leave
model are the env spec's, read by ``rayrec.environments`` at train and evaluation time.

The ground-truth backend (synthetic spec) needs no training: both parts share
the true user model, and the population/histories come from each part's slates.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from rayrec.config import to_dict
from rayrec.data import load_dataset
from rayrec.data.datasets import SYNTHETIC
from rayrec.data.io import atomic_write_text
from rayrec.data.schema import InteractionLog
from rayrec.data.synthetic import GroundTruth, generate
from rayrec.errors import InputError
from rayrec.simulator.keys import PART_EVAL, PART_TRAIN
from rayrec.simulator.response import (
    ResponseModelConfig,
    TrainConfig,
    train_response_model,
)
from rayrec.simulator.simulator import Simulator, ground_truth_simulator, learned_simulator
from rayrec.simulator.slates import SlateData, build_slates
from rayrec.simulator.spec import SimulatorSpec

log = logging.getLogger(__name__)

Progress = Callable[[str, dict[str, Any]], None]


def load_spec_data(
    spec: SimulatorSpec, data_dir: str | Path | None = None
) -> tuple[InteractionLog, GroundTruth | None, str]:
    """The spec's interaction log, its ground truth (synthetic only) and a data fingerprint."""
    if spec.dataset.name == SYNTHETIC:
        data = generate(spec.synthetic)
        return data.log, data.truth, f"synthetic:{asdict(spec.synthetic)}"
    path = data_dir if data_dir is not None else spec.dataset.path
    log_ = load_dataset(spec.dataset.name, path)
    # The cache records the source fingerprint: no second pass over the files.
    return log_, None, str(log_.meta.get("fingerprint", ""))


def encode_user_features(data: InteractionLog, names: tuple[str, ...]) -> np.ndarray:
    """(U + 1, n) categorical codes of the named user feature columns (0 = missing/pad).

    Raises:
        InputError: naming a column the dataset lacks.
    """
    out = np.zeros((data.n_users + 1, len(names)), dtype=np.int64)
    for j, name in enumerate(names):
        if name not in data.users.columns:
            raise InputError(
                f"user_features: '{name}' is not a user column of {data.name}"
                f" (columns: {', '.join(map(str, data.users.columns))})"
            )
        codes, _ = pd.factorize(data.users[name], sort=True)
        out[1:, j] = codes + 1  # -1 (missing) -> 0
    return out


def part_slates(slates: SlateData, spec: SimulatorSpec) -> dict[str, tuple[SlateData, float]]:
    """The slates each simulator learns from, with the time cut used."""
    cut = slates.time_cut(spec.protocol.train_fraction)
    train = slates.select(slates.time < cut) if spec.protocol.train_fraction < 1 else slates
    return {PART_TRAIN: (train, cut), PART_EVAL: (slates, float(slates.time.max(initial=0)))}


def train_simulators(
    spec: SimulatorSpec,
    out: str | Path,
    *,
    data_dir: str | Path | None = None,
    parts: tuple[str, ...] = (PART_TRAIN, PART_EVAL),
    device: str = "cpu",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Build the spec's simulators into ``out``; return the summary written there."""
    out = Path(out)
    data, truth, fingerprint = load_spec_data(spec, data_dir)
    slates = build_slates(data, spec.slates.to_config())
    if len(slates) == 0:
        raise InputError(f"{spec.name}: the dataset yields no slates")
    user_feats = encode_user_features(data, spec.user_features)
    provenance = {
        "spec_name": spec.name,
        "dataset": spec.dataset.name,
        "dataset_note": spec.dataset.note or data.meta.get("notes", ""),
        "data_fingerprint": fingerprint,
        "n_users": data.n_users,
        "n_items": data.n_items,
        "n_interactions": data.n_interactions,
        "n_slates": len(slates),
        "slate_width": int(slates.items.shape[1]),
        "slates": to_dict(spec.slates),
    }
    summary: dict[str, Any] = {"provenance": provenance, "parts": {}}
    for part, (part_data, cut) in part_slates(slates, spec).items():
        if part not in parts:
            continue
        meta: dict[str, Any] = {**provenance, "part": part, "time_cut": cut}
        meta["part_slates"] = len(part_data)
        if spec.backend == "ground_truth":
            assert truth is not None
            sim = ground_truth_simulator(truth, part_data, meta)
        else:
            sim = _train_part(spec, part, part_data, user_feats, meta, device, progress)
        sim.save(out / part)
        summary["parts"][part] = {k: v for k, v in sim.meta.items() if k not in provenance}
    atomic_write_text(out / "spec.yaml", yaml.safe_dump(to_dict(spec), sort_keys=False))
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, default=str))
    return summary


def record_in_summary(out: str | Path, key: str, value: Any) -> dict[str, Any]:
    """Add ``key: value`` to the ``summary.json`` of the checkpoint folder ``out``
    (atomically); return the summary. Used for figures measured after training, such
    as the headroom (``rayrec simulator train``)."""
    path = Path(out) / "summary.json"
    summary: dict[str, Any] = json.loads(path.read_text())
    summary[key] = value
    atomic_write_text(path, json.dumps(summary, indent=2, default=str))
    return summary


def _train_part(
    spec: SimulatorSpec,
    part: str,
    slates: SlateData,
    user_feats: np.ndarray,
    meta: dict[str, Any],
    device: str,
    progress: Progress | None,
) -> Simulator:
    m, t = spec.response_model, spec.training
    model_config = ResponseModelConfig(
        n_users=slates.n_users,
        n_items=slates.n_items,
        feedback_names=slates.feedback_names,
        dim=m.dim,
        encoder=m.encoder,
        history_slates=m.history_slates,
        user_feature_sizes=tuple(
            int(user_feats[:, j].max()) + 1 for j in range(user_feats.shape[1])
        ),
        n_layers=m.n_layers,
        n_heads=m.n_heads,
        ffn_dim=m.ffn_dim,
        dropout=m.dropout,
    )
    train_config = TrainConfig(
        epochs=t.epochs,
        batch_size=t.batch_size,
        sequence_batch_users=t.sequence_batch_users,
        lr=t.lr,
        weight_decay=t.weight_decay,
        behaviour_weights=dict(t.behaviour_weights),
        valid_fraction=t.valid_fraction,
        early_stopping=t.early_stopping,
        seed=t.seed,
        device=device,
    )
    result = train_response_model(
        slates,
        user_feats,
        model_config,
        train_config,
        progress=(lambda e: progress(part, e)) if progress else None,
    )
    meta = {**meta, "metrics": result.metrics, "history": result.history}
    return learned_simulator(result.model, slates, user_feats, meta, device)


def in_memory_simulator(spec: SimulatorSpec, part: str = PART_EVAL) -> Simulator:
    """A ground-truth simulator built on the fly (no checkpoint needed).

    Raises:
        InputError: for specs with a learned backend (those need ``simulator train``).
    """
    if spec.backend != "ground_truth":
        raise InputError(
            f"{spec.name}: a learned simulator needs a checkpoint; run"
            f" `rayrec simulator train` with this spec first"
        )
    data, truth, fingerprint = load_spec_data(spec)
    assert truth is not None
    slates = build_slates(data, spec.slates.to_config())
    part_data, cut = part_slates(slates, spec)[part]
    meta = {
        "spec_name": spec.name,
        "part": part,
        "data_fingerprint": fingerprint,
        "time_cut": cut,
    }
    return ground_truth_simulator(truth, part_data, meta)
