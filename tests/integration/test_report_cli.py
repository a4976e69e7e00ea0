"""`fedgov report` and `fedgov report verify` as a user runs them, against a real aggregator.

Three silos' reports (credit data with race/ethnicity and a score) are ingested by an
aggregator on port 0; the CLI writes the nyc-ll144 report, verify passes on it, and
fails (exit 1, naming the row) once a table cell is edited, whether or not the
content hash is recomputed to match.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.cli import no_traceback, run_fedgov
from support.report_source import ll144_spec
from support.reports import report_ending
from support.servers import running_aggregator
from support.specs import stats_of

from aggregator.reports.document import content_hash
from fedgov.metrics import compute_metrics
from fedgov.synthetic import credit_data

pytestmark = pytest.mark.integration

SILOS = ("US-NY", "US-CA", "EU-DE")


@pytest.fixture
def reporting(tmp_path: Path) -> Iterator[str]:
    """An aggregator holding one report of each silo; its address."""
    data = {
        s: credit_data(800, seed=40 + i, bias=0.2, with_score=True, race=True)
        for i, s in enumerate(SILOS)
    }
    spec = ll144_spec(data["US-NY"])
    with running_aggregator(tmp_path / "agg.db", spec, SILOS) as running:
        for i, silo in enumerate(SILOS):
            stats = stats_of(spec, data[silo])
            metrics = compute_metrics(spec, stats)  # as an agent sends them
            running.handler.ingest(
                report_ending(spec, stats, f"r{i}", silo, 1_000_000 + i, metrics=metrics)
            )
        yield f"127.0.0.1:{running.port}"


def _report(address: str, out: Path, *extra: str) -> dict[str, Any]:
    p = run_fedgov(
        "report",
        "--model",
        "hiring",
        "--regime",
        "nyc-ll144",
        "--aggregator",
        address,
        "-o",
        str(out),
        "--json",
        *extra,
    )
    no_traceback(p)
    assert p.returncode == 0, p.stderr
    return dict(json.loads(p.stdout))


def _verify(address: str, path: Path) -> Any:
    p = run_fedgov("report", "verify", str(path), "--aggregator", address)
    no_traceback(p)
    return p


def test_a_json_report_verifies_and_an_edited_table_does_not(
    reporting: str, tmp_path: Path
) -> None:
    out = tmp_path / "ll144.json"
    told = _report(reporting, out)
    raw = out.read_bytes()
    doc = json.loads(raw)
    assert told["content_hash"] == doc["content_hash"] and told["bytes"] == len(raw)
    assert doc["scope"]["silos"] == sorted(SILOS) and doc["evidence"]["report_ids"] == [
        "r0",
        "r1",
        "r2",
    ]
    ok = _verify(reporting, out)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "verified" in ok.stdout

    again = tmp_path / "again.json"
    _report(reporting, again)
    assert again.read_bytes() == raw  # the same store and arguments: the same bytes

    sex = next(s for s in doc["sections"] if s["id"] == "sex")
    table = next(b for b in sex["blocks"] if b["kind"] == "table")
    table["rows"][0]["impact_ratio"] = 0.95  # an edit, hash left alone
    out.write_text(json.dumps(doc))
    bad = _verify(reporting, out)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "content_hash does not match" in bad.stdout
    assert "sections.1[sex].blocks.1.rows.0[F].impact_ratio" in bad.stdout

    doc["content_hash"] = content_hash(doc)  # the hash recomputed to fit the edit
    out.write_text(json.dumps(doc))
    forged = _verify(reporting, out)
    assert forged.returncode == 1
    assert "content_hash" not in forged.stdout and "[F].impact_ratio" in forged.stdout


def test_verify_of_an_unreadable_file_exits_2(reporting: str, tmp_path: Path) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    p = _verify(reporting, junk)
    assert p.returncode == 2 and "not valid JSON" in p.stderr
    p = _verify(reporting, tmp_path / "absent.json")
    assert p.returncode == 2 and "cannot read" in p.stderr


def test_an_html_report_edited_in_a_visible_cell_fails_verify(
    reporting: str, tmp_path: Path
) -> None:
    pytest.importorskip("aggregator.reports.render", reason="the HTML renderer is not merged")
    figures = tmp_path / "ll144.json"
    _report(reporting, figures)
    sex = next(s for s in json.loads(figures.read_text())["sections"] if s["id"] == "sex")
    rate = next(b for b in sex["blocks"] if b["kind"] == "table")["rows"][0]["selection_rate"]
    out = tmp_path / "ll144.html"
    _report(reporting, out)
    assert _verify(reporting, out).returncode == 0
    html = out.read_text()
    shown = f"{rate:.4f}"  # how the page shows a rate
    assert shown in html
    out.write_text(html.replace(shown, "0.9999", 1))  # the visible cell; the JSON left alone
    bad = _verify(reporting, out)
    assert bad.returncode == 1 and "HTML differs" in bad.stdout


def test_summary_needs_no_model_and_verifies(reporting: str, tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    p = run_fedgov("report", "--regime", "summary", "--aggregator", reporting, "-o", str(out))
    no_traceback(p)
    assert p.returncode == 0, p.stderr
    doc = json.loads(out.read_text())
    decisions = next(s for s in doc["sections"] if s["id"] == "decisions")["blocks"][0]
    assert [(r["jurisdiction"], r["allow"], r["deny"]) for r in decisions["rows"]] == [
        ("EU-DE", 1, 0),
        ("US-CA", 1, 0),
        ("US-NY", 1, 0),
    ]
    assert _verify(reporting, out).returncode == 0
