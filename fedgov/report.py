"""The domain form of a silo's report: what the agent sends and the aggregator stores.

It holds aggregate statistics, metrics derived from them, and the local
policy decision; never a row-level value. The wire form lives in
:mod:`fedgov.wire`.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from fedgov.audit import AuditHead
from fedgov.decision import Decision
from fedgov.stats import WindowStats

__all__ = ["Chained", "Report", "ReportLink", "chain_hash", "new_report_id", "now_ms"]


def now_ms() -> int:
    return int(time.time() * 1000)


def new_report_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Report:
    report_id: str
    silo_id: str
    jurisdiction: str
    model_id: str
    model_version: str
    window_start_ms: int
    window_end_ms: int
    spec_digest: str
    stats: WindowStats
    metrics: dict[str, Any]
    decision: Decision
    input_digest: str = ""
    created_ms: int = field(default_factory=now_ms)
    prev_report_hash: str = ""  # chain_hash of the silo's previous report of this version
    # The head of the silo's audit log when the report was sent (set at send time, so
    # not part of the chain hash); the aggregator keeps every head it receives.
    audit_head: AuditHead | None = None
    # The serialized fedgov.v1.Report this value was decoded from, kept by
    # fedgov.wire (report_from_proto) so that storing a received report needs no re-encoding.
    # Not part of the value: equality ignores it and dataclasses.replace drops it.
    _wire: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "report_id": self.report_id,
            "silo_id": self.silo_id,
            "jurisdiction": self.jurisdiction,
            "model_id": self.model_id,
            "model_version": self.model_version,
            "window_start_ms": self.window_start_ms,
            "window_end_ms": self.window_end_ms,
            "spec_digest": self.spec_digest,
            "stats": self.stats.to_dict(),
            "metrics": self.metrics,
            "decision": self.decision.to_dict(),
            "input_digest": self.input_digest,
            "created_ms": self.created_ms,
            "prev_report_hash": self.prev_report_hash,
        } | (
            {}
            if self.audit_head is None
            else {"audit_head": {"seq": self.audit_head.seq, "hash": self.audit_head.hash}}
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Report:
        return cls(
            report_id=d["report_id"],
            silo_id=d["silo_id"],
            jurisdiction=d["jurisdiction"],
            model_id=d["model_id"],
            model_version=d["model_version"],
            window_start_ms=int(d["window_start_ms"]),
            window_end_ms=int(d["window_end_ms"]),
            spec_digest=d["spec_digest"],
            stats=WindowStats.from_dict(d["stats"]),
            metrics=d["metrics"],
            decision=Decision.from_dict(d["decision"]),
            input_digest=d.get("input_digest", ""),
            created_ms=int(d.get("created_ms", 0)),
            prev_report_hash=str(d.get("prev_report_hash", "")),
            audit_head=(
                AuditHead(int(d["audit_head"]["seq"]), str(d["audit_head"]["hash"]))
                if d.get("audit_head")
                else None
            ),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, allow_nan=False)


class Chained(Protocol):
    """The fields a report's chain hash covers (a Report, or a header read off its bytes)."""

    @property
    def report_id(self) -> str: ...
    @property
    def silo_id(self) -> str: ...
    @property
    def model_id(self) -> str: ...
    @property
    def model_version(self) -> str: ...
    @property
    def spec_digest(self) -> str: ...
    @property
    def input_digest(self) -> str: ...
    @property
    def window_start_ms(self) -> int: ...
    @property
    def window_end_ms(self) -> int: ...
    @property
    def prev_report_hash(self) -> str: ...


@dataclass(frozen=True)
class ReportLink:
    """A stored report as the chain check of the silo's next one sees it.

    The aggregator reads this off the stored bytes without decoding the
    statistics (see ``fedgov.wire.report_link_from_bytes``).
    """

    report_id: str
    window_end_ms: int
    hash: str  # chain_hash of the report: what the next one must carry

    @classmethod
    def of(cls, report: Chained) -> ReportLink:
        return cls(report.report_id, report.window_end_ms, chain_hash(report))


def chain_hash(report: Chained) -> str:
    """The link a silo's next report carries: its identity, inputs and predecessor."""
    import hashlib

    key = "\x1f".join(
        (
            report.report_id,
            report.silo_id,
            report.model_id,
            report.model_version,
            report.spec_digest,
            report.input_digest,
            str(report.window_start_ms),
            str(report.window_end_ms),
            report.prev_report_hash,
        )
    )
    return hashlib.sha256(key.encode()).hexdigest()
