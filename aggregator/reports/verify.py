"""``fedgov report verify``: is a report what the store says, byte for byte?

Three checks, each naming what differs:

1. the document's ``content_hash`` matches its content (an edit to the JSON
   that left the hash alone is caught here);
2. the document re-derived from the store with the document's own
   ``arguments`` equals it, figure by figure (a difference is named by
   section, table, row and column);
3. for HTML and PDF, re-rendering the re-derived document gives the file's
   bytes (an edit to a visible table cell that left the embedded JSON alone is
   caught here).

The document is read from a JSON file, from an HTML report's ``<script
id="fedgov-report">`` or from a PDF report's ``report.json`` attachment (the
last two through :mod:`aggregator.reports.render`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from aggregator.reports.build import build, installed_module, render
from aggregator.reports.document import FORMAT, has_valid_hash
from aggregator.reports.source import ReportArgs, ReportSource, iso_time
from fedgov.errors import DataError

__all__ = ["Verdict", "differences", "read_report", "verify"]

_SHOWN = 20  # differences listed at most


@dataclass(frozen=True)
class Verdict:
    """What :func:`verify` found; ``problems`` is empty when the report verifies."""

    path: str
    format: str
    content_hash: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _renderer(fmt: str) -> ModuleType:
    return installed_module(
        "aggregator.reports.render",
        f"this installation has no HTML/PDF renderer, so it cannot read {fmt.upper()} "
        "reports; verify the JSON form (`fedgov report --format json`)",
    )


def read_report(path: Path) -> tuple[dict[str, Any], str, bytes]:
    """(document, format, the file's bytes) of a JSON, HTML or PDF report."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the report ({exc.strerror or exc})") from None
    head = raw.lstrip()[:16]
    if raw.startswith(b"%PDF"):
        fmt = "pdf"
        doc = _renderer(fmt).read_pdf_document(raw)
    elif head.startswith(b"{"):
        fmt = "json"
        try:
            doc = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: not valid JSON ({exc}); is it a fedgov report?") from None
    elif head.startswith(b"<"):
        fmt = "html"
        doc = _renderer(fmt).read_html_document(raw)
    else:
        raise DataError(f"{path}: neither JSON, HTML nor PDF; give a file `fedgov report` wrote")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise DataError(f"{path}: not a {FORMAT} document; give a file `fedgov report` wrote")
    return doc, fmt, raw


def _label(node: Any) -> str:
    """How a list item is named in a difference: its id, category or first cell."""
    if isinstance(node, Mapping):
        for key in ("id", "category", "silo", "model", "job", "figure", "key"):
            if isinstance(node.get(key), str):
                return str(node[key])
    return ""


def _where(path: list[str]) -> str:
    return ".".join(path) or "the document"


def differences(found: Any, expected: Any, path: list[str] | None = None) -> list[str]:
    """Where ``found`` (the file's document) and ``expected`` (the store's) differ."""
    path = path or []
    if isinstance(found, Mapping) and isinstance(expected, Mapping):
        out: list[str] = []
        for key in sorted(set(found) | set(expected)):
            if key == "content_hash":
                continue
            if key not in expected:
                out.append(f"{_where([*path, key])}: in the report, not in the store's")
            elif key not in found:
                out.append(f"{_where([*path, key])}: missing from the report")
            else:
                out += differences(found[key], expected[key], [*path, key])
        return out
    if isinstance(found, list) and isinstance(expected, list):
        out = []
        if len(found) != len(expected):
            out.append(
                f"{_where(path)}: {len(found)} item(s) in the report, {len(expected)} in the store"
            )
        for i, (f, e) in enumerate(zip(found, expected, strict=False)):
            name = _label(e) or _label(f)
            out += differences(f, e, [*path, f"{i}" + (f"[{name}]" if name else "")])
        return out
    if found != expected or type(found) is not type(expected):
        return [f"{_where(path)}: report says {found!r}, the store gives {expected!r}"]
    return []


def _first_diff(a: bytes, b: bytes) -> int:
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)


def _bytes_problem(fmt: str, raw: bytes, rendered: bytes) -> str:
    at = _first_diff(raw, rendered)
    lo = max(0, at - 40)
    shown = raw[lo : at + 40].decode("utf-8", errors="replace")
    if fmt == "pdf":
        return f"the PDF differs from a re-rendering of the store's document (from byte {at})"
    return (
        f"the {fmt.upper()} differs from a re-rendering of the store's document at byte {at}: "
        f"...{shown}... (the visible page was edited, or rendered by another version)"
    )


def verify(path: Path, source: ReportSource) -> Verdict:
    """Check the report at ``path`` against the store behind ``source``."""
    doc, fmt, raw = read_report(path)
    problems: list[str] = []
    claimed = str(doc.get("content_hash", ""))
    if not has_valid_hash(doc):
        problems.append(
            "content_hash does not match the document's content: it was edited after "
            "`fedgov report` made it"
        )
    arguments = doc.get("arguments")
    if not isinstance(arguments, Mapping):
        raise DataError(f"{path}: the document has no arguments to re-derive it from")
    fresh = build(source, ReportArgs.from_arguments(arguments))
    found = differences(doc, fresh)
    if found:
        newer = int(fresh.get("as_of_ms", 0)) > int(doc.get("as_of_ms", 0) or 0)
        if newer:
            problems.append(
                f"the store holds evidence newer than the report (as of "
                f"{iso_time(int(doc.get('as_of_ms', 0) or 0))}, now "
                f"{iso_time(int(fresh['as_of_ms']))}): figures may differ for that reason"
            )
        problems += found[:_SHOWN]
        if len(found) > _SHOWN:
            problems.append(f"... and {len(found) - _SHOWN} more difference(s)")
    if fmt != "json" and not problems:
        rendered = render(fresh, fmt)
        if rendered != raw:
            problems.append(_bytes_problem(fmt, raw, rendered))
    return Verdict(str(path), fmt, claimed, problems)
