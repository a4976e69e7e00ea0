"""`fedgov agent run --once` against a real aggregator: a window with an undeclared
prediction value exits 3 with the file, column, value and count, and no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregator.server import RunningServer, create_server
from aggregator.store import SqliteStore
from fedgov.policy import default_bundle_path
from fedgov.synthetic import credit_data, write_table

pytestmark = pytest.mark.integration


@pytest.fixture
def aggregator(tmp_path: Path) -> Iterator[RunningServer]:
    running = create_server("127.0.0.1:0", SqliteStore(tmp_path / "agg.db"))
    yield running
    running.stop(grace=1.0)
    running.handler.store.close()


def test_agent_once_exits_3_on_an_undeclared_value(
    tmp_path: Path, spec_file: Path, aggregator: RunningServer
) -> None:
    (tmp_path / "in").mkdir()
    cols = credit_data(300, seed=6)
    approved = cols["approved"].astype(str).astype(object)
    approved[:4] = "yes"
    window = write_table(cols | {"approved": approved}, tmp_path / "in" / "w.csv")
    config = tmp_path / "silo.yaml"
    config.write_text(
        json.dumps(
            {
                "silo": {"id": "EU-DE", "jurisdiction": "EU-DE"},
                "aggregator": {"address": f"127.0.0.1:{aggregator.port}", "insecure": True},
                "policy": str(default_bundle_path()),
                "state_dir": str(tmp_path / "state"),
                "models": [{"spec": str(spec_file), "input": str(tmp_path / "in")}],
            }
        )
    )
    p = subprocess.run(
        [sys.executable, "-m", "fedgov", "agent", "run", "--config", str(config), "--once"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 3, p.stderr
    assert (
        f"fedgov: error: {window}: column 'approved': value 'yes' (4 rows) is not a declared "
        "prediction value; the spec declares 0, 1." in p.stderr
    )
    assert "Traceback" not in p.stderr + p.stdout
