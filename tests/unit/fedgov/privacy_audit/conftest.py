"""The pre-issue-14 fixture (tests/fixtures/privacy) as domain values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fedgov.privacy.audit import Release, release_of
from fedgov.privacy.audit._inputs import read_files, read_truth
from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats

FIXTURE = Path(__file__).resolve().parents[3] / "fixtures" / "privacy"


@pytest.fixture(scope="session")
def fixture_dir() -> Path:
    return FIXTURE


@pytest.fixture(scope="session")
def releases_and_spec() -> tuple[list[Release], MonitoringSpec]:
    releases, specs = read_files([FIXTURE])
    return releases, specs[0]


@pytest.fixture(scope="session")
def true_windows() -> dict[tuple[str, int, int], WindowStats]:
    doc: Any = json.loads((FIXTURE / "truth.json").read_text())
    return {
        (w["silo"], w["start_ms"], w["end_ms"]): WindowStats.from_dict(w["stats"])
        for w in doc["windows"]
    }


@pytest.fixture(scope="session")
def truth():  # type: ignore[no-untyped-def]
    return read_truth(FIXTURE / "truth.json")


__all__ = ["FIXTURE", "release_of"]
