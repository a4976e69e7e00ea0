"""Pages to HTML: the Jinja2 templates in ``templates/`` and the plots drawn as SVG.

Plots are drawn by the reports' plotting module (:mod:`aggregator.reports.plots`,
one function per plot kind taking the kind's data dict and returning an SVG
string), so the dashboard shows the pictures the reports print. Where that
module is not installed, or cannot draw a plot, the page shows the plot's
numbers as a table instead (the template's fallback), never a broken image.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

__all__ = ["Renderer", "format_ms", "plot_svg"]

log = logging.getLogger(__name__)


def format_ms(t_ms: int | None) -> str:
    """A Unix time in ms as UTC ``YYYY-MM-DD HH:MM:SSZ`` ("never" for 0 or None)."""
    if not t_ms:
        return "never"
    return dt.datetime.fromtimestamp(t_ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def format_number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def plot_svg(kind: str, data: dict[str, Any]) -> Markup | None:
    """The plot as inline SVG, drawn by the reports' plotting module (the same picture
    as in a report), or None when it cannot be drawn (the page then shows its numbers)."""
    from aggregator.reports.plots import render_svg

    try:
        svg = render_svg(kind, data)
    except Exception:  # noqa: BLE001 - a plot that cannot be drawn falls back to its table
        log.exception("plot %s could not be drawn; showing its numbers", kind)
        return None
    start = svg.find("<svg")
    return Markup(svg[start:]) if start >= 0 else None  # noqa: S704 - our own matplotlib SVG


class Renderer:
    """The dashboard's templates, autoescaped; every page gets ``viewer`` and ``role``."""

    def __init__(self, **common: Any) -> None:
        self.env = Environment(
            loader=PackageLoader("aggregator.dashboard", "templates"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["time"] = format_ms
        self.env.filters["num"] = format_number
        self.env.globals["plot_svg"] = plot_svg
        self.common = common

    def page(self, template: str, context: dict[str, Any]) -> bytes:
        return self.env.get_template(template).render(**self.common, **context).encode()
