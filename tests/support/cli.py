"""The ``fedgov`` command and fresh interpreters, run as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_fedgov(
    *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m fedgov *args``, its output captured as text; never raises on exit codes."""
    return subprocess.run(
        [sys.executable, "-m", "fedgov", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


def no_traceback(p: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout, p.stderr


def python_prints(code: str, timeout: float = 60) -> str:
    """What a fresh interpreter running ``code`` prints (stripped); fails if it fails."""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=timeout
    )
    return out.stdout.strip()
