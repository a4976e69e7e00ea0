"""A report from its regime's name, and its bytes in each format.

:func:`build` picks the regime's builder (``aggregator.reports.regimes.<name>``,
imported when asked for) and :func:`render` turns the document into bytes:
JSON is the document itself (:func:`~aggregator.reports.document.canonical_json`);
HTML and PDF come from :mod:`aggregator.reports.render`, imported only for them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

from aggregator.reports.document import FORMATS, REGIMES, canonical_json
from aggregator.reports.source import ReportArgs, ReportSource
from fedgov.errors import ConfigError

__all__ = ["FORMATS", "build", "builder", "installed_module", "render"]

Builder = Callable[[ReportSource, ReportArgs], dict[str, Any]]


def installed_module(module: str, absent: str) -> ModuleType:
    """``module``, or a ConfigError saying ``absent`` if it is not installed (an import
    error inside it is not hidden)."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise ConfigError(absent) from None


def builder(regime: str) -> Builder:
    """The ``build`` function of ``regime`` (one of :data:`REGIMES`)."""
    if regime not in REGIMES:
        raise ConfigError(f"unknown regime {regime!r}: use one of {', '.join(REGIMES)}")
    module = f"aggregator.reports.regimes.{regime.replace('-', '_')}"
    found = installed_module(module, f"regime {regime!r} is not in this installation (no {module})")
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
    renderer = installed_module(
        "aggregator.reports.render",
        f"--format {fmt}: the HTML/PDF renderer is not part of this installation; "
        "use --format json",
    )
    out: bytes = renderer.render_html(doc) if fmt == "html" else renderer.render_pdf(doc)
    return out
