"""`rayrec data download` reports progress on stderr: plain lines, or one line on a terminal."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import rayrec.data.download as download
from rayrec.cli import DownloadProgress, main

MIB = 1 << 20


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def ticking(step: float) -> Iterator[float]:
    t = 0.0
    while True:
        yield t
        t += step


def feed(progress: DownloadProgress, total: int | None, n_chunks: int, chunk: int) -> None:
    for k in range(n_chunks + 1):
        progress(k * chunk, total)
    progress.close()


def test_plain_lines_every_five_percent_and_at_the_end() -> None:
    out = io.StringIO()
    clock = ticking(0.01)
    feed(DownloadProgress("ml-1m", out, clock=lambda: next(clock)), 100 * MIB, 100, MIB)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines[0] == "ml-1m: 0.0 of 100.0 MiB (0%)"
    assert len(lines) == 21  # 0%, 5%, ..., 100%
    assert lines[-1].startswith("ml-1m: 100.0 of 100.0 MiB (100%), ")
    assert lines[-1].endswith(" MiB/s")


def test_time_based_lines_when_the_total_is_unknown() -> None:
    out = io.StringIO()
    clock = ticking(1.0)  # one chunk a second, a line every 30 s
    feed(DownloadProgress("kuairec", out, clock=lambda: next(clock)), None, 90, MIB)
    lines = out.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == [
        "kuairec: 0.0 MiB",
        "kuairec: 30.0 MiB",
        "kuairec: 60.0 MiB",
        "kuairec: 90.0 MiB",
    ]


def test_terminal_rewrites_one_line_and_ends_it() -> None:
    out = Terminal()
    clock = ticking(0.5)
    feed(DownloadProgress("ml-1m", out, clock=lambda: next(clock)), 10 * MIB, 10, MIB)
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    updates = text.rstrip("\n").split("\r")[1:]
    assert len(updates) == 11  # a 10% step each time
    assert updates[-1].startswith("ml-1m: 10.0 of 10.0 MiB (100%)")


def test_cli_download_passes_a_progress_callback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: dict[str, Any] = {}

    def fake_download(name: str, dest: str | None, **kwargs: Any) -> Path:
        seen.update(kwargs)
        for k in range(5):
            kwargs["progress"](k * MIB, 4 * MIB)
        return tmp_path / name

    monkeypatch.setattr(download, "download_dataset", fake_download)
    assert main(["data", "download", "ml-1m", "--dest", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert callable(seen["progress"])
    assert captured.out.strip() == f"ml-1m: ready in {tmp_path / 'ml-1m'}"
    lines = captured.err.splitlines()
    assert lines[0] == "ml-1m: 0.0 of 4.0 MiB (0%)"
    assert lines[-1].startswith("ml-1m: 4.0 of 4.0 MiB (100%)")
