"""``ray job submit --working-dir . -- rayrec ...`` against a head of its own.

The work is done by ``scripts/submit_smoke.py`` (which a user can run by hand): a
separate local head on 127.0.0.1 (free ports, its own temp dir, token auth with its own
token), the submission with the working-dir excludes, following the job to its end,
its logs, and stopping that head only. The test session's own Ray (``ray_session``)
must come through untouched, and so must any other Ray on the machine.

The entrypoint is the issue's ``rayrec tune tune_configs/hac_lambda.yaml --smoke`` when
that spec exists, else a 2-iteration ``rayrec train hac`` on the synthetic env.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "submit_smoke.py"
TUNE_SPEC = REPO / "tune_configs" / "hac_lambda.yaml"
#: for the job; the tune smoke took 4.6 min, the train one 1 min, on 2 loaded cores
TIMEOUT_S = 900.0


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("submit_smoke", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through it
    spec.loader.exec_module(module)
    return module


def test_status_lines_are_parsed() -> None:
    smoke = load_script()
    said = "SUCC cli.py:67 -- \x1b[32mJob 'rayrec-smoke-1' succeeded\x1b[39m"
    assert smoke.parse_status("rayrec-smoke-1", said) == "SUCCEEDED"
    assert smoke.parse_status("j", "Job 'j' failed\nStatus message: boom") == "FAILED"
    assert smoke.parse_status("j", "Job 'j' was stopped") == "STOPPED"
    assert smoke.parse_status("j", "Status for job 'j': JobStatus.RUNNING") == "RUNNING"
    assert smoke.parse_status("j", "Job 'other' succeeded") is None


def test_default_entrypoint_prefers_the_tune_smoke(tmp_path: Path) -> None:
    smoke = load_script()
    assert smoke.default_entrypoint(tmp_path)[:3] == ["rayrec", "train", "hac"]
    (tmp_path / "tune_configs").mkdir()
    (tmp_path / "tune_configs" / "hac_lambda.yaml").write_text("{}")
    tune = smoke.default_entrypoint(tmp_path)
    assert tune[:4] == ["rayrec", "tune", "tune_configs/hac_lambda.yaml", "--smoke"]
    assert Path(tune[tune.index("--storage") + 1]).is_absolute()


def _entrypoint(tmp: Path) -> tuple[list[str], list[str]]:
    """(command, lines rayrec must print) for the job; outputs go under ``tmp``."""
    if TUNE_SPEC.is_file():
        spec = str(TUNE_SPEC.relative_to(REPO))
        storage = tmp / "tune"
        command = ["rayrec", "tune", spec, "--smoke", "--storage", str(storage), "--json"]
        return command, ["sweep hac_lambda (smoke): ", f"experiment: {storage / 'hac_lambda'}"]
    out = tmp / "train"
    command = ["rayrec", "train", "hac", "--env", "envs/synthetic.yaml", "--stop-iters", "2",
               "--eval-users", "50", "--out", str(out), "--json"]  # fmt: skip
    return command, ["iter    2", f"checkpoint: {(out / 'checkpoint').resolve()}"]


def last_json(logs: str) -> dict[str, Any]:
    """The ``--json`` object rayrec printed (the last line that is one)."""
    for line in reversed(logs.splitlines()):
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                found: dict[str, Any] = json.loads(line)
                return found
    raise AssertionError(f"no JSON line in the job's logs:\n{logs[-3000:]}")


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self").exists(), reason="process checks read /proc")
def test_job_submit_on_a_local_head(ray_session: Any, tmp_path: Path) -> None:
    smoke = load_script()
    entrypoint, expected = _entrypoint(tmp_path)

    with smoke.LocalHead(num_cpus=2, extra_env={"RAYREC_CACHE": str(tmp_path / "cache")}) as head:
        head_pids = head.pids()
        temp_dir = head.temp_dir
        outcome = smoke.submit_and_wait(head.address, entrypoint, env=head.env, timeout_s=TIMEOUT_S)
        head_pids |= head.pids()
        # what the head unpacked as the job's working dir
        pkgs = temp_dir.glob("session_latest/runtime_resources/working_dir_files/_ray_pkg_*")
        unpacked = [p for p in pkgs if p.is_dir()]
        assert len(unpacked) == 1, unpacked
        shipped = {p.name for p in unpacked[0].iterdir()}
        shipped_mib = sum(f.stat().st_size for f in unpacked[0].rglob("*") if f.is_file()) / 2**20

    assert outcome.status == "SUCCEEDED", outcome.logs[-4000:]
    for line in expected:
        assert line in outcome.logs, f"{line!r} not in the job's logs:\n{outcome.logs[-4000:]}"
    result = last_json(outcome.logs)
    if entrypoint[1] == "tune":  # every trial finished, results where --storage said
        trials = re.search(r"\(smoke\): (\d+) trials", outcome.logs)
        assert trials, outcome.logs[-4000:]
        assert result["status"] == {"TERMINATED": int(trials.group(1))}, result
        assert Path(result["results_csv"]).is_file()
    else:
        assert result["iterations"] == 2 and result["algorithm"] == "hac"
        assert (tmp_path / "train" / "result.json").is_file()
    # the code went up; .venv (GBs), .git, runs/ and the caches did not
    assert {"rayrec", "envs", "pyproject.toml"} <= shipped, shipped
    assert not shipped & {".venv", ".git", "runs", "data", ".mypy_cache", ".pytest_cache"}
    assert shipped_mib < 10.0, f"{shipped_mib:.1f} MiB shipped: an exclude is missing"

    # that head is gone, all of it, and its temp dir with it ...
    assert len(head_pids) > 5, head_pids  # gcs, raylet, dashboard, agents, workers
    assert not [pid for pid in head_pids if _alive(pid)]
    assert not temp_dir.exists()
    # ... while the session's own Ray is untouched
    assert ray_session.is_initialized()
    assert ray_session.get(ray_session.put(41)) + 1 == 42
    assert os.environ.get("RAY_AUTH_TOKEN_PATH") is None, "the head's token leaked into pytest"
