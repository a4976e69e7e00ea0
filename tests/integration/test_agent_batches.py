"""An agent whose outbox holds several reports sends them on one SubmitReports stream,
stored in one transaction; a single report goes by SubmitReport."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.agents import agent_config
from support.ports import free_port
from support.stores import spy_batches

from agent.config import config_from_dict
from agent.service import Agent
from aggregator.server import create_server
from aggregator.store import SqliteStore
from fedgov.errors import TransportError
from fedgov.synthetic import credit_data, write_table
from fedgov.wire.retry import Backoff

pytestmark = pytest.mark.integration


def test_a_backlog_goes_on_one_stream_and_a_single_report_alone(
    tmp_path: Path, spec_file: Path
) -> None:
    address = f"127.0.0.1:{free_port()}"
    inbox = tmp_path / "in"
    inbox.mkdir()
    cfg = agent_config(spec_file, inbox, state_dir=tmp_path / "state", address=address)
    agent = Agent(config_from_dict(cfg, base=tmp_path), backoff=Backoff(0.05, 0.1, max_elapsed=0.3))
    try:
        for n in range(3):
            write_table(credit_data(300, seed=n), inbox / f"w{n}.parquet")
        with pytest.raises(TransportError):  # the aggregator is not up yet: all wait
            agent.scan_once()
        backlog = [r.report_id for r in agent.outbox.pending()]
        assert len(backlog) == 3
        running = create_server(address, SqliteStore(tmp_path / "agg.db"))
        try:
            calls = spy_batches(running.handler.store)
            agent.register()
            assert agent.flush_outbox() == 3 and len(agent.outbox) == 0
            assert calls == [backlog]  # one stream, one transaction
            write_table(credit_data(300, seed=9), inbox / "w9.parquet")
            (one,) = agent.scan_once()
            assert calls[1:] == [[one.report_id]] and len(agent.outbox) == 0
            assert running.handler.store.count_reports() == 4
            sent = [r for r in agent.audit.path.read_text().splitlines() if "report_sent" in r]
            assert len(sent) == 4
        finally:
            running.stop(grace=1.0)
            running.handler.store.close()
    finally:
        agent.close()
