"""Reading metrics and decisions out of stored reports without decoding the reports.

A metric's history needs one number per report. Decoding whole reports
(statistics into numpy arrays, metrics JSON into dicts) costs about 150 us
each. Here the metrics JSON text is taken straight out of the stored protobuf
(a few us), and SQLite's JSON functions (the standard library's sqlite3, in
memory, for either backend) read the one value out of it, about ten times
faster than ``json.loads`` builds every dict and float of the document.
Rows written before ``payload_pb`` existed hold the whole report as JSON in
``payload``; they still read.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from aggregator.store._base import DecisionRecord, MetricPoint, metric_at
from fedgov.decision import Decision
from fedgov.wire import metrics_json_from_bytes, report_decision_from_bytes

__all__ = [
    "LATEST_DECISIONS_SQL",
    "decision_records",
    "json_number",
    "json_path",
    "metric_points",
    "metric_values",
    "stored_decision",
    "stored_metrics_json",
]

LATEST_DECISIONS_SQL = (
    "SELECT l.report_id, l.silo_id, r.jurisdiction, l.model_id, l.model_version, "
    "l.window_end_ms, r.payload, r.payload_pb FROM latest_reports l "
    "JOIN reports r ON r.report_id = l.report_id "
    "ORDER BY l.silo_id, l.model_id, l.model_version"
)
"""The newest report of every (silo, model, version): the same text for both backends."""


def decision_records(rows: Sequence[Sequence[Any]]) -> list[DecisionRecord]:
    """Rows of (report_id, silo, jurisdiction, model, version, window_end, payload,
    payload_pb), as :data:`LATEST_DECISIONS_SQL` reads them, into decision records."""
    return [
        DecisionRecord(r[0], r[1], r[2], r[3], r[4], r[5], stored_decision(r[6], r[7]))
        for r in rows
    ]


def metric_points(rows: Sequence[Sequence[Any]], path: Sequence[str]) -> list[MetricPoint]:
    """The same row shape into history points: the value at ``path`` of each report."""
    values = metric_values([stored_metrics_json(r[6], r[7]) for r in rows], path)
    return [
        MetricPoint(r[0], r[1], r[2], r[3], r[4], r[5], v)
        for r, v in zip(rows, values, strict=True)
    ]


def stored_metrics_json(payload: str | None, payload_pb: bytes | None) -> str:
    """The metrics JSON text of a stored report row."""
    if payload_pb is not None:
        return metrics_json_from_bytes(bytes(payload_pb))
    return json.dumps(json.loads(payload or "{}").get("metrics") or {})


def stored_decision(payload: str | None, payload_pb: bytes | None) -> Decision:
    """The local decision of a stored report row."""
    if payload_pb is not None:
        return report_decision_from_bytes(bytes(payload_pb))
    return Decision.from_dict(json.loads(payload or "{}")["decision"])


# SQLite's -> (3.38+) returns the JSON text of a value, so a number is parsed by Python.
_SQLITE_ARROW = sqlite3.sqlite_version_info >= (3, 38)


def metric_values(metrics_json: Sequence[str], path: Sequence[str]) -> list[float | None]:
    """The value at ``path`` in each metrics JSON text, as :func:`metric_at` reads it.

    (A key written twice in one object is the one difference: SQLite reads the
    first, ``json.loads`` the last. ``report_to_proto`` never writes one.)
    """
    jpath = json_path(path)
    if jpath is None or not _SQLITE_ARROW:  # decode in Python instead
        return [metric_at(_object(json.loads(text)), path) for text in metrics_json]
    db = sqlite3.connect(":memory:")
    try:
        return [
            json_number(db.execute("SELECT ? -> ?", (text, jpath)).fetchone()[0])
            for text in metrics_json
        ]
    finally:
        db.close()


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def json_path(keys: Sequence[str]) -> str | None:
    """A SQLite JSON path naming exactly these object keys, or None if there is none.

    Each key goes in double quotes (so dots and brackets in names are safe).
    SQLite's paths cannot escape a quote or a backslash, and SQLite (3.40)
    compares a path label with the key's text as written, escapes and all:
    ``json.dumps`` writes a non-ASCII or control character in a key as
    ``\\uXXXX``, which a label would then miss. Such keys get None, and
    :func:`metric_values` reads the metrics in Python instead.
    """
    for key in keys:
        if not key.isascii() or not key.isprintable() or '"' in key or "\\" in key:
            return None
    return "$" + "".join(f'."{key}"' for key in keys)


def json_number(text: str | None) -> float | None:
    """A value from SQLite's ``->`` (JSON text) as :func:`aggregator.store.metric_at` reads it.

    A JSON number becomes a float, parsed by Python exactly as ``json.loads``
    would; true, false, null, strings, arrays, objects and a missing value
    (SQL NULL) give None.
    """
    if not text or text[0] not in "-0123456789":
        return None
    if "." in text or "e" in text or "E" in text:
        return float(text)
    return float(int(text))  # as json.loads reads it: "-0" is the integer 0
