"""`fedgov privacy audit DB --with-sums`: stored reports and the secure releases table."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from aggregator.store import create_store
from fedgov.cli.main import main
from fedgov.privacy._release import release_secure_sum
from fedgov.report import Report
from fedgov.stats import WindowStats
from fedgov.wire import stats_to_proto

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "privacy"
T0 = 1_700_000_000_000
SCHEMA = (
    "CREATE TABLE secagg_releases(round_id TEXT, model_id TEXT, model_version TEXT, "
    "period_start_ms INTEGER, period_end_ms INTEGER, part TEXT, silos_json TEXT, k INTEGER, "
    "stats BLOB, withheld_json TEXT, released_unix_ms INTEGER)"
)


def _store(tmp_path: Path) -> Path:
    db = tmp_path / "agg.db"
    store = create_store(db)
    for name in ("report-A-200.json", "report-B-200.json", "report-C-200.json"):
        store.add_report(Report.from_dict(json.loads((FIXTURE / name).read_text())))
    store.close()
    truth = json.loads((FIXTURE / "truth.json").read_text())
    total = None
    for w in truth["windows"]:
        if w["end_ms"] == T0 + 200:
            s = WindowStats.from_dict(w["stats"])
            total = s if total is None else total.merge(s)
    assert total is not None
    released, withheld = release_secure_sum(total, k=10)
    with sqlite3.connect(db) as con:
        con.execute(SCHEMA)
        con.execute(
            "INSERT INTO secagg_releases VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                "r1",
                "credit",
                "v1",
                T0,
                T0 + 200,
                "EU",
                json.dumps(["A", "B", "C"]),
                10,
                stats_to_proto(released).SerializeToString(),
                json.dumps([w.__dict__ for w in withheld]),
                T0 + 300,
            ),
        )
    return db


def test_secure_sum_minus_clear_reports_gives_a_suppressed_cell(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    db = _store(tmp_path)
    assert main(["privacy", "audit", str(db), "--with-sums", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    sub = [
        f for f in doc["findings"] if f["attack"] == "secure-sum" and f["where"].startswith("A ")
    ]
    tp = [f for f in sub if f["cell"] == "outcome sex*age_band F|18-29 y=1 pred=1"]
    assert tp and tp[0]["low"] == tp[0]["high"] == 2


def test_with_sums_on_a_store_without_the_table_is_bad_input(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "agg.db"
    store = create_store(db)
    store.add_report(Report.from_dict(json.loads((FIXTURE / "report-B-200.json").read_text())))
    store.close()
    assert main(["privacy", "audit", str(db), "--with-sums"]) == 2
    assert "secagg_releases" in capsys.readouterr().err
