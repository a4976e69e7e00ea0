"""Output helpers for the CLI: aligned tables for people, JSON for scripts."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from fedgov.errors import ConfigError

__all__ = ["fmt", "iso", "parse_duration", "parse_since", "print_json", "table"]


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


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | None) -> int:
    """'' -> 0; '90m', '2h', '7d' -> milliseconds."""
    if not text:
        return 0
    m = _DURATION.match(text.strip())
    if not m:
        raise ConfigError(f"duration {text!r}: use a number and a unit, like 30s, 15m, 6h, 2d, 1w")
    return int(float(m.group(1)) * _UNIT[m.group(2)] * 1000)


def parse_since(text: str | None) -> int:
    """'' -> 0; '90m', '2h', '7d' -> that long ago; ISO 8601 -> that instant (unix ms)."""
    if not text:
        return 0
    if _DURATION.match(text.strip()):
        return int(time.time() * 1000) - parse_duration(text)
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"--since {text!r}: use a duration like 30m, 2h, 7d "
            "or an ISO time like 2026-11-27T10:00"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


def iso(ms: int) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
