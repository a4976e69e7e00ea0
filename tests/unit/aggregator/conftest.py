"""The store suite's fixtures: a store of each backend (PostgreSQL's fixtures are in
:mod:`support.postgres`, loaded by the root conftest)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregator.store import Store, create_store
from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats, encode_columns
from fedgov.synthetic import credit_data


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path, postgres_server: object) -> str:
    """A URL naming an empty database of each backend, for the shared store suite.

    ``postgres_server`` is requested here, statically, so that it is set up before the
    root conftest clears FEDGOV_* variables.
    """
    if request.param == "sqlite":
        return str(tmp_path / "agg.db")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = create_store(store_url)
    yield s
    s.close()


@pytest.fixture(scope="module")
def stats(credit_spec: MonitoringSpec) -> WindowStats:
    """Statistics of 200 credit rows under the shared spec (reused by many reports)."""
    spec = credit_spec
    return WindowStats.zero(spec).fold(spec, encode_columns(spec, credit_data(200, seed=3)))
