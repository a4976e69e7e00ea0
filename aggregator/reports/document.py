"""A compliance report as data: the one document every format is rendered from.

A report is a plain JSON document (``fedgov.report/1``): what was asked (the
arguments), the model and scope, sections made of blocks (text, tables, plots
given by their data, never by pixels), and the evidence the figures rest on.
HTML and PDF are renderings of it; the JSON form is it. Its ``content_hash`` is
the SHA-256 of its canonical JSON without that field, so an edit to any figure
changes the hash, and the same store and arguments give the same bytes.

Blocks (``kind``):

* ``text``: ``paragraphs`` (list of strings).
* ``table``: ``columns`` (``key``, ``label``, ``format``: text | int | rate |
  ratio | time | digest) and ``rows`` (dicts by column key; a withheld cell is
  ``{"withheld": rows_it_covers}``, never 0 or blank), ``notes``, and optional
  ``marks``: row index -> a short mark such as ``"< 2%"``.
* ``plot``: ``plot`` (the kind: selection_rates | fairness_over_time |
  drift_heatmap | timeline), ``data`` (its numbers), ``alt`` (the text a reader
  without the picture gets).
* ``facts``: ``items``, a list of ``[label, value]`` pairs (a definition list).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "FORMAT",
    "FORMATS",
    "REGIMES",
    "canonical_json",
    "content_hash",
    "document",
    "facts",
    "has_valid_hash",
    "plot",
    "section",
    "table",
    "text",
    "withheld",
]

FORMAT = "fedgov.report/1"
REGIMES = ("nyc-ll144", "eu-ai-act", "colorado", "summary")
FORMATS = ("html", "pdf", "json")
COLUMN_FORMATS = ("text", "int", "rate", "ratio", "time", "digest")
PLOTS = ("selection_rates", "fairness_over_time", "drift_heatmap", "timeline")

Doc = dict[str, Any]


def _clean(value: Any) -> Any:
    """JSON-safe and stable: tuples become lists, non-finite floats None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def canonical_json(doc: Mapping[str, Any]) -> bytes:
    """The document's one byte form: sorted keys, no spaces, UTF-8."""
    return json.dumps(
        _clean(doc), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def content_hash(doc: Mapping[str, Any]) -> str:
    body = {k: v for k, v in doc.items() if k != "content_hash"}
    return "sha256:" + hashlib.sha256(canonical_json(body)).hexdigest()


def has_valid_hash(doc: Mapping[str, Any]) -> bool:
    return doc.get("content_hash") == content_hash(doc)


def text(*paragraphs: str) -> Doc:
    return {"kind": "text", "paragraphs": list(paragraphs)}


def facts(items: Iterable[tuple[str, Any]]) -> Doc:
    return {"kind": "facts", "items": [[label, value] for label, value in items]}


def table(
    columns: Sequence[tuple[str, str, str]],
    rows: Iterable[Mapping[str, Any]],
    *,
    notes: Iterable[str] = (),
    marks: Mapping[int, str] | None = None,
) -> Doc:
    """A table; ``columns`` are (key, label, format)."""
    for key, _, fmt in columns:
        if fmt not in COLUMN_FORMATS:
            raise ValueError(f"column {key}: format {fmt!r} is not one of {COLUMN_FORMATS}")
    return {
        "kind": "table",
        "columns": [{"key": k, "label": label, "format": fmt} for k, label, fmt in columns],
        "rows": [dict(r) for r in rows],
        "notes": list(notes),
        "marks": {str(i): m for i, m in sorted((marks or {}).items())},
    }


def withheld(rows: int) -> Doc:
    """A cell that privacy release control withheld, with how many rows it covers."""
    return {"withheld": int(rows)}


def plot(kind: str, data: Mapping[str, Any], alt: str) -> Doc:
    if kind not in PLOTS:
        raise ValueError(f"plot kind {kind!r} is not one of {PLOTS}")
    return {"kind": "plot", "plot": kind, "data": dict(data), "alt": alt}


def section(sid: str, title: str, blocks: Iterable[Doc]) -> Doc:
    return {"id": sid, "title": title, "blocks": list(blocks)}


def document(
    *,
    regime: str,
    title: str,
    arguments: Mapping[str, Any],
    as_of_ms: int,
    model: Mapping[str, Any],
    scope: Mapping[str, Any],
    sections: Iterable[Doc],
    evidence: Mapping[str, Any],
) -> Doc:
    """The whole report with its content hash. ``as_of_ms`` is the newest time of the
    evidence (never the clock), so rendering twice gives the same bytes."""
    if regime not in REGIMES:
        raise ValueError(f"regime {regime!r} is not one of {', '.join(REGIMES)}")
    doc = _clean(
        {
            "format": FORMAT,
            "regime": regime,
            "title": title,
            "arguments": dict(arguments),
            "as_of_ms": int(as_of_ms),
            "model": dict(model),
            "scope": dict(scope),
            "sections": list(sections),
            "evidence": dict(evidence),
        }
    )
    doc["content_hash"] = content_hash(doc)
    return doc
