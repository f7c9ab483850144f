"""The command line: exit codes, JSON contract, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rayrec.cli import main
from tests.conftest import shared_dataset
from tests.data.movielens_fixtures import ratings_text, write_ml1m


def test_stats_json_last_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_ml1m(tmp_path)
    assert main(["data", "stats", "ml-1m", "--path", str(root), "--json"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    stats = json.loads(last)
    assert {"users", "items", "interactions", "feedback"} <= stats.keys()
    assert stats["interactions"] == 6


def test_stats_human_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "stats", "ml-1m", "--path", str(write_ml1m(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "users" in out and "interactions" in out and "time span" in out


def test_synthetic_stats_need_no_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "stats", "synthetic", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert stats["users"] == 500 and "click" in stats["feedback"]


def test_validate_ok_and_bad(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write_ml1m(tmp_path / "good")
    assert main(["data", "validate", "ml-1m", "--path", str(good)]) == 0
    lines = ratings_text().splitlines()
    lines[2] = "1::914::3"
    bad = write_ml1m(tmp_path / "bad", ratings="\n".join(lines) + "\n")
    assert main(["data", "validate", "ml-1m", "--path", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "ratings.dat, line 3" in err
    assert "Traceback" not in err


def test_unknown_dataset_and_missing_dir(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "stats", "no-such-data", "--path", "/tmp"]) == 2
    assert "unknown dataset" in capsys.readouterr().err
    assert main(["data", "validate", "ml-1m", "--path", "/does/not/exist"]) == 2
    assert "not found" in capsys.readouterr().err


def test_prepare_then_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_ml1m(tmp_path / "ml")
    assert (
        main(["data", "prepare", "ml-1m", "--path", str(root), "--out", str(tmp_path / "c")]) == 0
    )
    assert "cache:" in capsys.readouterr().out
    assert main(["data", "list"]) == 0
    assert "ml-1m" in capsys.readouterr().out


def test_console_script_exit_code(tmp_path: Path) -> None:
    """The installed entry point: exit 2 and a one-line message, no traceback."""
    bad = write_ml1m(tmp_path, ratings="1::2::3::4\n1::x::3::4\n")
    proc = subprocess.run(
        [sys.executable, "-m", "rayrec.cli", "data", "validate", "ml-1m", "--path", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "ratings.dat, line 2" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.realdata
def test_real_ml1m_stats_via_cli(capsys: pytest.CaptureFixture[str]) -> None:
    root = shared_dataset("movielens-1m")
    assert main(["data", "stats", "ml-1m", "--path", str(root), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (stats["users"], stats["items"], stats["interactions"]) == (2999, 3615, 487650)
