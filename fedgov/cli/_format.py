"""Output helpers for the CLI: aligned tables for people, JSON for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = ["fmt", "iso", "print_json", "table"]


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
