"""Shared fixtures. Nothing here touches sys.path or the environment at import."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from fedgov.spec import MonitoringSpec, save_spec
from fedgov.stats import derive_spec
from fedgov.synthetic import credit_data


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests never see a developer's FEDGOV_* settings."""
    for name in list(os.environ):
        if name.startswith("FEDGOV_"):
            monkeypatch.delenv(name)
    yield


def make_spec(rows: int = 4000, seed: int = 1) -> MonitoringSpec:
    return derive_spec(
        credit_data(rows, seed=seed),
        model_id="credit-risk",
        model_version="1.0.0",
        label="repaid",
        prediction="approved",
        sensitive=["sex", "age_band"],
        intersections=[("sex", "age_band")],
        categorical=["purpose", "employment"],
    )


@pytest.fixture(scope="session")
def credit_spec() -> MonitoringSpec:
    return make_spec()


@pytest.fixture
def spec_file(tmp_path: Path, credit_spec: MonitoringSpec) -> Path:
    path = tmp_path / "spec.json"
    save_spec(credit_spec, path)
    return path
