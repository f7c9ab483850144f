"""What the env kinds that replay a dataset (``rating_walk``, ``topn``,
``logged_sessions``) share: their spec file's shape, its loading and checks, where the
dataset folder is, and the check of one-item actions.

Such a spec is ``kind``, ``name``, ``description``, ``dataset`` (a
:class:`~rayrec.simulator.spec.DatasetSpec`) and one section of the kind's own settings
(``walk``, ``topn``: a dataclass with a ``check(where)`` method); the spec dataclass
has those fields and ``path``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import numpy as np

from rayrec.config import from_dict, to_dict
from rayrec.data.datasets import resolve_path
from rayrec.data.io import DATA_ENV
from rayrec.data.readers.base import GENERATED, dataset_names, get_reader
from rayrec.environments.spec import load_env_spec
from rayrec.errors import InputError
from rayrec.simulator.keys import PART_EVAL, PART_TRAIN

#: how messages name the way to pass a dataset folder
DATA_DIR_OPTION = "--data-dir"

S = TypeVar("S")


def load_dataset_spec(cls: type[S], section: str, path: Path, data: dict[str, Any]) -> S:
    """The spec dataclass ``cls`` of a spec file's mapping, its ``section`` checked
    (a kind's loader).

    Raises:
        InputError: naming the file and the key at fault.
    """
    where = str(path)
    keys = ("kind", "name", "description", "dataset", section)
    unknown = sorted(set(data) - set(keys))
    if unknown:
        raise InputError(
            f"{where}: unknown key {', '.join(map(repr, unknown))};"
            f" expected one of {', '.join(keys)}"
        )
    spec: Any = from_dict(cls, {k: v for k, v in data.items() if k != "kind"}, where)
    if spec.dataset.name.lower() not in dataset_names():
        raise InputError(
            f"{where}: dataset.name: expected one of {', '.join(dataset_names())},"
            f" got {spec.dataset.name!r}"
        )
    getattr(spec, section).check(f"{where}: {section}")
    loaded: S = replace(spec, path=where)
    return loaded


def dataset_folder(spec: Any, data_dir: str | Path | None, option: str) -> str | None:
    """The dataset folder of a loaded spec: ``data_dir``, else its ``dataset.path``,
    else ``$RAYREC_DATA/<folder>`` (read now); None for a generated dataset.

    Raises:
        InputError: no folder is given anywhere (naming the spec file, ``dataset.path``
            and the ways to give one, ``option`` among them).
    """
    given = data_dir if data_dir is not None else spec.dataset.path
    if spec.dataset.name in GENERATED and given is None:
        return None
    if given is None and not os.environ.get(DATA_ENV):
        folder = get_reader(spec.dataset.name).default_dir
        raise InputError(
            f"{spec.path}: dataset.path: no data folder for {spec.dataset.name!r}: pass"
            f" {option} DIR, set dataset.path, or set {DATA_ENV} to a folder holding"
            f" '{folder}/'"
        )
    return str(resolve_path(spec.dataset.name, given).resolve())


def spec_of_kind(spec: str | Path, cls: type[S]) -> S:
    """The spec of a file or packaged name, which must be of ``cls``'s kind.

    Raises:
        InputError: a spec of another kind (naming it and the kind expected).
    """
    loaded = load_env_spec(spec)
    if not isinstance(loaded, cls):
        kind = getattr(cls, "kind", cls.__name__)
        raise InputError(f"{spec}: kind: expected {kind!r}, got {loaded.kind!r}")
    return loaded


def _check_part(part: str, where: str) -> str:
    """``part`` if it is ``train`` or ``eval``; else an :class:`InputError` at ``where``."""
    if part not in (PART_TRAIN, PART_EVAL):
        raise InputError(f"{where}: part: expected 'train' or 'eval', got {part!r}")
    return part


def dataset_env_config(
    spec: Any, section: str, data_dir: str | None, part: str, seed: int | None, option: str
) -> dict[str, Any]:
    """The ``env_config`` of a loaded spec: kind, spec file, the dataset with its folder
    resolved (:func:`dataset_folder`), ``part``, the ``section`` settings and ``seed``
    (when given). The kind's builder then loads the data once, to refuse what its env
    cannot use before Ray starts.

    Raises:
        InputError: naming the spec file and the key at fault.
    """
    _check_part(part, spec.path)
    path = dataset_folder(spec, data_dir, DATA_DIR_OPTION if option == "--simulator" else option)
    env_config: dict[str, Any] = {
        "kind": spec.kind,
        "spec": spec.path,
        "dataset": {"name": spec.dataset.name, "path": path},
        "part": part,
        section: to_dict(getattr(spec, section)),
    }
    if seed is not None:
        env_config["seed"] = seed
    return env_config


class DatasetEnvConfig(NamedTuple):
    """What an ``env_config`` of a dataset-replay kind says (:func:`read_env_config`)."""

    where: str  #: the spec file (or ``env_config``), for messages
    dataset: str  #: the dataset's name
    path: str | None  #: its folder (None: generated)
    settings: Any  #: the kind's section, checked
    part: str  #: ``train`` or ``eval``


def read_env_config(env_config: Mapping[str, Any], section: str, cls: type) -> DatasetEnvConfig:
    """The parts of an ``env_config`` built by :func:`dataset_env_config`, the
    ``section`` settings parsed into ``cls`` and checked.

    Raises:
        InputError: a key is missing or wrong (naming the spec file and the key).
    """
    where = str(env_config.get("spec") or "env_config")
    dataset = env_config.get("dataset")
    if not isinstance(dataset, Mapping) or not dataset.get("name"):
        raise InputError(f"{where}: env_config 'dataset': expected {{name, path}}, got {dataset!r}")
    settings: Any = from_dict(cls, env_config.get(section, {}), f"{where}: {section}")
    settings.check(f"{where}: {section}")
    part = _check_part(str(env_config.get("part", PART_TRAIN)), where)
    path = dataset.get("path")
    return DatasetEnvConfig(
        where, str(dataset["name"]), None if path is None else str(path), settings, part
    )


def item_actions(actions: Any, num_envs: int, n_items: int) -> np.ndarray:
    """A vector env's one-item actions as (B,) int64 item ids.

    Args:
        actions: (B,) or (B, 1) item ids.
        num_envs: B.
        n_items: N; ids run 0 .. N (0 padding).

    Raises:
        ValueError: actions of another shape, or an id outside ``0 .. N``.
    """
    a = np.asarray(actions).reshape(num_envs, -1)
    if a.shape[1] != 1:
        raise ValueError(f"expected actions of shape ({num_envs},), got {np.shape(actions)}")
    ids = a[:, 0].astype(np.int64)  # (B,)
    if (ids < 0).any() or (ids > n_items).any():
        raise ValueError(f"actions: expected item ids in 0 .. {n_items}, got {ids}")
    return ids


def spec_mapping(spec: Any, section: str) -> dict[str, Any]:
    """A loaded dataset-replay spec as the mapping its YAML file holds."""
    return {
        "kind": spec.kind,
        "name": spec.name,
        "description": spec.description,
        "dataset": to_dict(spec.dataset),
        section: to_dict(getattr(spec, section)),
    }
