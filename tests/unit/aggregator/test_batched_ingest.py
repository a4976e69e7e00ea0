"""Batched ingest (``SubmitReports``) on a real server: idempotent, one transaction per
batch, a bad or spoofed report refused alone, audited and checkpointed as unary ingest
is, on both stores; the agent's outbox goes on the stream, and falls back to
``SubmitReport`` against an aggregator without it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from support.pki import audit_records, make_pki, mtls_aggregator, tls_files
from support.reports import psi_half, report_ending
from support.servers import register
from support.specs import stats_of
from support.stores import spy_batches

from agent.client import Ack, AggregatorClient
from aggregator.server import RunningServer, create_server
from aggregator.store import create_store
from fedgov.audit import AuditHead, AuditLog
from fedgov.checkpoints import CheckpointKey
from fedgov.errors import NotRegistered, ReportRejected
from fedgov.report import Report, chain_hash
from fedgov.spec import MonitoringSpec
from fedgov.synthetic import credit_data
from fedgov.v1 import aggregator_pb2 as pb
from fedgov.v1 import aggregator_pb2_grpc
from fedgov.wire.retry import Backoff

pytestmark = pytest.mark.integration

FAST = Backoff(initial=0.05, maximum=0.1, max_elapsed=0.5)


def _chain(spec: MonitoringSpec, silo: str, n: int, *, first: int = 1) -> list[Report]:
    """``n`` reports of ``silo``, each linked to the one before, as an agent sends them."""
    stats = stats_of(spec, credit_data(200, seed=3))
    out: list[Report] = []
    prev = ""
    for i in range(first, first + n):
        r = report_ending(
            spec,
            stats,
            f"{silo}-r{i}",
            silo,
            1000 * i,
            metrics=psi_half(),
            prev_report_hash=prev,
            audit_head=AuditHead(i, hashlib.sha256(f"{silo}{i}".encode()).hexdigest()),
        )
        prev = chain_hash(r)
        out.append(r)
    return out


@contextmanager
def _aggregator(
    tmp_path: Path, url: str, spec: MonitoringSpec, name: str = "agg"
) -> Iterator[RunningServer]:
    """An insecure aggregator on ``url``'s store with an audit log and a checkpoint key."""
    running = create_server(
        "127.0.0.1:0",
        create_store(url),
        audit=AuditLog(tmp_path / f"{name}.audit.jsonl"),
        checkpoint_key=CheckpointKey.generate(),
    )
    running.servicer.batch_linger_s = 5.0  # type: ignore[union-attr]  # the batch is sent whole
    register(running.handler, spec, ["EU-DE"])
    try:
        yield running
    finally:
        running.stop(grace=1.0)
        running.handler.store.close()


def _client(running: RunningServer, **kw: Any) -> AggregatorClient:
    return AggregatorClient(f"127.0.0.1:{running.port}", backoff=FAST, **kw)


def _records(path: Path) -> list[dict[str, Any]]:
    """The audit records without what differs from run to run (time, hashes)."""
    drop = {"ts_ms", "hash", "prev", "seq"}
    return [
        {k: v for k, v in json.loads(line).items() if k not in drop}
        for line in path.read_text().splitlines()
    ]


def test_a_resent_batch_is_stored_once_in_one_transaction(
    tmp_path: Path, store_url: str, credit_spec: MonitoringSpec
) -> None:
    reports = _chain(credit_spec, "EU-DE", 5)
    with _aggregator(tmp_path, store_url, credit_spec) as running:
        store = running.handler.store
        batches = spy_batches(store)
        client = _client(running)
        try:
            first = client.submit_many(reports)
            again = client.submit_many(reports)  # the acks were lost, say: sent again whole
        finally:
            client.close()
        assert all(isinstance(a, Ack) for a in first + again)
        assert [a.duplicate for a in first] == [False] * 5  # type: ignore[union-attr]
        assert [a.duplicate for a in again] == [True] * 5  # type: ignore[union-attr]
        ids = [r.report_id for r in reports]
        assert batches == [ids, ids]  # each batch in one store call, one transaction
        assert store.count_reports() == 5
        assert (
            store.latest_report_id("EU-DE", credit_spec.model_id, credit_spec.model_version)
            == (ids[-1])
        )
        assert len(store.drift_above(0.2)) == 5  # drift rows not doubled either
        assert [h.report_id for h in store.audit_heads("EU-DE")] == ids  # kept once each
    kinds = [r["kind"] for r in _records(tmp_path / "agg.audit.jsonl")]
    assert kinds.count("report_accepted") == 5 and kinds.count("report_duplicate") == 5
    assert "report_chain_break" not in kinds  # each linked to the one before it in the batch


