"""Which code produced a result: the package version and, in a git checkout, the commit.

Stored with every reproduction run so a table can say what it was made with, and a
rerun can warn when it reuses results from other code.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from rayrec import __version__

_ROOT = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str:
    """Output of ``git -C <repo> <args>`` (raises when git or the checkout is missing)."""
    done = subprocess.run(
        ["git", "-C", str(_ROOT), *args], capture_output=True, text=True, timeout=10, check=True
    )
    return done.stdout.strip()


def code_version() -> str:
    """``rayrec <version>``, plus ``@<commit>`` (``+dirty`` with uncommitted changes to
    tracked files) when the package runs from a git checkout."""
    version = f"rayrec {__version__}"
    try:
        commit = _git("rev-parse", "--short=12", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return version  # an installed wheel, or no git
    return f"{version}@{commit}{'+dirty' if dirty else ''}"
