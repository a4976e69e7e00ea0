"""`fedgov privacy audit DB --with-sums`: stored reports and released secure sums, read
through the store (a round opened and completed with its release, as the aggregator
stores one)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from agent.privacy import PrivacySettings, guard
from aggregator.store import ReleaseRecord, RoundRecord, create_store
from fedgov.cli.main import main
from fedgov.privacy import release_secure_sum
from fedgov.report import Report, new_report_id
from fedgov.stats import WindowStats
from fedgov.wire import stats_to_bytes

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "privacy"
T0 = 1_700_000_000_000
SILOS = ("A", "B", "C")


def _truth() -> dict[str, WindowStats]:
    doc = json.loads((FIXTURE / "truth.json").read_text())
    return {
        w["silo"]: WindowStats.from_dict(w["stats"])
        for w in doc["windows"]
        if w["end_ms"] == T0 + 200
    }


def _store(tmp_path: Path, *, dp: bool, stats: bytes | None = None) -> Path:
    """The fixture's three silos over [T0, T0 + 200): their reports (as in the fixture,
    or the same data under the agents' default privacy settings) and the released
    secure sum of the three."""
    db = tmp_path / "agg.db"
    store = create_store(db)
    truth = _truth()
    for silo in SILOS:
        report = Report.from_dict(json.loads((FIXTURE / f"report-{silo}-200.json").read_text()))
        if dp:
            report = dataclasses.replace(
                report, report_id=new_report_id(), stats=guard(truth[silo], PrivacySettings())
            )
        store.add_report(report)
    total = truth["A"].merge(truth["B"]).merge(truth["C"])
    released, withheld = release_secure_sum(total, k=10)
    round_ = RoundRecord("r1", "credit", T0, T0 + 200, "EU", "{}", "{}", 4, "open", "", T0, T0)
    store.open_round(round_, [], "")
    release = ReleaseRecord(
        "r1",
        "credit",
        "v1",
        T0,
        T0 + 200,
        "EU",
        SILOS,
        10,
        stats_to_bytes(released) if stats is None else stats,
        json.dumps([dataclasses.asdict(w) for w in withheld]),
        T0 + 300,
    )
    assert store.end_round("r1", "completed", "", [release])
    store.close()
    return db


def test_secure_sum_minus_clear_reports_gives_a_suppressed_cell(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    db = _store(tmp_path, dp=False)
    assert main(["privacy", "audit", str(db), "--with-sums", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    sub = [
        f for f in doc["findings"] if f["attack"] == "secure-sum" and f["where"].startswith("A ")
    ]
    tp = [f for f in sub if f["cell"] == "outcome sex*age_band F|18-29 y=1 pred=1"]
    assert tp and tp[0]["low"] == tp[0]["high"] == 2


def test_default_dp_reports_with_their_secure_sum_recover_nothing(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    db = _store(tmp_path, dp=True)
    assert main(["privacy", "audit", str(db), "--with-sums", "--json", "--all"]) == 0
    doc = json.loads(capsys.readouterr().out)
    gls = [f for f in doc["findings"] if f["attack"] == "gls"]
    assert len(gls) == 3 * len(list(_cells()))  # every noised cell of the three reports
    assert not [f for f in doc["findings"] if f["recovered"]]


def _cells():  # type: ignore[no-untyped-def]
    from fedgov.privacy.audit._cells import cell_items

    return cell_items(_truth()["A"])


def test_with_sums_on_a_store_with_a_bad_release_is_bad_input(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    db = _store(tmp_path, dp=True, stats=b"\xff\x00 not a WindowStats")
    assert main(["privacy", "audit", str(db), "--with-sums"]) == 2
    err = capsys.readouterr().err
    assert "round r1" in err and "Traceback" not in err


def test_cli_on_report_files_old_fixture_1_default_dp_0(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """The same data as report files: the pre-issue-14 fixture folder is attacked
    successfully (exit 1); the agents' default releases of it recover nothing (exit 0)."""
    assert main(["privacy", "audit", str(FIXTURE), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["recovered"] > 0
    truth = _truth()
    folder = tmp_path / "reports"
    folder.mkdir()
    for silo in SILOS:
        report = Report.from_dict(json.loads((FIXTURE / f"report-{silo}-200.json").read_text()))
        noised = guard(truth[silo], PrivacySettings())
        report = dataclasses.replace(report, report_id=new_report_id(), stats=noised)
        (folder / f"report-{silo}.json").write_text(json.dumps(report.to_dict()))
    assert main(["privacy", "audit", str(folder), "--json", "--all"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["recovered"] == 0
    assert len([f for f in doc["findings"] if f["attack"] == "gls"]) == 3 * len(list(_cells()))
