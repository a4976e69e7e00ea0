"""Four real agents take part in a secure round of the real aggregator (gRPC, mTLS,
port 0) the way a cron-style ``agent run --once`` does: report, drain the pending
commands, stay for the round. The released sum counts every row of the four silos."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from support.agents import silo_config
from support.pki import make_pki, mtls_aggregator

from agent.config import config_from_dict
from agent.service import Agent
from fedgov.report import now_ms
from fedgov.spec import MonitoringSpec
from fedgov.synthetic import credit_data, write_table
from fedgov.v1 import report_pb2
from fedgov.wire import stats_from_proto

pytestmark = [pytest.mark.integration]

SILOS = ("S01", "S02", "S03", "S04")


def test_four_once_agents_complete_a_round_with_the_exact_row_total(
    tmp_path: Path, spec_file: Path, credit_spec: MonitoringSpec
) -> None:
    pki = make_pki(tmp_path / "pki", {s: s for s in SILOS})
    with mtls_aggregator(tmp_path, pki) as running:
        address = f"127.0.0.1:{running.port}"
        agents: list[Agent] = []
        start = now_ms() - 1000
        try:
            for n, sid in enumerate(SILOS):
                tls = {"ca": str(pki / "ca.pem"), "cert": str(pki / f"{sid}.pem")}
                tls["key"] = str(pki / f"{sid}.key")
                doc = silo_config(tmp_path, sid, spec_file, address)
                doc["aggregator"] = {"address": address, "tls": tls}
                (tmp_path / sid / "in").mkdir(parents=True)
                write_table(credit_data(100 + 25 * n, seed=n), tmp_path / sid / "in" / "w.csv")
                agent = Agent(config_from_dict(doc, base=tmp_path))
                agents.append(agent)
                agent.register()
                assert len(agent.scan_once()) == 1
            time.sleep(0.01)
            end = now_ms()
            [opened] = running.handler.rounds.open(credit_spec.model_id, start, end)

            threads = [
                threading.Thread(target=a.drain_commands, kwargs={"wait_seconds": 60})
                for a in agents
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=90)

            for a in agents:
                assert a.secure_rounds.finished[opened.round_id] == ("completed", "")
            done = running.handler.store.get_round(opened.round_id)
            assert done is not None and done.status == "completed"
            [release] = running.handler.store.releases(credit_spec.model_id)
            msg = report_pb2.WindowStats()
            msg.ParseFromString(release.stats)
            assert stats_from_proto(msg).rows == sum(100 + 25 * n for n in range(4))
        finally:
            for a in agents:
                a.close()
