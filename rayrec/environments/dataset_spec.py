"""What the env kinds that replay a dataset (``rating_walk``, ``topn``) share: their
spec file's shape, its loading and checks, and where the dataset folder is.

Such a spec is ``kind``, ``name``, ``description``, ``dataset`` (a
:class:`~rayrec.simulator.spec.DatasetSpec`) and one section of the kind's own settings
(``walk``, ``topn``: a dataclass with a ``check(where)`` method); the spec dataclass
has those fields and ``path``.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from rayrec.config import from_dict
from rayrec.data.datasets import resolve_path
from rayrec.data.io import DATA_ENV
from rayrec.data.readers.base import dataset_names, get_reader
from rayrec.environments.spec import load_env_spec
from rayrec.errors import InputError

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
    if spec.dataset.name == "synthetic" and given is None:
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
