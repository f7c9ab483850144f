"""Shared test fixtures: paths to the real data (optional) and small generated logs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_dataset(folder: str) -> Path:
    """The real copy of a dataset in ../shared/data, or skip the test."""
    path = SHARED_DATA / folder
    if not path.is_dir():
        pytest.skip(f"real data not available: {path}")
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never touch the user's ~/.cache/rayrec from tests."""
    monkeypatch.setenv("RAYREC_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("RAYREC_DATA", raising=False)


@pytest.fixture(scope="session")
def ray_session():  # type: ignore[no-untyped-def]
    """One local Ray cluster for the whole test run (2 CPUs, no dashboard)."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def single_thread() -> Iterator[None]:
    """torch on one thread for the test: the learner runs in the test process next to
    remote env runners on 2 shared cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
