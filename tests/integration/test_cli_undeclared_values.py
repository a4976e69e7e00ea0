"""`fedgov agent run --once` against a real aggregator: a window with an undeclared
prediction value exits 3 with the file, column, value and count, and no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.agents import agent_config
from support.cli import run_fedgov

from aggregator.server import RunningServer
from fedgov.synthetic import credit_data, write_table

pytestmark = pytest.mark.integration


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
            agent_config(
                spec_file,
                tmp_path / "in",
                state_dir=tmp_path / "state",
                address=f"127.0.0.1:{aggregator.port}",
            )
        )
    )
    p = run_fedgov("agent", "run", "--config", str(config), "--once")
    assert p.returncode == 3, p.stderr
    assert (
        f"fedgov: error: {window}: column 'approved': value 'yes' (4 rows) is not a declared "
        "prediction value; the spec declares 0, 1." in p.stderr
    )
    assert "Traceback" not in p.stderr + p.stdout
