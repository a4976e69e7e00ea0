"""A report to download: ``/reports/<model>/<regime>.<fmt>``, built on request.

The report is built from the same query API the pages use, by the regimes'
builder (:mod:`aggregator.reports.build`) and rendered by
:mod:`aggregator.reports.render`; JSON is the document itself. Both are imported
only when a report is asked for: while an installation lacks them, the answer
is a 501 page that says so (no half-made report).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from aggregator.dashboard.views import Page

__all__ = ["FORMATS", "Download", "report_download"]

FORMATS = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "json": "application/json",
}


@dataclass(frozen=True)
class Download:
    """A file answer: sent with ``Content-Disposition: attachment``."""

    filename: str
    content_type: str
    body: bytes


def _missing(what: str) -> Page:
    return Page(
        "error.html",
        {
            "title": "Reports not available here",
            "message": f"{what} is not part of this installation yet; "
            "use `fedgov report` from the command line when it is",
        },
        status=501,
    )


def report_download(source: Any, model: str, regime: str, fmt: str) -> Download | Page:
    """The report of ``model`` under ``regime`` as ``fmt``, or a 501 page if the builder or
    renderer is missing."""
    try:
        build = importlib.import_module("aggregator.reports.build")
        src = importlib.import_module("aggregator.reports.source")
    except ModuleNotFoundError as exc:
        if exc.name not in ("aggregator.reports.build", "aggregator.reports.source"):
            raise
        return _missing("building reports (aggregator.reports.build)")
    doc = build.build_report(source, src.ReportArgs(model=model, regime=regime))
    filename = f"report-{model}-{regime}.{fmt}"
    if fmt == "json":
        from aggregator.reports.document import canonical_json

        return Download(filename, FORMATS[fmt], canonical_json(doc))
    try:
        render = importlib.import_module("aggregator.reports.render")
    except ModuleNotFoundError as exc:
        if exc.name != "aggregator.reports.render":
            raise
        return _missing("rendering reports as HTML or PDF (aggregator.reports.render)")
    if fmt == "html":
        return Download(filename, FORMATS[fmt], render.render_html(doc).encode())
    return Download(filename, FORMATS[fmt], bytes(render.render_pdf(doc)))
