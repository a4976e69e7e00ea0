"""One trial PKI per cohort size, shared by the secure-aggregation tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.secagg_rounds import make_cohort_pki


@pytest.fixture(scope="session")
def pki4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_cohort_pki(tmp_path_factory.mktemp("pki4"), 4)


@pytest.fixture(scope="session")
def pki10(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_cohort_pki(tmp_path_factory.mktemp("pki10"), 10)
