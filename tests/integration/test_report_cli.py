"""`fedgov report` and `fedgov report verify` end to end, against a real aggregator.

One aggregator on port 0 for the module holds the demo's story: three silos (US-NY
biased against women, EU-DE drifting from its second window, EU-FR) report three daily
windows of 1.0.0 (credit data with race/ethnicity and a score); a retraining job of
1.0.0 promotes 1.0.1, and each silo reports a window of it without the bias. Every
regime is rendered once in each format (html, pdf, json) and verified; the NYC HTML
is opened in headless Chromium, the EU PDF read as pages and text. A JSON or HTML
report edited in a table cell fails verify (exit 1, naming the row).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.browser import HeadlessChromium, non_blank
from support.cli import no_traceback, run_fedgov
from support.pdf import PopplerTools, pdf_pages, pdf_text
from support.report_source import ll144_spec, report_args, write_model_card
from support.reports import report_ending
from support.servers import running_aggregator
from support.specs import stats_of

from aggregator.query_client import QueryClient
from aggregator.reports.build import FORMATS, build, render
from aggregator.reports.document import REGIMES, content_hash
from aggregator.reports.verify import verify
from aggregator.store import ModelVersionRecord
from fedgov.metrics import compute_metrics
from fedgov.synthetic import credit_data

pytestmark = pytest.mark.integration

MODEL = "credit-risk"
DAY = 86_400_000
T0 = 1_735_689_600_000  # 2025-01-01T00:00Z
#: silo (its own jurisdiction) -> (drift of windows 2 and 3, bias against women)
SILOS = {"US-NY": (0.0, 0.25), "EU-DE": (0.6, 0.0), "EU-FR": (0.0, 0.0)}


def _ingest(running: Any, spec: Any, version: str, silo: str, i: int, cols: Any) -> None:
    stats = stats_of(spec, cols)
    metrics = compute_metrics(spec, stats)  # as an agent sends them
    rid = f"{silo}-{version}-{i}"
    running.handler.ingest(
        report_ending(spec, stats, rid, silo, T0 + i * DAY, version, metrics=metrics)
    )


@pytest.fixture(scope="module")
def reporting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The aggregator's address, its store holding the story above."""
    spec = ll144_spec(credit_data(2000, seed=1, with_score=True, race=True))
    fixed = ll144_spec(credit_data(2000, seed=1, with_score=True, race=True), "1.0.1")
    db = tmp_path_factory.mktemp("agg") / "agg.db"
    with running_aggregator(db, spec, SILOS) as running:
        for n, (silo, (drift, bias)) in enumerate(sorted(SILOS.items())):
            for i in range(3):
                cols = credit_data(
                    800,
                    seed=40 + 10 * n + i,
                    drift=drift if i else 0.0,
                    bias=bias,
                    with_score=True,
                    race=True,
                )
                _ingest(running, spec, "1.0.0", silo, i, cols)
        store, registry = running.handler.store, running.handler.registry
        job, _ = store.open_job(MODEL, "1.0.0", "fairness: sex (US-NY)", sorted(SILOS))
        for state in ("training", "evaluating"):
            store.transition_job(job.job_id, state)
        lineage = {"job_id": job.job_id, "parent_version": "1.0.0", "reweigh_attribute": "sex"}
        store.add_model_version(
            ModelVersionRecord(MODEL, "1.0.1", "candidate", T0 + 3 * DAY, fixed.digest, lineage)
        )
        registry.register_candidate_spec(fixed)
        store.transition_job(job.job_id, "promoted", candidate_version="1.0.1")
        registry.promote(MODEL, "1.0.1", reason="fairness restored", job_id=job.job_id)
        for n, silo in enumerate(sorted(SILOS)):
            cols = credit_data(800, seed=90 + n, with_score=True, race=True)
            _ingest(running, fixed, "1.0.1", silo, 4, cols)
        yield f"127.0.0.1:{running.port}"


