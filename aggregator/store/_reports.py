"""Reading stored reports, the same statements on every backend.

Report payloads are the serialized ``fedgov.v1.Report`` (``payload_pb``): a
report reads back equal to what was stored, and storing a received report
needs no re-encoding. Rows written before that keep their JSON in ``payload``
(text, not JSONB, which would reorder keys and reformat numbers) and still
read. ``latest_reports`` points at the newest report of each (silo, model,
version), so the latest-report queries read O(silos) rows, not every report.
Writing reports is each backend's own (:meth:`add_report`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aggregator.store._base import DecisionRecord, DriftRecord, MetricPoint, ReportRef
from aggregator.store._sql import Connected, Row
from aggregator.store._stored_values import LATEST_DECISIONS_SQL, decision_records, metric_points
from fedgov.report import Report, ReportLink
from fedgov.wire import report_from_bytes, report_link_from_bytes

__all__ = ["ReportReads", "drift_rows", "stored_link", "stored_report"]

_LATEST = (
    "SELECT r.payload, r.payload_pb FROM latest_reports l "
    "JOIN reports r ON r.report_id = l.report_id"
)
_ONE_LATEST = _LATEST + " WHERE l.silo_id=? AND l.model_id=? AND l.model_version=?"
_LATEST_ORDER = " ORDER BY l.silo_id, l.model_id, l.model_version"


class ReportReads(Connected):
    def get_report(self, report_id: str) -> Report | None:
        rows = self._query(
            "SELECT payload, payload_pb FROM reports WHERE report_id=?", (report_id,)
        )
        return stored_report(rows[0]) if rows else None

    def get_reports(self, report_ids: Sequence[str]) -> dict[str, Report]:
        rows: list[Row] = []
        with self._read() as db:
            for where, args in self.dialect.any_of("report_id", list(dict.fromkeys(report_ids))):
                sql = f"SELECT report_id, payload, payload_pb FROM reports WHERE {where}"
                rows += db.execute(sql, args).fetchall()
        return {r[0]: stored_report(r[1:]) for r in rows}

    def count_reports(self) -> int:
        return int(self._query("SELECT count(*) FROM reports")[0][0])

    def reports_for_model(
        self, model_id: str, model_version: str | None, *, since_ms: int = 0, latest_only: bool
    ) -> list[Report]:
        # latest_only reads the pointer table; it carries the same columns to filter on.
        t = "l" if latest_only else "r"
        where = f" WHERE {t}.model_id=?"
        args: list[object] = [model_id]
        if model_version:
            where += f" AND {t}.model_version=?"
            args.append(model_version)
        if since_ms:
            where += f" AND {t}.window_end_ms>=?"
            args.append(since_ms)
        if latest_only:
            sql = _LATEST + where + _LATEST_ORDER
        else:
            sql = (
                f"SELECT r.payload, r.payload_pb FROM reports r{where} ORDER BY r.silo_id, "
                f"r.model_id, r.model_version, r.window_end_ms, r.{self.dialect.insert_order}"
            )
        return [stored_report(r) for r in self._query(sql, args)]

    def latest_reports(self) -> list[Report]:
        return [stored_report(r) for r in self._query(_LATEST + _LATEST_ORDER)]

    def latest_report(self, silo_id: str, model_id: str, model_version: str) -> Report | None:
        rows = self._query(_ONE_LATEST, (silo_id, model_id, model_version))
        return stored_report(rows[0]) if rows else None

    def latest_report_id(self, silo_id: str, model_id: str, model_version: str) -> str | None:
        rows = self._query(
            "SELECT report_id FROM latest_reports "
            "WHERE silo_id=? AND model_id=? AND model_version=?",
            (silo_id, model_id, model_version),
        )
        return str(rows[0][0]) if rows else None

    def latest_link(self, silo_id: str, model_id: str, model_version: str) -> ReportLink | None:
        rows = self._query(_ONE_LATEST, (silo_id, model_id, model_version))
        return stored_link(rows[0]) if rows else None

    def latest_report_refs(self, model_id: str, model_version: str | None) -> list[ReportRef]:
        where = "l.model_id=?"
        args: list[object] = [model_id]
        if model_version:
            where += " AND l.model_version=?"
            args.append(model_version)
        rows = self._query(
            "SELECT l.report_id, l.silo_id, r.jurisdiction, l.model_id, l.model_version, "
            "l.window_end_ms FROM latest_reports l JOIN reports r ON r.report_id = l.report_id "
            f"WHERE {where}" + _LATEST_ORDER,
            args,
        )
        return [ReportRef(*r) for r in rows]

    def latest_decisions(self) -> list[DecisionRecord]:
        return decision_records(self._query(LATEST_DECISIONS_SQL, binary=True))

    def metric_history(
        self, model_id: str, path: Sequence[str], *, since_ms: int = 0
    ) -> list[MetricPoint]:
        # The (model_id, window_end_ms) index finds the range; of each report only the
        # metrics JSON is read, and of that only the value (see _metrics). Silos sort in
        # code point order, as Python sorts them, whatever the database's collation.
        where = "model_id=?"
        args: list[object] = [model_id]
        if since_ms:
            where += " AND window_end_ms>=?"
            args.append(since_ms)
        sql = (
            "SELECT report_id, silo_id, jurisdiction, model_id, model_version, window_end_ms, "
            f"payload, payload_pb FROM reports WHERE {where} ORDER BY window_end_ms, "
            f"silo_id{self.dialect.bytewise}, model_version, {self.dialect.insert_order}"
        )
        return metric_points(self._query(sql, args, binary=True), path)

    def drift_above(
        self, psi_threshold: float, *, since_ms: int = 0, model_id: str | None = None
    ) -> list[DriftRecord]:
        sql = (
            "SELECT report_id, silo_id, jurisdiction, model_id, model_version, feature, psi, "
            "psi_pvalue, window_end_ms FROM feature_drift WHERE window_end_ms>=? AND psi>?"
        )
        args: list[object] = [since_ms, psi_threshold]
        if model_id:
            sql += " AND model_id=?"
            args.append(model_id)
        return [
            DriftRecord(*r) for r in self._query(sql + " ORDER BY psi DESC, silo_id, feature", args)
        ]


def drift_rows(report: Report) -> list[tuple[str, float, float | None]]:
    """(feature, psi, psi p-value) of each feature whose metrics have a PSI: the
    ``feature_drift`` rows of a report, on every backend."""
    features: dict[str, Any] = (report.metrics.get("drift") or {}).get("features") or {}
    return [
        (name, float(m["psi"]), None if m.get("psi_pvalue") is None else float(m["psi_pvalue"]))
        for name, m in features.items()
        if m.get("psi") is not None
    ]


def stored_report(row: Sequence[Any]) -> Report:
    """A stored report from (payload, payload_pb): protobuf bytes, or the JSON of older rows."""
    payload, payload_pb = row
    if payload_pb is not None:
        return report_from_bytes(bytes(payload_pb))
    return Report.from_dict(json.loads(payload))


def stored_link(row: Sequence[Any]) -> ReportLink:
    """The chain link of a stored report (:func:`stored_report` without decoding the counts)."""
    payload, payload_pb = row
    if payload_pb is not None:
        return report_link_from_bytes(bytes(payload_pb))
    return ReportLink.of(Report.from_dict(json.loads(payload)))
