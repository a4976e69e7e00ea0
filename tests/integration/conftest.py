from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregator.server import RunningServer, create_server
from aggregator.store import SqliteStore


@pytest.fixture
def aggregator(tmp_path: Path) -> Iterator[RunningServer]:
    running = create_server("127.0.0.1:0", SqliteStore(tmp_path / "agg.db"))
    yield running
    running.stop(grace=1.0)
    running.handler.store.close()