def test_batches_are_stored_on_the_ingest_lane(
    tmp_path: Path, store_url: str, credit_spec: MonitoringSpec
) -> None:
    """A stream's batches run on the lane of two threads, not on the pool of unary calls
    (whose many threads would only hand the GIL over more often)."""
    reports = _chain(credit_spec, "EU-DE", 6)
    with _aggregator(tmp_path, store_url, credit_spec) as running:
        store = running.handler.store
        threads: list[str] = []
        real = store.add_reports

        def add_reports(batch: Any) -> list[bool]:
            threads.append(threading.current_thread().name)
            return real(batch)

        store.add_reports = add_reports  # type: ignore[method-assign]
        client = _client(running)
        try:
            assert all(isinstance(a, Ack) for a in client.submit_many(reports[:3]))
            assert isinstance(client.submit(reports[3]), Ack)  # the unary call: the pool
            assert all(isinstance(a, Ack) for a in client.submit_many(reports[4:]))
        finally:
            client.close()
    lane = [t for t in threads if t.startswith("fedgov-ingest")]
    assert len(lane) == 2 and len(threads) == 3, threads
    assert threads[1].startswith("fedgov-agg")


def test_a_bad_report_mid_batch_is_refused_alone(
    tmp_path: Path, store_url: str, credit_spec: MonitoringSpec
) -> None:
    good = _chain(credit_spec, "EU-DE", 4)
    unregistered = dataclasses.replace(good[1], report_id="bad-version", model_version="9")
    misfit = dataclasses.replace(
        good[2], report_id="bad-stats", stats=dataclasses.replace(good[2].stats, rows=-1)
    )
    batch = [good[0], unregistered, good[1], misfit, good[2], good[3]]
    with _aggregator(tmp_path, store_url, credit_spec) as running:
        client = _client(running)
        try:
            outcomes = client.submit_many(batch)
        finally:
            client.close()
        store = running.handler.store
        assert isinstance(outcomes[1], NotRegistered)
        assert "version 9 is not registered" in str(outcomes[1])
        assert isinstance(outcomes[3], ReportRejected)
        assert [type(o) for i, o in enumerate(outcomes) if i not in (1, 3)] == [Ack] * 4
        assert store.count_reports() == 4
        assert store.get_report("bad-version") is None and store.get_report("bad-stats") is None
    rejected = [r for r in _records(tmp_path / "agg.audit.jsonl") if r["kind"] == "report_rejected"]
    assert [r["report_id"] for r in rejected] == ["bad-version", "bad-stats"]


def test_audit_records_and_checkpoints_of_a_batch_match_unary_ingest(
    tmp_path: Path, store_url: str, credit_spec: MonitoringSpec
) -> None:
    reports = _chain(credit_spec, "EU-DE", 4)
    # A report out of the chain, a refused one and a duplicate among them.
    broken = dataclasses.replace(reports[3], prev_report_hash="sha256:nothing")
    refused = dataclasses.replace(reports[1], report_id="refused", jurisdiction="US-NY")
    misfit = dataclasses.replace(
        reports[2], report_id="misfit", stats=dataclasses.replace(reports[2].stats, rows=-1)
    )
    sent = [reports[0], refused, reports[1], reports[0], misfit, reports[2], broken]
    acks: dict[str, list[Any]] = {}
    for how in ("unary", "batch"):
        with _aggregator(
            tmp_path, store_url if how == "batch" else str(tmp_path / "u.db"), credit_spec, how
        ) as running:
            key = running.handler.checkpoints.key
            running.handler.checkpoints.every_ms = 0  # a new checkpoint whenever the log moved
            client = _client(running)
            try:
                if how == "unary":
                    acks[how] = [_unary(client, r) for r in sent]
                else:
                    acks[how] = client.submit_many(sent)
            finally:
                client.close()
            checkpoint = acks[how][-1].checkpoint
            assert key is not None and checkpoint.verifies(key.public)
            last = AuditLog(tmp_path / f"{how}.audit.jsonl").position()
            assert checkpoint.audit_head == last  # covers every record of the reports
    assert _records(tmp_path / "batch.audit.jsonl") == _records(tmp_path / "unary.audit.jsonl")
    shape = [
        type(a).__name__ + ("/dup" if getattr(a, "duplicate", False) else "") for a in acks["unary"]
    ]
    assert [
        type(a).__name__ + ("/dup" if getattr(a, "duplicate", False) else "") for a in acks["batch"]
    ] == shape
    assert shape == ["Ack", "ReportRejected", "Ack", "Ack/dup", "ReportRejected", "Ack", "Ack"]
    checkpoints = {a.checkpoint for a in acks["batch"] if isinstance(a, Ack)}
    assert len(checkpoints) == 1  # one batch: one checkpoint, signed after all its records


