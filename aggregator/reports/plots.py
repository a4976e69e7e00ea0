"""The report's plots as SVG text, drawn by matplotlib from a plot block's ``data``.

One function per kind in :data:`aggregator.reports.document.PLOTS`; :func:`render_svg`
picks by kind. Each returns the same bytes for the same data (a fixed ``svg.hashsalt``
derived from the data, no date in the metadata, DejaVu Sans) and keeps its text as
``<text>`` (``svg.fonttype = 'none'``), so numbers can be found in the HTML DOM and in
the PDF. Every id is prefixed (``id_prefix``, else one derived from the data) so that
plots inlined in one page never share an id. Figures are
:class:`matplotlib.figure.Figure` objects (no pyplot state shared between calls).
Empty data draws a figure that says "no data"; it never raises.

Data shapes (``None`` always means "no figure", never zero):

``selection_rates``
    ``{"groups": [{"name": str, "rate": float|None, "impact_ratio": float|None,
    "small": bool, "withheld": bool|int}], "threshold": 0.8, "label": str}``. Two
    panels: the rate (``label``, optional, names it: "Selection rate" by default, or
    e.g. "Scoring rate") and the impact ratio per group, the threshold line drawn and
    labelled on the ratio panel.
    ``withheld`` is false, or true / the number of rows privacy release control
    withheld (the bar is hatched and says "withheld (N rows)"); ``small`` marks a
    category under 2% of the data ("< 2%" after its name).
``fairness_over_time``
    ``{"series": [{"jurisdiction": str, "points": [[t_ms, value|None], ...]}],
    "threshold": float|None, "label": str}`` (``label``, optional, names the metric on
    the y axis). One line per jurisdiction, its last value written beside it.
``drift_heatmap``
    ``{"silos": [str], "features": [str], "periods": [str|t_ms], "psi": [matrix per
    period], "threshold": 0.2}``: each matrix is ``len(silos)`` rows of
    ``len(features)`` PSI values (``None``: no data for that cell). One panel per
    period with the value written in each cell; cells at or over the threshold bold.
    ``silos_total`` (optional) says how many silos there were when only some are drawn.
``timeline``
    ``{"events": [{"t_ms": int, "kind": str, "label": str}]}``: one lane per kind
    (retraining job, promotion, rollback, ...), each event labelled.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib import rc_context  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

__all__ = [
    "drift_heatmap",
    "fairness_over_time",
    "render_svg",
    "selection_rates",
    "timeline",
]

Data = Mapping[str, Any]

_RC: Any = {  # Any: matplotlib types rc_context keys as a Literal of every name
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "timezone": "UTC",
    "date.epoch": "1970-01-01T00:00:00",  # so a date number is t_ms / _DAY_MS
    "svg.image_inline": True,
}
# Colour-blind safe (Okabe-Ito); assigned by sorted name, so the same data, same colours.
_PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
_BAR, _BELOW, _WITHHELD, _LINE = "#0072B2", "#D55E00", "#BBBBBB", "#B00020"
# rc_context swaps the process-wide rcParams; one render at a time keeps them ours.
_LOCK = threading.Lock()
_DAY_MS = 86_400_000
_ID_OR_REF = re.compile(r'(\bid="|url\(#|href="#)([^")]+)')


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _utc(t_ms: int | float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t_ms / 1000, tz=dt.UTC)


def _period_label(period: Any) -> str:
    if isinstance(period, (int, float)) and not isinstance(period, bool):
        return _utc(period).strftime("%Y-%m-%d")
    return str(period)


def _to_svg(fig: Figure, salt: str, prefix: str) -> str:
    """The figure's SVG text, the same bytes every time for the same figure and salt, its
    ids (and references to them) prefixed so that plots inlined in one page never clash."""
    buf = io.StringIO()
    with rc_context({"svg.hashsalt": salt}):
        fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buf.getvalue()
    text = text[max(text.find("<svg"), 0) :]
    return _ID_OR_REF.sub(lambda m: m.group(1) + prefix + m.group(2), text)


def _date_axis(ax: Axes) -> None:
    locator = AutoDateLocator(minticks=3, maxticks=8)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]


def _no_data(fig: Figure, title: str) -> None:
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.text(0.5, 0.5, "no data", ha="center", va="center", fontsize=14, color="#555555")
    ax.set_title(title)


def _draw(
    kind: str, data: Data, size: tuple[float, float], body: Callable[[Figure], None], prefix: str
) -> str:
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
    with _LOCK, rc_context(_RC):
        fig = Figure(figsize=size, dpi=100, layout="constrained")
        body(fig)
        return _to_svg(fig, f"fedgov:{kind}:{digest[:16]}", prefix or f"fg{digest[:8]}-")


def _withheld_rows(group: Mapping[str, Any]) -> int | bool:
    value = group.get("withheld", False)
    if isinstance(value, bool):
        return value
    return int(value) if isinstance(value, (int, float)) and value > 0 else False


def _bars(
    ax: Axes,
    names: list[str],
    values: list[float | None],
    groups: Sequence[Data],
    *,
    threshold: float | None,
    title: str,
) -> None:
    ys = list(range(len(names)))
    top = max([v for v in values if v is not None] + [threshold or 0.0, 1e-9])
    width = top * 1.25
    for y, value, group in zip(ys, values, groups, strict=True):
        held = _withheld_rows(group)
        if held:
            ax.barh(y, width, color="white", edgecolor=_WITHHELD, hatch="///", linewidth=0.8)
            note = "withheld" if held is True else f"withheld ({held:,} rows)"
            ax.text(width * 0.02, y, note, va="center", fontsize=8, color="#333333")
            continue
        if value is None:
            ax.text(width * 0.02, y, "n/a", va="center", fontsize=8, color="#555555")
            continue
        below = threshold is not None and value < threshold
        ax.barh(y, value, color=_BELOW if below else _BAR)
        ax.text(value + width * 0.01, y, f"{value:.3f}", va="center", fontsize=8)
    if threshold is not None:
        ax.axvline(threshold, color=_LINE, linestyle="--", linewidth=1)
        ax.text(threshold, -0.55, f" {threshold:g}", color=_LINE, fontsize=8, va="bottom")
    ax.set_yticks(ys, names)
    ax.set_ylim(len(names) - 0.5, -0.5 - (0.3 if threshold is not None else 0))
    ax.set_xlim(0, width * 1.15)
    ax.set_title(title)


def selection_rates(data: Data, *, id_prefix: str = "") -> str:
    """Selection rate and impact ratio per group, with the threshold (0.8) line."""
    groups = [g for g in data.get("groups") or [] if isinstance(g, Mapping)]
    threshold = _num(data.get("threshold", 0.8))
    height = 1.2 + 0.32 * max(len(groups), 1)

    def body(fig: Figure) -> None:
        if not groups:
            _no_data(fig, "Selection rate and impact ratio")
            return
        names = [str(g.get("name", "")) + ("  (< 2%)" if g.get("small") else "") for g in groups]
        label = str(data.get("label") or "Selection rate")
        panels = (("rate", label, None), ("impact_ratio", "Impact ratio", threshold))
        for ax, (key, title, line) in zip(fig.subplots(1, 2, sharey=True), panels, strict=True):
            values = [_num(g.get(key)) for g in groups]
            _bars(ax, names, values, groups, threshold=line, title=title)
        if any(g.get("small") for g in groups):
            fig.text(
                0.01, 0.0, "(< 2%): category under 2% of the data", fontsize=7, color="#555555"
            )

    return _draw("selection_rates", data, (9.0, height), body, id_prefix)


def _points(series: Data) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for point in series.get("points") or []:
        if not isinstance(point, (list, tuple)) or len(point) != 2 or _num(point[0]) is None:
            continue
        value = _num(point[1])
        xs.append(float(point[0]) / _DAY_MS)
        ys.append(math.nan if value is None else value)
    return xs, ys


def fairness_over_time(data: Data, *, id_prefix: str = "") -> str:
    """A line per jurisdiction over time, its last value labelled, and the threshold."""
    series = sorted(
        (s for s in data.get("series") or [] if isinstance(s, Mapping)),
        key=lambda s: str(s.get("jurisdiction", "")),
    )
    drawn = [(s, *_points(s)) for s in series]
    drawn = [d for d in drawn if d[1]]
    threshold = _num(data.get("threshold"))
    label = str(data.get("label") or "value")

    def body(fig: Figure) -> None:
        if not drawn:
            _no_data(fig, "Fairness over time")
            return
        ax = fig.add_subplot()
        for i, (s, xs, ys) in enumerate(drawn):
            colour = _PALETTE[i % len(_PALETTE)]
            name = str(s.get("jurisdiction", ""))
            ax.plot(xs, ys, marker="o", markersize=3, color=colour, label=name)
            last = [(x, y) for x, y in zip(xs, ys, strict=True) if not math.isnan(y)]
            if last:
                ax.annotate(
                    f"{name} {last[-1][1]:.3f}",
                    last[-1],
                    xytext=(4, 0),
                    textcoords="offset points",
                    fontsize=7,
                    color=colour,
                    va="center",
                )
        if threshold is not None:
            ax.axhline(threshold, color=_LINE, linestyle="--", linewidth=1)
            ax.annotate(
                f"threshold {threshold:g}",
                (0, threshold),
                xycoords=("axes fraction", "data"),
                xytext=(2, 2),
                textcoords="offset points",
                color=_LINE,
                fontsize=7,
            )
        times = [x for _, xs, _ in drawn for x in xs]
        if min(times) == max(times):  # one moment: an hour around it, not years of axis
            ax.set_xlim(min(times) - 1 / 48, max(times) + 1 / 48)  # x is in days
        _date_axis(ax)
        ax.set_ylabel(label)
        ax.set_title(f"{label} over time per jurisdiction")
        ax.legend(loc="best", fontsize=7, frameon=False)

    return _draw("fairness_over_time", data, (8.0, 3.6), body, id_prefix)


def _cell(matrix: Any, i: int, j: int) -> float | None:
    try:
        return _num(matrix[i][j])
    except (IndexError, KeyError, TypeError):
        return None


def drift_heatmap(data: Data, *, id_prefix: str = "") -> str:
    """PSI per silo x feature, one panel per period, each value written in its cell."""
    silos = [str(s) for s in data.get("silos") or []]
    features = [str(f) for f in data.get("features") or []]
    periods = list(data.get("periods") or [])
    matrices = list(data.get("psi") or [])
    threshold = _num(data.get("threshold", 0.2))
    empty = not (silos and features and periods)
    cols = min(len(periods), 3) or 1
    rows = max(math.ceil(len(periods) / cols), 1)
    size = (
        max(3.2 * cols, 0.9 * len(features) * cols + 1.5),
        0.9 + rows * (0.45 * len(silos) + 1.1),
    )

    def body(fig: Figure) -> None:
        if empty:
            _no_data(fig, "Drift (PSI) per silo and feature")
            return
        vmax = max(
            [threshold or 0.2]
            + [
                v
                for m in matrices
                for i in range(len(silos))
                for j in range(len(features))
                if (v := _cell(m, i, j)) is not None
            ]
        )
        axes = fig.subplots(rows, cols, squeeze=False)
        image = None
        for k, ax in enumerate(axes.flat):
            if k >= len(periods):
                ax.set_axis_off()
                continue
            matrix = matrices[k] if k < len(matrices) else []
            grid = [[_cell(matrix, i, j) for j in range(len(features))] for i in range(len(silos))]
            shown = [[math.nan if v is None else v for v in row] for row in grid]
            image = ax.imshow(shown, cmap="YlOrRd", vmin=0.0, vmax=vmax, aspect="auto")
            for i, row in enumerate(grid):
                for j, v in enumerate(row):
                    hot = v is not None and threshold is not None and v >= threshold
                    ax.text(
                        j,
                        i,
                        "–" if v is None else f"{v:.2f}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        fontweight="bold" if hot else "normal",
                        color="white" if v is not None and v > 0.6 * vmax else "black",
                    )
            ax.set_xticks(range(len(features)), features, rotation=30, ha="right")
            ax.set_yticks(range(len(silos)), silos)
            ax.set_title(_period_label(periods[k]))
        if image is not None:
            bar = fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8)
            bar.set_label("PSI" + (f" (bold: >= {threshold:g})" if threshold is not None else ""))
        fig.suptitle("Drift (PSI) per silo and feature")

    return _draw("drift_heatmap", data, size, body, id_prefix)


def timeline(data: Data, *, id_prefix: str = "") -> str:
    """Events (retraining, promotion, rollback...) on one time axis, one lane per kind."""
    events = sorted(
        (
            e
            for e in data.get("events") or []
            if isinstance(e, Mapping) and _num(e.get("t_ms")) is not None
        ),
        key=lambda e: (e["t_ms"], str(e.get("kind", "")), str(e.get("label", ""))),
    )
    kinds = sorted({str(e.get("kind", "")) for e in events})
    height = 1.4 + 0.5 * max(len(kinds), 1)

    def body(fig: Figure) -> None:
        if not events:
            _no_data(fig, "Retraining and promotion timeline")
            return
        ax = fig.add_subplot()
        lane = {k: i for i, k in enumerate(kinds)}
        for n, event in enumerate(events):
            kind = str(event.get("kind", ""))
            x = event["t_ms"] / _DAY_MS
            ax.plot([x], [lane[kind]], marker="o", color=_PALETTE[lane[kind] % len(_PALETTE)])
            ax.annotate(
                str(event.get("label", "")),
                (x, lane[kind]),
                xytext=(0, 7 if n % 2 == 0 else -11),
                textcoords="offset points",
                ha="center",
                fontsize=7,
            )
        ax.set_yticks(range(len(kinds)), kinds)
        ax.set_ylim(-0.7, len(kinds) - 0.3)
        if len({e["t_ms"] for e in events}) == 1:
            x = events[0]["t_ms"] / _DAY_MS
            ax.set_xlim(x - 1, x + 1)
        _date_axis(ax)
        ax.grid(axis="x", color="#DDDDDD", linewidth=0.5)
        ax.set_title("Retraining and promotion timeline")

    return _draw("timeline", data, (8.0, height), body, id_prefix)


_BY_KIND: dict[str, Callable[..., str]] = {
    "selection_rates": selection_rates,
    "fairness_over_time": fairness_over_time,
    "drift_heatmap": drift_heatmap,
    "timeline": timeline,
}


def render_svg(kind: str, data: Data, *, id_prefix: str = "") -> str:
    """The SVG of a plot block; an unknown kind is a ValueError naming the known ones."""
    try:
        draw = _BY_KIND[kind]
    except KeyError:
        raise ValueError(f"plot kind {kind!r} is not one of {sorted(_BY_KIND)}") from None
    return draw(data, id_prefix=id_prefix)
