"""Reports looked at as a person would: the HTML in headless Chromium, the PDF as pages.

The sample document has every block kind, every plot kind, a withheld cell, a marked
(< 2%) row and text that tries to break out of the page (``</script>``, tags).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from support.browser import HeadlessChromium, non_blank
from support.pdf import PopplerTools, pdf_pages, pdf_text

from aggregator.reports import document as d
from aggregator.reports.render import (
    read_html_document,
    read_pdf_document,
    render_html,
    render_pdf,
)
from fedgov.errors import DataError

pytestmark = pytest.mark.integration

DAY = 86_400_000
T0 = 1_714_521_600_000  # 2024-05-01T00:00:00Z
HOSTILE = "Islander </script><b>bold</b> <!--"
COLUMNS = [
    ("group", "Group", "text"),
    ("n", "Individuals", "int"),
    ("selected", "Selected", "int"),
    ("rate", "Selection rate", "rate"),
    ("ir", "Impact ratio", "ratio"),
    ("first", "First report", "time"),
    ("spec", "Spec digest", "digest"),
]


def sample_document(regime: str = "nyc-ll144") -> dict[str, Any]:
    rows = [
        {
            "group": "Female",
            "n": 12345,
            "selected": 3821,
            "rate": 0.309518,
            "ir": 0.73118,
            "first": T0,
            "spec": "sha256:" + "ab" * 32,
        },
        {
            "group": "Male",
            "n": 13002,
            "selected": 5504,
            "rate": 0.423319,
            "ir": 1.0,
            "first": T0,
            "spec": "sha256:" + "ab" * 32,
        },
        {
            "group": HOSTILE,
            "n": 201,
            "selected": d.withheld(201),
            "rate": d.withheld(201),
            "ir": None,
            "first": T0 + 1500,
            "spec": "sha256:" + "ab" * 32,
        },
    ]
    groups = [
        {
            "name": "Female",
            "rate": 0.309518,
            "impact_ratio": 0.73118,
            "small": False,
            "withheld": False,
        },
        {"name": "Male", "rate": 0.423319, "impact_ratio": 1.0, "small": False, "withheld": False},
        {"name": "Islander", "rate": None, "impact_ratio": None, "small": True, "withheld": 201},
    ]
    sections = [
        d.section(
            "summary",
            "Summary",
            [
                d.text(
                    "This audit covers US-NY from 2024-05-01 to 2024-05-09.",
                    "Figures come from merged counts & never from rows.",
                ),
                d.facts(
                    [
                        ("Individuals", 25548),
                        ("Unknown category", 311),
                        ("Threshold", 0.8),
                        ("Spec digest", "sha256:" + "12" * 32),
                        ("Pooled cell", d.withheld(9)),
                    ]
                ),
            ],
        ),
        d.section(
            "rates",
            "Selection rates and impact ratios",
            [
                d.table(
                    COLUMNS,
                    rows,
                    notes=["Privacy path: exact, secure sum of 3 silos"],
                    marks={2: "< 2%"},
                ),
                d.plot(
                    "selection_rates",
                    {"groups": groups, "threshold": 0.8},
                    "Female impact ratio 0.731, below 0.8",
                ),
            ],
        ),
        d.section(
            "monitoring",
            "Monitoring over time",
            [
                d.plot(
                    "fairness_over_time",
                    {
                        "series": [
                            {
                                "jurisdiction": "US-NY",
                                "points": [[T0, 0.91], [T0 + 7 * DAY, 0.73118]],
                            },
                            {"jurisdiction": "EU-DE", "points": [[T0, 0.95], [T0 + 7 * DAY, 0.93]]},
                        ],
                        "threshold": 0.8,
                        "label": "impact ratio",
                    },
                    "Impact ratio per jurisdiction",
                ),
                d.plot(
                    "drift_heatmap",
                    {
                        "silos": ["EU-DE", "EU-FR"],
                        "features": ["income", "age"],
                        "periods": ["2024-W18", "2024-W19"],
                        "psi": [[[0.01, 0.02], [0.03, None]], [[0.4712, 0.05], [0.02, 0.01]]],
                        "threshold": 0.2,
                    },
                    "PSI of income in EU-DE 0.47",
                ),
                d.plot(
                    "timeline",
                    {
                        "events": [
                            {
                                "t_ms": T0 + DAY,
                                "kind": "retraining job",
                                "label": "job-7 reweighing",
                            },
                            {"t_ms": T0 + 3 * DAY, "kind": "promotion", "label": "v2 promoted"},
                        ]
                    },
                    "Retraining job-7, then v2 promoted",
                ),
            ],
        ),
    ]
    return d.document(
        regime=regime,
        title="Bias audit: credit-scorer v2",
        arguments={"model": "credit-scorer", "regime": regime, "jurisdictions": "US-*"},
        as_of_ms=T0 + 8 * DAY + 1234,
        model={"id": "credit-scorer", "version": "2"},
        scope={"jurisdictions": ["US-NY"], "silos": ["US-NY-1", "US-NY-2", "US-NY-3"]},
        sections=sections,
        evidence={
            "report_ids": [f"r{i:05d}" for i in range(45)],
            "spec_digest": "sha256:" + "12" * 32,
            "audit_heads": {"US-NY-1": "sha256:" + "99" * 32},
        },
    )


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return sample_document()


@pytest.fixture(scope="module")
def html(doc: dict[str, Any]) -> bytes:
    return render_html(doc)


@pytest.fixture(scope="module")
def pdf(doc: dict[str, Any]) -> bytes:
    return render_pdf(doc)


# -- HTML as bytes ------------------------------------------------------------------------


def test_html_renders_to_the_same_bytes_twice(doc: dict[str, Any], html: bytes) -> None:
    assert render_html(doc) == html
    assert render_html(sample_document()) == html  # a fresh, equal document too


def test_html_embeds_the_document_and_it_round_trips(doc: dict[str, Any], html: bytes) -> None:
    back = read_html_document(html)
    assert back == doc
    assert d.has_valid_hash(back)
    assert d.canonical_json(back) == d.canonical_json(doc)


def test_hostile_text_cannot_end_the_script_or_add_markup(html: bytes) -> None:
    text = html.decode()
    script = re.search(
        r'<script type="application/json" id="fedgov-report">(.*?)</script>', text, re.DOTALL
    )
    assert script is not None and "<" not in script.group(1)
    assert "<b>bold</b>" not in text and "&lt;b&gt;bold&lt;/b&gt;" in text
    assert text.count("</script>") == 1


def test_html_is_self_contained(html: bytes) -> None:
    text = html.decode()
    assert not re.search(r'\b(?:src|href)="(?:https?:)?//', text)
    assert "<link" not in text and "@import" not in text
    assert text.count("<svg") == 4  # the plots are inline, not images to fetch


def test_ids_in_the_page_are_unique_and_resolve(html: bytes) -> None:
    text = html.decode()
    ids = re.findall(r'\bid="([^"]+)"', text)
    assert len(ids) == len(set(ids))
    refs = re.findall(r'(?:url\(#|href="#)([^")]+)', text)
    assert refs and set(refs) <= set(ids)


def test_cells_follow_their_column_format(html: bytes) -> None:
    text = html.decode()
    assert '<td class="num">12,345</td>' in text
    assert '<td class="num">0.3095</td>' in text  # rate: 4 decimals
    assert '<td class="num">0.731</td>' in text  # ratio: 3 decimals
    assert '<td class="time">2024-05-01T00:00:00Z</td>' in text
    assert '<td class="time">2024-05-01T00:00:01.500Z</td>' in text
    full = "sha256:" + "ab" * 32
    assert f'<td class="digest" title="{full}">sha256:abababababab…</td>' in text
    withheld = re.findall(r'<td class="withheld"[^>]*>([^<]*)</td>', text)
    assert withheld == ["withheld (201 rows)", "withheld (201 rows)"]  # never 0 or blank
    assert '<td class="na" title="no figure">—</td>' in text  # a missing ratio is not 0
    marked = re.findall(r'<tr class="marked">(.*?)</tr>', text, re.DOTALL)
    assert len(marked) == 1 and '<td class="mark">&lt; 2%</td>' in marked[0]
    assert "withheld (9 rows)" in text  # a withheld fact, too


def test_long_evidence_lists_are_cut_in_the_page_but_kept_whole(html: bytes) -> None:
    text = html.decode()
    assert "r00019" in text and "and 25 more" in text
    assert len(read_html_document(html)["evidence"]["report_ids"]) == 45


@pytest.mark.parametrize("regime", d.REGIMES)
def test_every_regime_renders_with_the_generic_renderer(regime: str) -> None:
    doc = sample_document(regime)
    html = render_html(doc).decode()
    assert f'class="regime-{regime}"' in html and doc["content_hash"] in html


def test_reading_a_file_without_a_report_names_what_to_do() -> None:
    with pytest.raises(DataError, match="no embedded report"):
        read_html_document(b"<html><body>hello</body></html>")
    with pytest.raises(DataError, match="cannot be read|no report.json"):
        read_pdf_document(b"%PDF-1.7 not really")


def test_an_edited_figure_breaks_the_hash(html: bytes) -> None:
    edited = html.replace(b'"ir":0.73118', b'"ir":0.83118')
    assert edited != html
    assert not d.has_valid_hash(read_html_document(edited))


# -- HTML in a browser --------------------------------------------------------------------


def test_html_in_chromium_shows_its_numbers_and_plots(
    browser: HeadlessChromium, html: bytes, doc: dict[str, Any], tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    page.write_bytes(html)
    visit = browser.visit(page.as_uri())
    assert visit.errors == []
    assert visit.requests == [page.as_uri()]  # nothing fetched but the page itself
    assert non_blank(visit.png)
    for number in (
        "12,345",
        "0.3095",
        "0.731",
        "withheld (201 rows)",
        "< 2%",
        doc["content_hash"],
        "Bias audit: credit-scorer v2",
    ):
        assert number in visit.text, number
    # the plots' own text is in the DOM: impact ratios, a jurisdiction's last value, PSI
    for plotted in ("US-NY 0.731", "threshold 0.8", "0.47", "job-7 reweighing", "1.000"):
        assert plotted in visit.text, plotted
    assert HOSTILE in visit.text  # shown as text, not parsed as markup


def test_html_needs_no_javascript(browser: HeadlessChromium, html: bytes, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_bytes(html)
    visit = browser.visit(page.as_uri(), javascript=False)
    assert non_blank(visit.png) and "withheld (201 rows)" in visit.text


def test_a_blank_page_is_seen_as_blank(browser: HeadlessChromium, tmp_path: Path) -> None:
    """The check the tests above rely on can fail."""
    page = tmp_path / "blank.html"
    page.write_text("<!DOCTYPE html><html><body></body></html>")
    assert not non_blank(browser.visit(page.as_uri()).png)


# -- PDF ----------------------------------------------------------------------------------


def test_pdf_pages_show_the_report(poppler: PopplerTools, pdf: bytes, tmp_path: Path) -> None:
    pages = pdf_pages(poppler, pdf, tmp_path / "pages")
    assert len(pages) >= 2
    assert len(pages) == len(PdfReader(io.BytesIO(pdf)).pages)
    assert all(non_blank(png, min_colours=4, max_share=0.999) for png in pages)
    text = pdf_text(poppler, pdf, tmp_path / "text")
    for needle in (
        "Bias audit: credit-scorer v2",
        "12,345",
        "0.731",
        "withheld (201 rows)",
        "US-NY 0.731",
        "job-7 reweighing",
        f"Page 1 of {len(pages)}",
    ):
        assert needle in text, needle


def test_pdf_carries_the_document_as_report_json(doc: dict[str, Any], pdf: bytes) -> None:
    back = read_pdf_document(pdf)
    assert back == doc and d.has_valid_hash(back)
    assert PdfReader(io.BytesIO(pdf)).attachments["report.json"] == [d.canonical_json(doc)]


def test_pdf_dates_are_the_as_of_time(doc: dict[str, Any], pdf: bytes) -> None:
    meta = PdfReader(io.BytesIO(pdf)).metadata
    assert meta is not None
    as_of = dt.datetime.fromtimestamp(doc["as_of_ms"] // 1000, tz=dt.UTC)
    assert meta.creation_date == as_of and meta.modification_date == as_of
    assert meta.title == doc["title"]
    assert b"D:20240509000001Z" in pdf  # the attachment's own dates, too


def test_pdf_renders_to_the_same_bytes_twice_without_warnings(
    pdf: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        again = render_pdf(sample_document())
    assert again == pdf
    assert [r.getMessage() for r in caplog.records if r.name.startswith("weasyprint")] == []
