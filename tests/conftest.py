"""Shared fixtures. Nothing here touches sys.path or the environment at import."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.specs import derive_credit_spec

from fedgov.spec import MonitoringSpec, save_spec

pytest_plugins = ["support.postgres"]  # postgres_server, postgres_url


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests never see a developer's FEDGOV_* settings."""
    for name in list(os.environ):
        if name.startswith("FEDGOV_"):
            monkeypatch.delenv(name)
    yield


@pytest.fixture(scope="session")
def credit_spec() -> MonitoringSpec:
    return derive_credit_spec()


@pytest.fixture
def spec_file(tmp_path: Path, credit_spec: MonitoringSpec) -> Path:
    path = tmp_path / "spec.json"
    save_spec(credit_spec, path)
    return path


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The one SparkSession of the run (``local[2]``, see :mod:`support.spark`); stopped
    at the end. pyspark is a test dependency: CI has it, so these tests run there."""
    pytest.importorskip("pyspark")
    from support.spark import local_session

    session = local_session(tmp_path_factory.mktemp("spark-warehouse"))
    yield session
    session.stop()
