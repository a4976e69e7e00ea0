"""A report to download: ``/reports/<model>/<regime>.<fmt>``, built on request.

The report is built from the same query API the pages use, by the regimes'
builder and renderer (:mod:`aggregator.reports.build`), imported only when a
report is asked for. A regime that needs more than a model (colorado: a model
card) answers with the error page its ConfigError makes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aggregator.dashboard.views import Page
from aggregator.reports import document

__all__ = ["FORMATS", "Download", "report_download"]

_TYPES = {"html": "text/html; charset=utf-8", "pdf": "application/pdf", "json": "application/json"}
FORMATS = {fmt: _TYPES[fmt] for fmt in document.FORMATS}  # format -> its content type


@dataclass(frozen=True)
class Download:
    """A file answer: sent with ``Content-Disposition: attachment``."""

    filename: str
    content_type: str
    body: bytes


def report_download(source: Any, model: str, regime: str, fmt: str) -> Download | Page:
    """The report of ``model`` under ``regime`` as ``fmt``, built now from the query API,
    exactly as ``fedgov report`` builds it (the same bytes for the same store)."""
    from aggregator.reports.build import build, render
    from aggregator.reports.source import ReportArgs

    args = ReportArgs(model="" if regime == "summary" else model, regime=regime)
    doc = build(source, args)
    return Download(f"report-{model}-{regime}.{fmt}", FORMATS[fmt], render(doc, fmt))