@pytest.fixture(scope="module")
def written(reporting: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every regime in every format, rendered once: "regime.format" -> its file."""
    root = tmp_path_factory.mktemp("reports")
    card = write_model_card(root)
    out = {}
    with QueryClient(reporting) as client:
        for regime in REGIMES:
            card_of = {"model_card": card} if regime == "colorado" else {}
            doc = build(client, report_args(regime, **card_of))
            for fmt in FORMATS:
                path = root / f"{regime}.{fmt}"
                path.write_bytes(render(doc, fmt))
                out[f"{regime}.{fmt}"] = path
    return out


def _doc(written: dict[str, Path], regime: str) -> dict[str, Any]:
    return dict(json.loads(written[f"{regime}.json"].read_bytes()))


def _rows(doc: dict[str, Any], sid: str, n: int = 0) -> list[dict[str, Any]]:
    section = next(s for s in doc["sections"] if s["id"] == sid)
    return list([b for b in section["blocks"] if b["kind"] == "table"][n]["rows"])


@pytest.mark.parametrize("regime", REGIMES)
def test_every_regime_in_every_format_verifies(
    reporting: str, written: dict[str, Path], regime: str
) -> None:
    with QueryClient(reporting) as client:
        for fmt in FORMATS:
            verdict = verify(written[f"{regime}.{fmt}"], client)
            assert verdict.ok, (fmt, verdict.problems)
            assert verdict.format == fmt


def test_the_nyc_report_tells_the_story(written: dict[str, Path]) -> None:
    doc = _doc(written, "nyc-ll144")
    ratios = {r["category"]: r["impact_ratio"] for r in _rows(doc, "sex")}
    assert ratios["F"] < 1.0 and ratios["M"] == 1.0
    jobs = _rows(doc, "corrective")
    assert [(r["state"], r["candidate"]) for r in jobs] == [("promoted", "1.0.1")]
    after = {r["category"]: r["impact_ratio"] for r in _rows(doc, "corrective", 1)}
    assert after["F"] > ratios["F"]
    assert doc["evidence"]["corrective"]["version"] == "1.0.1"


def test_nyc_html_in_chromium_shows_the_womens_impact_ratio(
    browser: HeadlessChromium, written: dict[str, Path]
) -> None:
    ratio = {r["category"]: r["impact_ratio"] for r in _rows(_doc(written, "nyc-ll144"), "sex")}
    visit = browser.visit(written["nyc-ll144.html"].as_uri())
    assert visit.errors == []
    assert non_blank(visit.png)
    assert f"{ratio['F']:.3f}" in visit.text
    assert "Corrective actions since the audit" in visit.text and "1.0.1" in visit.text


def test_eu_pdf_pages_name_the_drifted_feature(
    poppler: PopplerTools, written: dict[str, Path], tmp_path: Path
) -> None:
    doc = _doc(written, "eu-ai-act")
    drifted = {r["feature"] for r in _rows(doc, "drift") if r["silo"] == "EU-DE"}
    assert drifted and {r["silo"] for r in _rows(doc, "drift")} == {"EU-DE"}
    pdf = written["eu-ai-act.pdf"].read_bytes()
    assert len(pdf_pages(poppler, pdf, tmp_path / "pages")) >= 1
    text = pdf_text(poppler, pdf, tmp_path / "text")
    assert all(feature in text for feature in drifted)


def _report(address: str, out: Path, *extra: str) -> dict[str, Any]:
    p = run_fedgov(
        "report", "--model", MODEL, "--version", "1.0.0", "--regime", "nyc-ll144",
        "--aggregator", address, "-o", str(out), "--json", *extra,
    )  # fmt: skip
    no_traceback(p)
    assert p.returncode == 0, p.stderr
    return dict(json.loads(p.stdout))


def _verify(address: str, path: Path) -> Any:
    p = run_fedgov("report", "verify", str(path), "--aggregator", address)
    no_traceback(p)
    return p


def test_the_cli_gives_the_same_bytes_and_an_edited_table_fails_verify(
    reporting: str, written: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "ll144.json"
    told = _report(reporting, out)
    raw = out.read_bytes()
    assert raw == written["nyc-ll144.json"].read_bytes()  # the CLI, in-process: same bytes
    assert told["content_hash"] == json.loads(raw)["content_hash"] and told["bytes"] == len(raw)
    ok = _verify(reporting, out)
    assert ok.returncode == 0 and "verified" in ok.stdout, ok.stdout + ok.stderr

    doc = json.loads(raw)
    sex = next(s for s in doc["sections"] if s["id"] == "sex")
    next(b for b in sex["blocks"] if b["kind"] == "table")["rows"][0]["impact_ratio"] = 0.95
    out.write_text(json.dumps(doc))  # an edit, hash left alone
    bad = _verify(reporting, out)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "content_hash does not match" in bad.stdout
    assert "sections.1[sex].blocks.1.rows.0[F].impact_ratio" in bad.stdout

    doc["content_hash"] = content_hash(doc)  # the hash recomputed to fit the edit
    out.write_text(json.dumps(doc))
    forged = _verify(reporting, out)
    assert forged.returncode == 1
    assert "content_hash" not in forged.stdout and "[F].impact_ratio" in forged.stdout


def test_an_html_report_edited_in_a_visible_cell_fails_verify(
    reporting: str, written: dict[str, Path], tmp_path: Path
) -> None:
    rate = _rows(_doc(written, "nyc-ll144"), "sex")[0]["selection_rate"]
    html = written["nyc-ll144.html"].read_text()
    shown = f"{rate:.4f}"  # how the page shows a rate
    assert shown in html
    out = tmp_path / "ll144.html"
    out.write_text(html.replace(shown, "0.9999", 1))  # the visible cell; the JSON left alone
    bad = _verify(reporting, out)
    assert bad.returncode == 1 and "HTML differs" in bad.stdout


def test_verify_of_an_unreadable_file_exits_2(reporting: str, tmp_path: Path) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    p = _verify(reporting, junk)
    assert p.returncode == 2 and "not valid JSON" in p.stderr
    p = _verify(reporting, tmp_path / "absent.json")
    assert p.returncode == 2 and "cannot read" in p.stderr


def test_policy_folders_are_arguments_verify_re_derives(reporting: str, tmp_path: Path) -> None:
    bundle = Path(__file__).resolve().parents[2] / "deploy" / "policies" / "eu"
    out = tmp_path / "eu.json"
    p = run_fedgov(
        "report", "--model", MODEL, "--version", "1.0.0", "--regime", "eu-ai-act",
        "--policy", str(bundle), "--aggregator", reporting, "-o", str(out),
    )  # fmt: skip
    no_traceback(p)
    assert p.returncode == 0, p.stderr
    assert json.loads(out.read_text())["arguments"]["policies"] == [str(bundle)]
    assert _verify(reporting, out).returncode == 0


def test_summary_lists_each_jurisdictions_decisions(written: dict[str, Path]) -> None:
    rows = _rows(_doc(written, "summary"), "decisions")
    assert sorted({r["jurisdiction"] for r in rows}) == sorted(SILOS)
    assert {r["versions"] for r in rows} <= {"1.0.0, 1.0.1", "1.0.1", "1.0.0"}
