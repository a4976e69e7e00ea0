"""Reads that skip decoding whole reports, on every backend.

``metric_history`` (one metric per report), ``latest_report_refs`` (which
reports are the newest, by id) and ``latest_decisions`` (decisions only) must
give what decoding the reports would: the same rows, values and order.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest
from support.reports import report_ending
from support.stores import LEGACY_REPORT_COLUMNS, legacy_row

from aggregator.store import DecisionRecord, MetricPoint, Store, metric_at
from aggregator.store._stored_values import json_number, json_path, metric_values
from fedgov.metrics import compute_metrics
from fedgov.policy import Decision
from fedgov.report import Report
from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats


def _report(
    spec: MonitoringSpec,
    stats: WindowStats,
    silo: str,
    rid: str,
    end_ms: int,
    *,
    version: str = "",
    metrics: dict[str, Any] | None = None,
    decision: Decision | None = None,
) -> Report:
    if metrics is None:
        metrics = compute_metrics(spec, stats)
    decision = decision or Decision(allow=True)
    return report_ending(
        spec, stats, rid, silo, end_ms, version, jurisdiction=f"J-{silo}", metrics=metrics,
        decision=decision,
    )  # fmt: skip


# Values a metric may hold, and what metric_at makes of them.
TRICKY: dict[str, Any] = {
    "drift": {
        "features": {
            "income": {"psi": 0.1000000000000000055511151231257827, "n": 7, "neg0": -0},
            "a.b[0]": {"psi": 1.5},  # dots and brackets are part of the name
            'say "hi"': {"psi": 2.5},  # a quote: no SQLite path can name it
            "größe": {"psi": 3.5},  # written as \u escapes by json.dumps
            "flags": {"psi": True, "text": "0.3", "none": None, "list": [1.0], "obj": {"x": 1}},
        }
    },
    "fairness": {"sex": {"demographic_parity_ratio": 0.8, "groups": {"F": {"tpr": 0.7}}}},
    "sample_size": 200,
    "big": 12345678901234567890123,
    "tiny": -1.5e-300,
    "odd": [1, 2],
}

PATHS: list[tuple[str, ...]] = [
    # every figure of every feature above
    *(
        ("drift", "features", name, figure)
        for name, figures in TRICKY["drift"]["features"].items()
        for figure in figures
    ),
    ("drift", "features", "missing", "psi"),
    ("drift", "features", "income", "psi", "deeper"),
    ("fairness", "sex", "demographic_parity_ratio"),
    ("fairness", "sex", "groups", "F", "tpr"),
    ("sample_size",),
    ("big",),
    ("tiny",),
    ("odd",),
    ("odd", "0"),
    (),
]


def test_metric_at() -> None:
    got = {path: metric_at(TRICKY, path) for path in PATHS}
    assert got[("drift", "features", "income", "psi")] == 0.1
    assert got[("drift", "features", "income", "n")] == 7.0
    assert got[("drift", "features", "a.b[0]", "psi")] == 1.5
    assert got[("drift", "features", "größe", "psi")] == 3.5
    assert got[("sample_size",)] == 200.0
    assert got[("big",)] == float(12345678901234567890123)
    for none in [
        ("drift", "features", "flags", k) for k in ("psi", "text", "none", "list", "obj")
    ] + [("drift", "features", "missing", "psi"), ("odd",), ("odd", "0"), ()]:
        assert got[none] is None, none
    assert metric_at({"drift": None}, ("drift", "features", "x", "psi")) is None
    assert metric_at({"drift": 3}, ("drift", "features")) is None


def test_json_helpers() -> None:
    assert json_path(("drift", "features", "a.b", "psi")) == '$."drift"."features"."a.b"."psi"'
    assert json_path(('a"b',)) is None and json_path(("a\\b",)) is None
    assert json_path(("größe",)) is None and json_path(("tab\there",)) is None
    assert json_number(None) is None and json_number("true") is None
    assert json_number('"1"') is None and json_number("[1]") is None
    assert json_number("-0") == 0.0 and str(json_number("-0")) == "0.0"  # as json.loads
    assert json_number("-0.0") == 0.0 and str(json_number("-0.0")) == "-0.0"
    assert json_number("1e2") == 100.0 and json_number("12") == 12.0


def test_metric_history_values_agree_with_decoded_reports(
    store: Store, credit_spec: MonitoringSpec, stats: WindowStats
) -> None:
    real = _report(credit_spec, stats, "EU-DE", "real", 1000)
    tricky = _report(credit_spec, stats, "EU-FR", "tricky", 1000, metrics=TRICKY)
    empty = _report(credit_spec, stats, "US-NY", "empty", 1000, metrics={})
    for r in (real, tricky, empty):
        assert store.add_report(r)
    for path in PATHS:
        got = {p.report_id: p.value for p in store.metric_history(credit_spec.model_id, path)}
        want = {r.report_id: metric_at(r.metrics, path) for r in (real, tricky, empty)}
        assert got == want, path
        # Same floats bit for bit, -0.0 and 0.0 told apart.
        assert {k: repr(v) for k, v in got.items()} == {k: repr(v) for k, v in want.items()}
    (point,) = [
        p
        for p in store.metric_history(credit_spec.model_id, ("drift", "features", "age", "psi"))
        if p.report_id == "real"
    ]
    assert point == MetricPoint(
        "real",
        "EU-DE",
        "J-EU-DE",
        credit_spec.model_id,
        credit_spec.model_version,
        1000,
        real.metrics["drift"]["features"]["age"]["psi"],
    )
    assert point.value is not None and point.value > 0


def test_metric_history_order_and_filters(
    store: Store, credit_spec: MonitoringSpec, stats: WindowStats
) -> None:
    metrics: dict[str, Any] = {"sample_size": 1}
    added = [
        ("b-2000", "B", 2000, "1.0.0"),
        ("a-2000-v2", "A", 2000, "2.0.0"),
        ("a-2000", "A", 2000, "1.0.0"),
        ("a-2000-again", "A", 2000, "1.0.0"),  # same window, silo and version: stored order
        ("b-1000", "B", 1000, "1.0.0"),
        ("c-1500", "C", 1500, "1.0.0"),
        ("a-500", "A", 500, "1.0.0"),
    ]
    for rid, silo, end, version in added:
        store.add_report(
            _report(credit_spec, stats, silo, rid, end, version=version, metrics=metrics)
        )
    ids = [p.report_id for p in store.metric_history(credit_spec.model_id, ("sample_size",))]
    assert ids == ["a-500", "b-1000", "c-1500", "a-2000", "a-2000-again", "a-2000-v2", "b-2000"]
    recent = store.metric_history(credit_spec.model_id, ("sample_size",), since_ms=1500)
    assert [p.report_id for p in recent] == ids[2:]
    assert {p.value for p in recent} == {1.0}
    assert store.metric_history("other-model", ("sample_size",)) == []
    assert store.metric_history(credit_spec.model_id, ("sample_size",), since_ms=2001) == []


def test_latest_refs_and_decisions_match_decoded_latest(
    store: Store, credit_spec: MonitoringSpec, stats: WindowStats
) -> None:
    deny = Decision(
        allow=False,
        deny=("gap too wide",),
        warn=("w",),
        actions=("retrain",),
        bundle_digest="sha256:b",
    )
    for rid, silo, end, version, decision in [
        ("de-old", "EU-DE", 1000, "1.0.0", None),
        ("de-new", "EU-DE", 2000, "1.0.0", deny),
        ("de-v2", "EU-DE", 1500, "2.0.0", None),
        ("fr-late-window-first", "EU-FR", 3000, "1.0.0", deny),
        ("fr-early-window-later", "EU-FR", 2500, "1.0.0", None),  # older window: not newest
        ("at", "EU-AT", 100, "1.0.0", None),
    ]:
        store.add_report(
            _report(credit_spec, stats, silo, rid, end, version=version, decision=decision)
        )
    model = credit_spec.model_id
    for version in (None, "", "1.0.0", "2.0.0", "9.9.9"):
        want = store.reports_for_model(model, version, latest_only=True)
        got = store.latest_report_refs(model, version)
        assert [
            (g.report_id, g.silo_id, g.jurisdiction, g.model_version, g.window_end_ms) for g in got
        ] == [
            (r.report_id, r.silo_id, r.jurisdiction, r.model_version, r.window_end_ms) for r in want
        ]
    assert [r.report_id for r in store.latest_report_refs(model, "1.0.0")] == [
        "at",
        "de-new",
        "fr-late-window-first",
    ]
    assert store.latest_report_refs("other-model", None) == []
    assert store.latest_decisions() == [
        DecisionRecord(
            r.report_id,
            r.silo_id,
            r.jurisdiction,
            r.model_id,
            r.model_version,
            r.window_end_ms,
            r.decision,
        )
        for r in store.latest_reports()
    ]
    by_id = {d.report_id: d.decision for d in store.latest_decisions()}
    assert by_id["de-new"] == deny and by_id["de-v2"].allow


def test_get_reports_reads_several_at_once(
    store: Store, credit_spec: MonitoringSpec, stats: WindowStats
) -> None:
    reports = [_report(credit_spec, stats, "EU-DE", f"r{i}", 100 + i) for i in range(3)]
    for r in reports:
        store.add_report(r)
    got = store.get_reports(["r2", "missing", "r0", "r2"])
    assert got == {"r2": reports[2], "r0": reports[0]}
    assert store.get_reports([]) == {}
    many = [f"x{i}" for i in range(1200)] + ["r1"]  # more ids than one statement binds
    assert store.get_reports(many) == {"r1": reports[1]}


def _add_json_row(store_url: str, report: Report) -> None:
    """A report as an older release stored it: JSON in ``payload``, no protobuf."""
    r = report
    row = legacy_row(r, not r.decision.allow)
    cols = LEGACY_REPORT_COLUMNS
    if "://" in store_url:
        import psycopg

        with psycopg.connect(store_url, autocommit=True) as conn:
            conn.execute(f"INSERT INTO reports ({cols}) VALUES ({','.join(['%s'] * 11)})", row)
            conn.execute(
                "INSERT INTO latest_reports SELECT silo_id, model_id, model_version, report_id, "
                "window_end_ms, received_ms, seq FROM reports WHERE report_id=%s",
                (r.report_id,),
            )
    else:
        with sqlite3.connect(store_url) as db:
            db.execute(
                f"INSERT INTO reports ({cols}) VALUES ({','.join('?' * 11)})",
                (*row[:9], int(not row[9]), row[10]),
            )
            db.execute(
                "INSERT INTO latest_reports SELECT silo_id, model_id, model_version, report_id, "
                "window_end_ms, received_ms FROM reports WHERE report_id=?",
                (r.report_id,),
            )
        db.close()


def test_rows_stored_as_json_still_read(
    store: Store, store_url: str, credit_spec: MonitoringSpec, stats: WindowStats
) -> None:
    old = _report(
        credit_spec,
        stats,
        "EU-DE",
        "old",
        100,
        metrics=TRICKY,
        decision=Decision(allow=False, deny=("x",)),
    )
    _add_json_row(store_url, old)
    assert store.get_report("old") == old
    assert store.get_reports(["old"]) == {"old": old}
    for path in PATHS:
        (point,) = store.metric_history(credit_spec.model_id, path)
        assert repr(point.value) == repr(metric_at(old.metrics, path)), path
    (rec,) = store.latest_decisions()
    assert rec.report_id == "old" and rec.decision == old.decision
    (ref,) = store.latest_report_refs(credit_spec.model_id, None)
    assert (ref.report_id, ref.jurisdiction) == ("old", "J-EU-DE")


def test_metric_values_decode_in_python_only_where_sqlite_cannot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Keys a SQLite JSON path names are read by SQLite; the others by json.loads, equally."""
    texts = [json.dumps(TRICKY), "{}", json.dumps({"drift": None})]
    loads: list[str] = []
    real = json.loads

    def counting(text: str, *args: Any, **kw: Any) -> Any:
        loads.append(text)
        return real(text, *args, **kw)

    monkeypatch.setattr(json, "loads", counting)
    assert metric_values(texts, ("drift", "features", "income", "psi")) == [0.1, None, None]
    assert loads == []
    assert metric_values(texts, ("drift", "features", "größe", "psi")) == [3.5, None, None]
    assert len(loads) == 3
