"""Services a test needs from outside (a PostgreSQL server, a Prometheus binary)."""

from __future__ import annotations

import pytest


def required(value: str | None, in_ci: bool, reason: str) -> str:
    """``value``, or skip the calling test (locally) / fail it (under CI=true) for ``reason``:
    CI must not pass by skipping."""
    if value:
        return value
    if in_ci:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)
