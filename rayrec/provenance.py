"""Which code produced a result: the package version and, in a git checkout, the commit.

Stored with every reproduction run so a table can say what it was made with, and a
rerun can warn when it reuses results from other code.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from rayrec import __version__

_ROOT = Path(__file__).resolve().parents[1]


def code_version() -> str:
    """``rayrec <version>``, plus ``@<commit>`` (``+dirty`` with uncommitted changes to
    tracked files) when the package runs from a git checkout."""
    version = f"rayrec {__version__}"
    try:
        commit = subprocess.run(
            ["git", "-C", str(_ROOT), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return version  # an installed wheel, or no git
    return f"{version}@{commit}{'+dirty' if dirty else ''}"
