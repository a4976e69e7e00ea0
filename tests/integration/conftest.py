from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.servers import running_aggregator

from aggregator.server import RunningServer


@pytest.fixture
def aggregator(tmp_path: Path) -> Iterator[RunningServer]:
    with running_aggregator(tmp_path / "agg.db") as running:
        yield running