def _unary(client: AggregatorClient, report: Report) -> Ack | Exception:
    try:
        return client.submit(report)
    except ReportRejected as exc:
        return exc


def test_a_spoofed_silo_mid_batch_is_refused_alone_and_audited(
    tmp_path: Path, credit_spec: MonitoringSpec
) -> None:
    pki = make_pki(tmp_path / "pki")
    own = _chain(credit_spec, "EU-DE", 3)
    spoofed = _chain(credit_spec, "US-NY", 1)[0]
    silos = {"EU-DE": "EU-DE", "US-NY": "US-NY"}
    with mtls_aggregator(tmp_path, pki, credit_spec, silos) as running:
        running.servicer.batch_linger_s = 5.0  # type: ignore[union-attr]
        client = _client(running, tls=tls_files(pki, "EU-DE"))
        try:
            outcomes = client.submit_many([own[0], spoofed, own[1], own[2]])
        finally:
            client.close()
        assert isinstance(outcomes[1], ReportRejected)
        assert "permission denied" in str(outcomes[1]) and "not silo 'US-NY'" in str(outcomes[1])
        assert [isinstance(o, Ack) for o in outcomes] == [True, False, True, True]
        store = running.handler.store
        assert store.get_report(spoofed.report_id) is None and store.count_reports() == 3
    denied = audit_records(tmp_path, "identity_denied")
    assert len(denied) == 1 and denied[0]["claimed"] == "silo 'US-NY'"
    assert "EU-DE" in denied[0]["peer"]


def test_an_operator_may_not_open_the_stream(tmp_path: Path, credit_spec: MonitoringSpec) -> None:
    pki = make_pki(tmp_path / "pki")
    with mtls_aggregator(tmp_path, pki, credit_spec, {"EU-DE": "EU-DE"}) as running:
        client = _client(running, tls=tls_files(pki, "operator"))
        try:
            with pytest.raises(ReportRejected, match="permission denied.*role silo"):
                client.submit_many(_chain(credit_spec, "EU-DE", 2))
        finally:
            client.close()
        assert running.handler.store.count_reports() == 0


class _OlderAggregator(aggregator_pb2_grpc.AggregatorServicer):
    """An aggregator from before SubmitReports: SubmitReport only (the generated base
    answers UNIMPLEMENTED to everything else)."""

    def __init__(self) -> None:
        self.received: list[str] = []

    def SubmitReport(self, request: pb.SubmitReportRequest, context: Any) -> pb.ReportAck:
        self.received.append(request.report.report_id)
        return pb.ReportAck(report_id=request.report.report_id)


def test_the_client_falls_back_to_one_call_per_report(credit_spec: MonitoringSpec) -> None:
    older = _OlderAggregator()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    aggregator_pb2_grpc.add_AggregatorServicer_to_server(older, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    client = AggregatorClient(f"127.0.0.1:{port}", backoff=FAST)
    try:
        reports = _chain(credit_spec, "EU-DE", 3)
        outcomes = client.submit_many(reports)
        assert [type(o) for o in outcomes] == [Ack] * 3
        assert older.received == [r.report_id for r in reports]
        assert client.batches is False  # from now on, without asking again
    finally:
        client.close()
        server.stop(None)
