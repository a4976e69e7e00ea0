"""Audit anchors at the aggregator: every silo head kept (both stores), contradictions
flagged, the aggregator's own head signed into checkpoints."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from support.reports import report_of
from support.servers import registered_handler
from support.stores import register_silos

from aggregator.anchors import Checkpoints
from aggregator.store import SqliteStore, Store
from fedgov.audit import AuditHead, AuditLog
from fedgov.checkpoints import CheckpointKey
from fedgov.errors import QueryError, ReportRejected
from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats


def _head(seq: int, c: str) -> AuditHead:
    return AuditHead(seq, c * 64)


def test_every_head_is_kept_append_only_on_each_store(
    store: Store, credit_spec: MonitoringSpec, stats: WindowStats
) -> None:
    register_silos(store, credit_spec, "EU-DE", "US-NY")
    r1 = report_of(credit_spec, stats, "r1", audit_head=_head(1, "a"))
    assert store.add_report(r1) is True
    # The same report resent later carries a newer head: kept though the report is not.
    assert store.add_report(dataclasses.replace(r1, audit_head=_head(3, "b"))) is False
    assert store.add_report(dataclasses.replace(r1, audit_head=_head(3, "b"))) is False  # same
    store.add_report(report_of(credit_spec, stats, "r2", window_end_ms=2))  # no head: none kept
    store.add_report(report_of(credit_spec, stats, "n1", silo="US-NY", audit_head=_head(0, "c")))
    # A rewritten log's head for record 1: kept beside the first, never over it.
    store.add_report(report_of(credit_spec, stats, "r3", window_end_ms=3, audit_head=_head(1, "d")))
    heads = store.audit_heads("EU-DE")
    assert [(h.seq, h.hash[0], h.report_id) for h in heads] == [
        (1, "a", "r1"),
        (1, "d", "r3"),
        (3, "b", "r1"),
    ]
    assert all(h.received_ms > 0 for h in heads)
    assert [h.hash[0] for h in store.conflicting_heads("EU-DE", 1, "d" * 64)] == ["a"]
    assert store.conflicting_heads("EU-DE", 3, "b" * 64) == []
    assert [h.report_id for h in store.audit_heads("US-NY")] == ["n1"]


def test_checkpoints_are_kept_once_per_key_and_record(store: Store) -> None:
    key = CheckpointKey.generate()
    first = key.sign(_head(4, "a"), 10)
    assert store.add_checkpoint(first) is None
    assert store.add_checkpoint(key.sign(_head(4, "b"), 20)) == first  # refused, first returned
    later = key.sign(_head(9, "c"), 30)
    assert store.add_checkpoint(later) is None
    other = CheckpointKey.generate().sign(_head(4, "e"), 40)  # another aggregator's key
    assert store.add_checkpoint(other) is None
    assert store.latest_checkpoint(key.key_id) == later
    assert store.checkpoints(key.key_id) == [first, later]
    assert len(store.checkpoints()) == 3
    assert all(cp.verifies(key.public) for cp in store.checkpoints(key.key_id))


def _audit_records(log: AuditLog, kind: str) -> list[dict]:
    lines = log.path.read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def test_a_head_that_contradicts_an_earlier_one_is_audited(
    tmp_path: Path, credit_spec: MonitoringSpec, stats: WindowStats
) -> None:
    log = AuditLog(tmp_path / "agg.audit.jsonl")
    handler = registered_handler(tmp_path / "agg.db", credit_spec, audit=log)
    try:
        handler.ingest(report_of(credit_spec, stats, "r1", audit_head=_head(2, "a")))
        handler.ingest(
            report_of(credit_spec, stats, "r2", window_end_ms=2, audit_head=_head(4, "b"))
        )
        assert _audit_records(log, "audit_head_conflict") == []
        handler.ingest(
            report_of(credit_spec, stats, "r3", window_end_ms=3, audit_head=_head(2, "c"))
        )
        (flag,) = _audit_records(log, "audit_head_conflict")
        assert (flag["silo"], flag["record"], flag["report_id"]) == ("EU-DE", 2, "r3")
        assert flag["anchored"] == [{"hash": "a" * 64, "report_id": "r1"}]
        assert len(handler.audit_heads("EU-DE")) == 3  # both heads of record 2 kept
        with pytest.raises(QueryError, match="name the silo"):
            handler.audit_heads("")
    finally:
        handler.store.close()


@pytest.mark.parametrize(
    "head, field", [(AuditHead(-1, "a" * 64), "seq"), (AuditHead(0, "A" * 64), "hash")]
)
def test_a_malformed_head_is_rejected_and_not_kept(
    tmp_path: Path, credit_spec: MonitoringSpec, stats: WindowStats, head: AuditHead, field: str
) -> None:
    handler = registered_handler(tmp_path / "agg.db", credit_spec)
    try:
        with pytest.raises(ReportRejected, match=f"report.audit_head.{field}"):
            handler.ingest(report_of(credit_spec, stats, "r1", audit_head=head))
        assert handler.store.audit_heads("EU-DE") == [] and handler.store.count_reports() == 0
    finally:
        handler.store.close()


def test_checkpoints_follow_the_log_at_most_once_per_interval(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "agg.db")
    log = AuditLog(tmp_path / "agg.audit.jsonl")
    key = CheckpointKey.generate()
    try:
        assert Checkpoints(store, None, key).current() is None  # no log, no checkpoint
        assert Checkpoints(store, log, None).current() is None  # no key, no checkpoint
        cps = Checkpoints(store, log, key, every_ms=0)
        assert cps.current() is None  # an empty log has no head to sign
        log.append("started")
        first = cps.current()
        assert first is not None and first.seq == 0 and first.verifies(key.public)
        assert cps.current() == first  # the log did not move: the same one
        log.append("report_accepted", report_id="r1")
        second = cps.current()
        assert second is not None and second.seq == 1 and second.head == log.head
        slow = Checkpoints(store, log, key, every_ms=3_600_000)  # restarted: reads the store
        assert slow.current() == second
        log.append("report_accepted", report_id="r2")
        assert slow.current() == second  # moved, but the last one is too recent
        assert store.checkpoints(key.key_id) == [first, second]
    finally:
        store.close()
