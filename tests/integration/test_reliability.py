"""Nothing lost, nothing doubled: aggregator restarts and agents killed mid-send."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support.agents import agent_config, silo_config
from support.ports import free_port

from agent.config import config_from_dict
from agent.service import Agent
from aggregator.server import create_server
from aggregator.store import SqliteStore
from fedgov.errors import TransportError
from fedgov.synthetic import credit_data, write_table
from fedgov.wire.retry import Backoff

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_aggregator_restart_while_20_agents_report(tmp_path: Path, spec_file: Path) -> None:
    port = free_port()
    address = f"127.0.0.1:{port}"
    db = tmp_path / "agg.db"
    running = create_server(address, SqliteStore(db))
    agents = []
    for i in range(20):
        silo = f"S{i:02d}"
        (tmp_path / silo / "in").mkdir(parents=True)
        cfg = config_from_dict(
            silo_config(tmp_path, silo, spec_file, address, jurisdiction=f"EU-{silo}"),
            base=tmp_path,
        )
        agents.append(Agent(cfg, backoff=Backoff(initial=0.05, maximum=0.3, max_elapsed=0.5)))
    for a in agents:
        a.register()

    produced: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def loop(agent: Agent, idx: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            data = credit_data(120, seed=idx * 1000 + n)
            write_table(data, agent.models[0].input / f"w{n:04d}.parquet")
            try:
                made = agent.scan_once(strict=False)
            except TransportError:
                made = []  # the aggregator is down: reports wait in the outbox
                made_ids = [r.report_id for r in agent.outbox.pending()]
                with lock:
                    produced.update(made_ids)
            with lock:
                produced.update(r.report_id for r in made)
            time.sleep(0.02)

    threads = [threading.Thread(target=loop, args=(a, i)) for i, a in enumerate(agents)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    running.stop(grace=2.0)  # graceful: in-flight calls finish, then the port closes
    running.handler.store.close()
    time.sleep(2.0)
    running = create_server(address, SqliteStore(db))
    time.sleep(2.0)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    try:
        for a in agents:  # deliver whatever is still waiting
            a.flush_outbox()
            assert len(a.outbox) == 0
        store = running.handler.store
        assert store.count_reports() == len(produced) > 40
        for rid in produced:
            assert store.get_report(rid) is not None
    finally:
        for a in agents:
            a.close()
        running.stop(grace=1.0)
        running.handler.store.close()


def test_kill_9_agent_mid_send_then_restart(tmp_path: Path, spec_file: Path) -> None:
    running = create_server("127.0.0.1:0", SqliteStore(tmp_path / "agg.db"))
    windows = 40
    inbox = tmp_path / "in"
    for n in range(windows):
        write_table(credit_data(400, seed=n), inbox / f"w{n:04d}.parquet")
    cfg = agent_config(
        spec_file,
        inbox,
        state_dir=tmp_path / "state",
        address=f"127.0.0.1:{running.port}",
        poll_seconds=0.1,
    )
    config = tmp_path / "silo.yaml"
    config.write_text(json.dumps(cfg))
    cmd = [sys.executable, "-m", "fedgov", "agent", "run", "--config", str(config)]
    store = running.handler.store
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while store.count_reports() < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)  # mid-run: some windows sent, one maybe in flight
        proc.wait(timeout=10)
        proc.stderr.close()  # type: ignore[union-attr]
        killed_at = store.count_reports()
        assert 5 <= killed_at < windows
        done = subprocess.run([*cmd, "--once"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert store.count_reports() == windows  # nothing lost, nothing doubled
        from agent.state import AgentState

        state = AgentState(tmp_path / "state")
        assert len(state.outbox) == 0
        state.close()
    finally:
        running.stop(grace=1.0)
        store.close()
