"""Each report links to the silo's previous one; gaps and reordering are flagged, not lost."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from aggregator.handler import AggregatorHandler, ModelRegistration
from aggregator.store import SqliteStore
from fedgov.audit import AuditLog
from fedgov.policy import Decision
from fedgov.report import Report, chain_hash
from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats, encode_columns
from fedgov.synthetic import credit_data


@pytest.fixture
def handler(tmp_path: Path, credit_spec: MonitoringSpec) -> AggregatorHandler:
    h = AggregatorHandler(SqliteStore(tmp_path / "a.db"), audit=AuditLog(tmp_path / "audit.jsonl"))
    h.register(
        "EU-DE",
        "EU-DE",
        "x",
        [
            ModelRegistration(
                credit_spec.model_id,
                credit_spec.model_version,
                credit_spec.digest,
                json.dumps(credit_spec.to_dict()),
            )
        ],
    )
    return h


def _chain(spec: MonitoringSpec, n: int) -> list[Report]:
    stats = WindowStats.zero(spec).fold(spec, encode_columns(spec, credit_data(300, seed=1)))
    out: list[Report] = []
    prev = ""
    for i in range(n):
        r = Report(
            report_id=f"r{i}",
            silo_id="EU-DE",
            jurisdiction="EU-DE",
            model_id=spec.model_id,
            model_version=spec.model_version,
            window_start_ms=i * 10,
            window_end_ms=i * 10 + 9,
            spec_digest=spec.digest,
            stats=stats,
            metrics={},
            decision=Decision(allow=True),
            input_digest=f"d{i}",
            prev_report_hash=prev,
        )
        prev = chain_hash(r)
        out.append(r)
    return out


def _breaks(tmp_path: Path) -> list[dict]:
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines if json.loads(x)["kind"] == "report_chain_break"]


def test_intact_chain_raises_no_flag(
    tmp_path: Path, handler: AggregatorHandler, credit_spec
) -> None:
    for r in _chain(credit_spec, 4):
        handler.ingest(r)
    handler.ingest(_chain(credit_spec, 4)[2])  # a replayed duplicate: stored once, no flag
    assert handler.store.count_reports() == 4 and _breaks(tmp_path) == []


def test_missing_report_is_flagged_and_kept(
    tmp_path: Path, handler: AggregatorHandler, credit_spec
) -> None:
    rs = _chain(credit_spec, 4)
    for r in (rs[0], rs[1], rs[3]):  # r2 never arrives
        handler.ingest(r)
    (flag,) = _breaks(tmp_path)
    assert flag["report_id"] == "r3" and "missing" in flag["problem"]
    assert handler.store.get_report("r3") is not None  # flagged, not lost


def test_reordered_report_is_flagged(
    tmp_path: Path, handler: AggregatorHandler, credit_spec
) -> None:
    rs = _chain(credit_spec, 3)
    for r in (rs[0], rs[2], rs[1]):
        handler.ingest(r)
    problems = [f["problem"] for f in _breaks(tmp_path)]
    assert any("missing" in p for p in problems) and any("out of order" in p for p in problems)


def test_a_reset_chain_is_flagged(tmp_path: Path, handler: AggregatorHandler, credit_spec) -> None:
    rs = _chain(credit_spec, 2)
    handler.ingest(rs[0])
    handler.ingest(dataclasses.replace(rs[1], prev_report_hash=""))
    assert "restarted" in _breaks(tmp_path)[0]["problem"]


def test_the_link_of_a_report_it_stored_is_not_read_back(
    tmp_path: Path, handler: AggregatorHandler, credit_spec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handler remembers the link of what it stored; the store only confirms the newest id."""
    rs = _chain(credit_spec, 3)
    handler.ingest(rs[0])

    def no_payload_read(*_: object) -> None:
        raise AssertionError("the stored report was read back")

    monkeypatch.setattr(handler.store, "latest_link", no_payload_read)
    handler.ingest(rs[1])
    handler.ingest(rs[2])
    assert _breaks(tmp_path) == []


def test_a_report_stored_by_another_aggregator_is_read(
    tmp_path: Path, handler: AggregatorHandler, credit_spec
) -> None:
    """Several aggregators may share a database: a newer report stored elsewhere is the link."""
    rs = _chain(credit_spec, 4)
    handler.ingest(rs[0])
    handler.store.add_report(rs[1])  # what another aggregator on the same database did
    handler.ingest(rs[2])  # links to r1, which this handler never saw
    assert _breaks(tmp_path) == []
    handler.store.add_report(rs[3])
    handler.ingest(dataclasses.replace(rs[3], report_id="r3b", input_digest="x"))  # links to r2
    (flag,) = _breaks(tmp_path)
    assert flag["report_id"] == "r3b" and "missing" in flag["problem"]
