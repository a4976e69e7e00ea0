"""A report from its regime's name, and its bytes in each format.

:func:`build` picks the regime's builder (``aggregator.reports.regimes.<name>``,
imported when asked for) and :func:`render` turns the document into bytes:
JSON is the document itself (:func:`~aggregator.reports.document.canonical_json`);
HTML and PDF come from :mod:`aggregator.reports.render`, imported only for them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from aggregator.reports.document import REGIMES, canonical_json
from aggregator.reports.source import ReportArgs, ReportSource
from fedgov.errors import ConfigError

__all__ = ["FORMATS", "build", "builder", "render"]

FORMATS = ("html", "pdf", "json")

Builder = Callable[[ReportSource, ReportArgs], dict[str, Any]]


def _missing(exc: ModuleNotFoundError, module: str) -> bool:
    """The module itself is absent (not one of its imports)."""
    return exc.name == module


def builder(regime: str) -> Builder:
    """The ``build`` function of ``regime`` (one of :data:`REGIMES`)."""
    if regime not in REGIMES:
        raise ConfigError(f"unknown regime {regime!r}: use one of {', '.join(REGIMES)}")
    module = f"aggregator.reports.regimes.{regime.replace('-', '_')}"
    try:
        found = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if not _missing(exc, module):
            raise
        raise ConfigError(
            f"regime {regime!r} is not part of this installation (no {module}); "
            f"use one of the others"
        ) from None
    build_fn: Builder = found.build
    return build_fn


def build(source: ReportSource, args: ReportArgs) -> dict[str, Any]:
    """The document of ``args.regime`` over what ``source`` answers."""
    return builder(args.regime)(source, args)


def render(doc: dict[str, Any], fmt: str) -> bytes:
    """The document's bytes as ``fmt`` (html, pdf or json)."""
    if fmt == "json":
        return canonical_json(doc)
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    module = "aggregator.reports.render"
    try:
        renderer = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if not _missing(exc, module):
            raise
        raise ConfigError(
            f"--format {fmt}: the HTML/PDF renderer ({module}) is not part of this "
            "installation; use --format json"
        ) from None
    out: bytes = renderer.render_html(doc) if fmt == "html" else renderer.render_pdf(doc)
    return out
