"""Two aggregator replicas on one PostgreSQL store, as real processes under mTLS, with
real agents: one replica is killed hard (SIGKILL) while the agents report, or in the
middle of a secure round. Nothing is lost or doubled, commands reach silos whose stream
was on the dead replica, and the round completes on the other replica.

Every wait is on a condition in the store, with a timeout (:func:`wait_for`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from support.pki import make_pki
from support.replicas import audit_records, mtls_agent, replica_processes, wait_for

from agent.service import Agent
from aggregator.handler import AggregatorHandler
from aggregator.partition import RoundSettings
from aggregator.store import PostgresStore
from fedgov.audit import verify_chain
from fedgov.report import now_ms
from fedgov.spec import MonitoringSpec
from fedgov.synthetic import credit_data, write_table
from fedgov.v1 import report_pb2
from fedgov.wire import stats_from_proto

pytestmark = [pytest.mark.integration]

FAST = {"poll_seconds": 0.2}  # agents scan their input folders this often


def _windows(root: Path, silo: str, numbers: range) -> None:
    for n in numbers:
        data = credit_data(120, seed=1000 * int(silo[1:]) + n)
        write_table(data, root / silo / "in" / f"w{n:02d}.csv")


@contextmanager
def _running(agents: list[Agent]) -> Iterator[None]:
    """Each agent's main loop (register, command stream, scan) in a thread of its own."""
    threads = [threading.Thread(target=a.run, daemon=True) for a in agents]
    for t in threads:
        t.start()
    try:
        yield
    finally:
        for a in agents:
            a.stop()
        for t in threads:
            t.join(timeout=20)
        for a in agents:
            a.close()


def test_a_replica_killed_while_twenty_agents_report_loses_and_doubles_nothing(
    tmp_path: Path, postgres_url: str, spec_file: Path, credit_spec: MonitoringSpec
) -> None:
    silos = [f"S{n:02d}" for n in range(20)]
    pki = make_pki(tmp_path / "pki", {s: s for s in silos})
    store = PostgresStore(postgres_url)
    with replica_processes(("A", "B"), postgres_url, pki, tmp_path, "--command-poll", "1s") as (
        a,
        b,
    ):
        agents = []
        for s in silos:
            _windows(tmp_path, s, range(2))
            agents.append(
                mtls_agent(
                    tmp_path, pki, spec_file, s, {"addresses": [a.address, b.address]}, **FAST
                )
            )
        # Each silo prefers one replica (the list is ordered by its silo id): some prefer A.
        on_a = {x.config.silo_id for x in agents if f":{a.port}," in x.config.aggregator_address}
        assert 0 < len(on_a) < len(silos)
        with _running(agents):
            wait_for("10 reports", lambda: store.count_reports() >= 10)
            a.kill()  # mid-stream: reports in flight, command streams cut
            for s in silos:
                _windows(tmp_path, s, range(2, 4))
            job, _ = store.open_job(
                credit_spec.model_id, credit_spec.model_version, "test: after the kill", silos
            )
            wait_for("80 reports", lambda: store.count_reports() >= 80, timeout=90)

            def acked() -> bool:
                got = store.get_job(job.job_id)
                return got is not None and all(c.status != "pending" for c in got.commands)

            wait_for("every command acknowledged", acked, timeout=60)
            # Stored, then acknowledged: each agent drops its copy once it reads the ack.
            wait_for("empty outboxes", lambda: all(len(x.outbox) == 0 for x in agents))
        assert store.count_reports() == 80  # nothing lost, nothing doubled
        reports = store.reports_for_model(credit_spec.model_id, None, latest_only=False)
        per_silo = {s: sum(r.silo_id == s for r in reports) for s in silos}
        assert per_silo == dict.fromkeys(silos, 4)
        done = store.get_job(job.job_id)
        assert done is not None
        assert {c.silo_id: c.status for c in done.commands} == dict.fromkeys(silos, "accepted")
        # Silos whose stream was on A got their command through B.
        assert on_a <= {x.config.silo_id for x in agents if x.received}
        assert verify_chain(b.audit).ok
    store.close()


def test_a_replica_killed_in_the_middle_of_a_secure_round_the_other_completes_it(
    tmp_path: Path, postgres_url: str, spec_file: Path, credit_spec: MonitoringSpec
) -> None:
    silos = ("S01", "S02", "S03", "S04")
    pki = make_pki(tmp_path / "pki", {s: s for s in silos})
    store = PostgresStore(postgres_url)
    with replica_processes(("A", "B"), postgres_url, pki, tmp_path, "--command-poll", "1s") as (
        a,
        b,
    ):
        # Every silo prefers A (the first address), so killing A moves them all.
        target = {"address": f"ipv4:{a.address},{b.address}", "retry_seconds": 60}
        agents = [mtls_agent(tmp_path, pki, spec_file, s, target, **FAST) for s in silos]
        start = now_ms() - 1000
        for n, agent in enumerate(agents):
            _windows(tmp_path, agent.config.silo_id, range(n, n + 1))
            agent.register()
            assert len(agent.scan_once()) == 1
        time.sleep(0.01)  # the period ends after the windows' ends (a clock tick)
        opener = AggregatorHandler(store)
        opener.rounds.settings = RoundSettings(min_cohort=3, stage_ms=60_000)
        [opened] = opener.rounds.open(credit_spec.model_id, start, now_ms())
        rid = opened.round_id

        def drain(agent: Agent) -> threading.Thread:
            t = threading.Thread(target=agent.drain_commands, kwargs={"wait_seconds": 90})
            t.start()
            return t

        try:
            threads = [drain(x) for x in agents[:3]]
            # Three of four silos have spoken in stage 1 (on A); the stage waits for the fourth.
            wait_for("three stage-1 messages", lambda: len(store.round_senders(rid, 1)) == 3)
            a.kill()
            threads.append(drain(agents[3]))  # the fourth comes after A is gone: to B
            for t in threads:
                t.join(timeout=120)
            for x in agents:
                assert x.secure_rounds.finished[rid] == ("completed", "")
        finally:
            for x in agents:
                x.close()
        done = store.get_round(rid)
        assert done is not None and (done.status, done.stage) == ("completed", 5)
        assert done.survivors == silos
        [release] = store.releases(credit_spec.model_id)
        msg = report_pb2.WindowStats()
        msg.ParseFromString(release.stats)
        assert stats_from_proto(msg).rows == 4 * 120  # every row of the four silos, once
        completed = [r for r in audit_records(b.audit) if r["kind"] == "round_completed"]
        assert [r["round_id"] for r in completed] == [rid]  # B formed and audited the sum
    store.close()
