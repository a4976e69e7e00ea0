"""Replicas in this process on one PostgreSQL store (mTLS, port 0): a command stored by
one replica reaches a silo's stream on another through NOTIFY, or through the store
poll when the LISTEN connection went silent; a replica that claimed a secure round's
sum and died is taken over."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from support.pki import make_pki, tls_files
from support.proxy import CutProxy
from support.replicas import audit_records, mtls_agent, replica_server, wait_for
from support.servers import register

from agent.client import AggregatorClient, Command
from aggregator.partition import RoundSettings
from aggregator.server import RunningServer
from fedgov.report import now_ms
from fedgov.spec import MonitoringSpec
from fedgov.synthetic import credit_data, write_table

pytestmark = [pytest.mark.integration]

SILO = "EU-DE"


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    """A trial PKI with one silo, SILO."""
    return make_pki(tmp_path / "pki", {SILO: SILO})


@contextmanager
def _stream(pki: Path, server: RunningServer) -> Iterator[list[Command]]:
    """The silo's command stream on ``server``, read into a list by a thread."""
    client = AggregatorClient(f"127.0.0.1:{server.port}", tls=tls_files(pki, SILO))
    got: list[Command] = []

    def read() -> None:
        try:
            got.extend(client.commands(SILO))
        except Exception:  # noqa: BLE001 - cancelled at the end
            pass

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    wait_for("the stream to open", lambda: server.handler.hub.open_streams() == 1)
    try:
        yield got
    finally:
        client.cancel_stream()
        reader.join(timeout=5)
        client.close()


def test_a_command_stored_by_one_replica_wakes_the_stream_on_another_through_notify(
    tmp_path: Path, postgres_url: str, credit_spec: MonitoringSpec, pki: Path
) -> None:
    # B reads the store for commands only every 10 minutes: only NOTIFY can be in time.
    with (
        replica_server(postgres_url, pki, tmp_path, "A") as a,
        replica_server(postgres_url, pki, tmp_path, "B", command_poll_s=600) as b,
    ):
        register(b.handler, credit_spec, [SILO])
        assert b.listener is not None
        wait_for("B's listener", b.listener.connected.is_set)
        with _stream(pki, b) as got:
            job = a.handler.jobs.trigger(credit_spec.model_id, credit_spec.model_version, "t")
            assert job is not None
            wait_for("the command on B's stream", lambda: len(got) == 1, timeout=10)
        assert got[0].job_id == job.job_id


def test_a_command_stored_while_the_listen_connection_is_silent_comes_with_the_poll(
    tmp_path: Path, postgres_url: str, credit_spec: MonitoringSpec, pki: Path
) -> None:
    host_port = postgres_url.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    proxy = CutProxy((host, int(port)))
    listen_url = postgres_url.replace(f"@{host_port}/", f"@127.0.0.1:{proxy.port}/")
    try:
        with (
            replica_server(postgres_url, pki, tmp_path, "A") as a,
            replica_server(
                postgres_url, pki, tmp_path, "B", command_poll_s=1.0, listen_url=listen_url
            ) as b,
        ):
            register(b.handler, credit_spec, [SILO])
            assert b.listener is not None
            wait_for("B's listener", b.listener.connected.is_set)
            with _stream(pki, b) as got:
                proxy.cut()  # B's LISTEN connection hears nothing from now on, and says so not
                job = a.handler.jobs.trigger(credit_spec.model_id, credit_spec.model_version, "t")
                assert job is not None
                wait_for("the command on B's stream", lambda: len(got) == 1, timeout=15)
            assert b.listener.connected.is_set()  # B never learnt that it missed the NOTIFY
            assert got[0].job_id == job.job_id
    finally:
        proxy.close()


def test_a_round_whose_sum_was_claimed_by_a_replica_that_died_is_taken_over(
    tmp_path: Path, postgres_url: str, spec_file: Path, credit_spec: MonitoringSpec
) -> None:
    silos = ("S01", "S02", "S03")
    pki = make_pki(tmp_path / "pki", {s: s for s in silos})
    settings = RoundSettings(min_cohort=3, stage_ms=4_000)
    with (
        replica_server(postgres_url, pki, tmp_path, "A", command_poll_s=1.0) as a,
        replica_server(postgres_url, pki, tmp_path, "B", command_poll_s=1.0) as b,
    ):
        claimed = threading.Event()
        a.handler.rounds._form = lambda rec, deadline: claimed.set()  # type: ignore[method-assign]
        a.handler.rounds.settings = b.handler.rounds.settings = settings
        target = f"ipv4:127.0.0.1:{a.port},127.0.0.1:{b.port}"  # every silo prefers A
        agents = []
        start = now_ms() - 1000
        for n, sid in enumerate(silos):
            agents.append(mtls_agent(tmp_path, pki, spec_file, sid, {"address": target}))
            write_table(credit_data(150, seed=n), tmp_path / sid / "in" / "w.csv")
        try:
            for x in agents:
                x.register()
                assert len(x.scan_once()) == 1
            time.sleep(0.01)
            [opened] = b.handler.rounds.open(credit_spec.model_id, start, now_ms())
            threads = [
                threading.Thread(target=x.drain_commands, kwargs={"wait_seconds": 60})
                for x in agents
            ]
            for t in threads:
                t.start()
            wait_for("A to claim the sum", claimed.is_set)
            a.stop(grace=0)  # A dies holding the claim, the sum not formed
            for t in threads:
                t.join(timeout=90)
            for x in agents:
                assert x.secure_rounds.finished[opened.round_id] == ("completed", "")
        finally:
            for x in agents:
                x.close()
        done = b.handler.store.get_round(opened.round_id)
        assert done is not None and done.status == "completed"
        assert len(b.handler.store.releases(credit_spec.model_id)) == 1
        kinds = {r["kind"] for r in audit_records(tmp_path / "B.audit.jsonl")}
        assert {"round_taken_over", "round_completed"} <= kinds


def test_two_replicas_racing_on_one_gate_open_one_job(
    tmp_path: Path, postgres_url: str, credit_spec: MonitoringSpec, pki: Path
) -> None:
    with (
        replica_server(postgres_url, pki, tmp_path, "A") as a,
        replica_server(postgres_url, pki, tmp_path, "B") as b,
    ):
        register(a.handler, credit_spec, [SILO, "US-NY"])
        triggers = [r.handler.jobs for r in (a, b) for _ in range(6)]
        go = threading.Barrier(len(triggers))

        def race(i: int) -> str | None:
            go.wait(timeout=10)
            job = triggers[i].trigger(credit_spec.model_id, credit_spec.model_version, f"gate {i}")
            return None if job is None else job.job_id

        results: list[str | None] = [None] * len(triggers)
        threads = [
            threading.Thread(target=lambda i=i: results.__setitem__(i, race(i)))
            for i in range(len(triggers))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        [job] = a.handler.store.list_jobs(credit_spec.model_id)
        assert results == [job.job_id] * len(triggers)
        assert sorted(c.silo_id for c in job.commands) == [SILO, "US-NY"]  # one each
        events = [
            r["kind"] for name in "AB" for r in audit_records(tmp_path / f"{name}.audit.jsonl")
        ]
        assert events.count("job_opened") == 1
        assert events.count("job_trigger_attached") == len(triggers) - 1
