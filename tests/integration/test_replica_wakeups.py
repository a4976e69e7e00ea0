"""Replicas in this process on one PostgreSQL store (mTLS, port 0): a command stored by
one replica reaches a silo's stream on another through NOTIFY, or through the store
poll when the LISTEN connection went silent; a replica that claimed a secure round's
sum and died is taken over."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from support.pki import make_pki, tls_files
from support.proxy import CutProxy
from support.replicas import replica_server
from support.servers import register

from agent.client import AggregatorClient, Command
from aggregator.server import RunningServer
from fedgov.spec import MonitoringSpec

pytestmark = [pytest.mark.integration]

SILO = "EU-DE"


def wait_for(what: str, ok: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


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
    tmp_path: Path, postgres_url: str, credit_spec: MonitoringSpec
) -> None:
    pki = make_pki(tmp_path / "pki", {SILO: SILO})
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
    tmp_path: Path, postgres_url: str, credit_spec: MonitoringSpec
) -> None:
    pki = make_pki(tmp_path / "pki", {SILO: SILO})
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
