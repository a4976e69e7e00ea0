"""Every regime's plots draw what their data says (never the "no data" figure because a
key was misnamed), the page renders, and a store of many windows gives a document of
bounded size."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from support.report_source import (
    EU_BUNDLE,
    FakeSource,
    fake_source,
    report_args,
    write_model_card,
)

from aggregator.reports.build import build
from aggregator.reports.document import REGIMES, canonical_json
from aggregator.reports.plots import render_svg
from aggregator.reports.render import read_html_document, render_html
from aggregator.reports.source import ReportArgs

PLOT_KEYS = {
    "selection_rates": {"groups", "threshold", "label"},
    "fairness_over_time": {"series", "threshold", "label"},
    "drift_heatmap": {"silos", "silos_total", "features", "periods", "psi", "threshold"},
    "timeline": {"events"},
}
GROUP_KEYS = {"name", "rate", "impact_ratio", "small", "withheld"}


def _args(regime: str, card: Path) -> ReportArgs:
    card_of = {"model_card": card} if regime == "colorado" else {}
    return report_args(regime, policies=(str(EU_BUNDLE),), **card_of)


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_model_card(tmp_path_factory.mktemp("card"))


@pytest.fixture(scope="module")
def src() -> FakeSource:
    return fake_source()


@pytest.fixture(scope="module")
def docs(src: FakeSource, card: Path) -> dict[str, dict[str, Any]]:
    return {regime: build(src, _args(regime, card)) for regime in REGIMES}


def _plots(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for s in doc["sections"] for b in s["blocks"] if b["kind"] == "plot"]


def _drawn(kind: str, data: dict[str, Any], svg: str) -> None:
    """The SVG shows the data's own numbers and names (so the keys were read)."""
    assert "no data" not in svg, kind
    if kind == "selection_rates":
        for g in data["groups"]:
            assert set(g) == GROUP_KEYS
            if g["withheld"]:
                assert "withheld" in svg
            elif g["rate"] is not None:
                assert f"{g['rate']:.3f}" in svg, g
                assert g["impact_ratio"] is None or f"{g['impact_ratio']:.3f}" in svg
    elif kind == "fairness_over_time":
        assert data["series"]
        for s in data["series"]:
            assert set(s) == {"jurisdiction", "points"}
            assert f"{s['jurisdiction']} {s['points'][-1][1]:.3f}" in svg
        assert svg.count('<g id="') and "line2d" in svg
    elif kind == "drift_heatmap":
        for name in data["silos"] + data["features"]:
            assert name in svg
        values = [v for per in data["psi"] for row in per for v in row if v is not None]
        assert values and f"{max(values):.2f}" in svg
    elif kind == "timeline":
        assert data["events"]
        for e in data["events"]:
            assert set(e) == {"t_ms", "kind", "label"}
            assert e["label"].replace("&", "&amp;") in svg


@pytest.mark.parametrize("regime", [r for r in REGIMES if r != "summary"])
def test_every_plot_of_every_regime_draws_its_data(
    docs: dict[str, dict[str, Any]], regime: str
) -> None:
    plots = _plots(docs[regime])
    assert plots
    kinds = {p["plot"] for p in plots}
    if regime == "eu-ai-act":
        assert kinds == {"fairness_over_time", "drift_heatmap", "timeline"}
    for p in plots:
        assert set(p["data"]) == PLOT_KEYS[p["plot"]], p["plot"]
        _drawn(p["plot"], p["data"], render_svg(p["plot"], p["data"]))


@pytest.mark.parametrize("regime", REGIMES)
def test_every_regime_renders_to_html(docs: dict[str, dict[str, Any]], regime: str) -> None:
    html = render_html(docs[regime])
    assert read_html_document(html) == docs[regime]
    assert html.decode().count("<svg") == len(_plots(docs[regime]))


def test_many_windows_give_a_bounded_document(card: Path) -> None:
    """20x the windows: the time series are folded per period, the reports they rest on
    given by count and digest; the document does not grow with the store."""
    sizes = {}
    for windows in (6, 120):
        src = fake_source(windows, rows=300)
        eu = build(src, _args("eu-ai-act", card))
        nyc = build(src, _args("nyc-ll144", card))
        sizes[windows] = (len(canonical_json(eu)), len(canonical_json(nyc)))
        series = eu["evidence"]["series_reports"]
        ids = sorted(w.report_id for w in src.windows if w.version == "1.0.0")
        assert series["count"] == len(ids) == 3 * windows
        assert series["sha256"] == "sha256:" + hashlib.sha256("\n".join(ids).encode()).hexdigest()
        (heat,) = [p for p in _plots(eu) if p["plot"] == "drift_heatmap"]
        assert len(heat["data"]["periods"]) <= 12
        for p in _plots(eu):
            if p["plot"] == "fairness_over_time":
                assert all(len(s["points"]) <= 12 for s in p["data"]["series"])
                assert "lowest" in p["alt"]
    (eu_small, nyc_small), (eu_big, nyc_big) = sizes[6], sizes[120]
    assert eu_big < 1.25 * eu_small, sizes
    assert nyc_big < 1.1 * nyc_small, sizes
