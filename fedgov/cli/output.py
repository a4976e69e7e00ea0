"""Output for the CLI: aligned tables for people, JSON for scripts.

The primitives every verb family uses (:func:`table`, :func:`print_json`,
:func:`fmt`, :func:`iso`) and the core's one answer printer,
:func:`print_fairness` (fairness metrics as :func:`fedgov.metrics.compute_metrics`
shapes them, printed by `fedgov stats` and by the aggregator's `query fairness`).
Each side keeps the printers of its own answers beside its verbs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = ["fmt", "iso", "print_fairness", "print_json", "table"]


def fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, (list, tuple)):
        return ", ".join(fmt(x) for x in v) or "-"
    return str(v)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, out: Any = None) -> str:
    cells = [[fmt(c) for c in r] for r in rows]
    widths = [len(h) for h in headers]
    for r in cells:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    text = "\n".join(line.rstrip() for line in lines)
    print(text, file=out or sys.stdout)
    return text


def print_json(doc: Any) -> None:
    print(json.dumps(doc, indent=2, sort_keys=True, allow_nan=False))


def iso(ms: int) -> str:
    if not ms:
        return "-"
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):  # outside years 1..9999: show the number
        return f"{ms} ms"


def print_fairness(ans: dict[str, Any]) -> None:
    """One model's fairness: per attribute, per group, and per group's scores if any."""
    print(
        f"model {ans['model']} version {ans['version']}: {ans['rows']} rows from "
        f"{ans['reports']} report(s), silos {fmt(ans['silos'])} "
        f"(jurisdictions {fmt(ans['jurisdictions'])})"
    )
    if ans.get("source"):
        period = f", period {ans['period']}" if ans.get("period") else ""
        print(f"source: {ans['source']}{period}")
    fairness = ans["metrics"].get("fairness") or {}
    table(
        ["attribute", "DP difference", "DP ratio", "EO difference", "EO ratio", "EOpp difference"],
        [
            [
                attr,
                m.get("demographic_parity_difference"),
                m.get("demographic_parity_ratio"),
                m.get("equalized_odds_difference"),
                m.get("equalized_odds_ratio"),
                m.get("equal_opportunity_difference"),
            ]
            for attr, m in fairness.items()
        ],
    )
    print()
    table(
        ["attribute", "group", "rows", "selection rate", "TPR", "FPR", "accuracy"],
        [
            [
                attr,
                g,
                gm.get("count"),
                gm.get("selection_rate"),
                gm.get("tpr"),
                gm.get("fpr"),
                gm.get("accuracy"),
            ]
            for attr, m in fairness.items()
            for g, gm in (m.get("groups") or {}).items()
            if gm.get("count")  # empty slots (no rows) say nothing
        ],
    )
    scored = {attr: m for attr, m in fairness.items() if "auc_difference" in m}
    if not scored:  # the spec has no score column (or a report predates score histograms)
        return
    print()
    table(
        ["attribute", "group", "scored", "AUC", "AUC bound", "calibration error", "ECE bound"],
        [
            [
                attr,
                g,
                gm.get("scored"),
                gm.get("auc"),
                gm.get("auc_bound"),
                gm.get("calibration_error"),
                gm.get("calibration_error_bound"),
            ]
            for attr, m in scored.items()
            for g, gm in (m.get("groups") or {}).items()
            if gm.get("scored")
        ]
        + [
            [
                attr,
                "(difference / max)",
                None,
                m.get("auc_difference"),
                None,
                m.get("max_calibration_error"),
                None,
            ]
            for attr, m in scored.items()
        ],
    )
