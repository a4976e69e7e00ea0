"""HTML and PDF renderings of a report document, and reading the document back.

One generic renderer walks the document's sections and blocks (text, facts, table,
plot), so every regime renders without code of its own; only the header's subtitle
depends on the regime. The HTML is one self-contained file: inline CSS, plots as
inline SVG (their numbers are text in the DOM), no script to run, no external
request; the document itself is embedded as ``<script type="application/json"
id="fedgov-report">`` (every ``<`` escaped as ``\\u003c``). The PDF is WeasyPrint's
rendering of the same HTML (A4, page numbers) with the canonical JSON attached as
``report.json``; its creation and modification dates, the attachment's dates and
its file identifier come from the document (``as_of_ms``, ``content_hash``), never
the clock, so rendering twice gives the same bytes.

Table cells follow their column's ``format``: ``int`` with thousands separators,
``rate`` with 4 decimals, ``ratio`` with 3, ``time`` as UTC ISO 8601, ``digest``
shortened with the full value in its ``title``. A withheld cell reads
"withheld (N rows)"; a missing figure reads "—", never 0.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
import shlex
from collections.abc import Mapping
from typing import Any

import jinja2
from markupsafe import Markup

from aggregator.reports.document import canonical_json
from aggregator.reports.plots import render_svg
from fedgov.errors import DataError

__all__ = [
    "ATTACHMENT_NAME",
    "format_cell",
    "read_html_document",
    "read_pdf_document",
    "render_html",
    "render_pdf",
]

ATTACHMENT_NAME = "report.json"
SCRIPT_ID = "fedgov-report"
REGIME_SUBTITLES = {
    "nyc-ll144": "Bias audit summary under NYC Local Law 144 (6 RCNY 5-300 ff.)",
    "eu-ai-act": "Post-market monitoring under the EU AI Act (Art. 72, Art. 10(2)(f), Annex IV)",
    "colorado": "Impact assessment under Colorado SB 24-205",
    "summary": "Compliance overview across all models",
}
_LIST_SHOWN = 20  # items of a long evidence list shown in the page; all are in the JSON
_NA = "—"

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("aggregator.reports", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

Cell = dict[str, str]


def _iso(t_ms: int | float) -> str:
    moment = dt.datetime.fromtimestamp(t_ms / 1000, tz=dt.UTC)
    text = moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def _short_digest(value: str) -> str:
    algo, sep, hexpart = value.rpartition(":")
    return f"{algo}{sep}{hexpart[:12]}…" if len(hexpart) > 16 else value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_withheld(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"withheld"}


def format_cell(value: Any, fmt: str) -> Cell:
    """A table cell as ``text``, ``title`` (full value, if shortened) and ``cls``."""
    if _is_withheld(value):
        return {
            "text": f"withheld ({int(value['withheld']):,} rows)",
            "title": "withheld by privacy release control",
            "cls": "withheld",
        }
    if value is None:
        return {"text": _NA, "title": "no figure", "cls": "na"}
    if _is_number(value) and fmt in ("int", "rate", "ratio", "time"):
        if fmt == "int":
            whole = isinstance(value, int) or value.is_integer()
            return {
                "text": f"{int(value):,}" if whole else f"{value:,.2f}",
                "title": "",
                "cls": "num",
            }
        if fmt == "time":
            return {"text": _iso(value), "title": "", "cls": "time"}
        return {
            "text": f"{value:.4f}" if fmt == "rate" else f"{value:.3f}",
            "title": "",
            "cls": "num",
        }
    if fmt == "digest" and isinstance(value, str):
        short = _short_digest(value)
        return {"text": short, "title": value if short != value else "", "cls": "digest"}
    return {"text": _plain(value), "title": "", "cls": ""}


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return format(value, ".6g")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (list, tuple)) and all(not isinstance(v, (list, dict)) for v in value):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def _auto(value: Any) -> Cell:
    """A value without a declared format (facts, evidence): digests and withheld cells
    are recognised, numbers get thousands separators."""
    if isinstance(value, str) and value.startswith("sha256:"):
        return format_cell(value, "digest")
    return format_cell(value, "text")


def _tree(value: Any, key: str = "") -> dict[str, Any]:
    """Nested evidence as a tree the template draws recursively (a ``*_ms`` number is
    shown as its UTC time)."""
    if isinstance(value, Mapping) and not _is_withheld(value):
        items = [(str(k).removesuffix("_ms"), _tree(v, str(k))) for k, v in sorted(value.items())]
        return {"kind": "map", "items": items}
    if isinstance(value, (list, tuple)) and value:
        shown = [_tree(v) for v in value[:_LIST_SHOWN]]
        return {"kind": "list", "items": shown, "more": max(len(value) - _LIST_SHOWN, 0)}
    if key.endswith("_ms") and isinstance(value, int) and not isinstance(value, bool) and value:
        return {"kind": "scalar", **format_cell(value, "time")}
    return {"kind": "scalar", **_auto(value)}


def _command(arguments: Mapping[str, Any]) -> str:
    """The ``fedgov report`` command line that builds this document again."""
    words = ["fedgov", "report"]
    for key, value in sorted(arguments.items()):
        if value in (None, "", 0, [], ()):
            continue
        flag = "--policy" if key == "policies" else "--" + key.removesuffix("_ms").replace("_", "-")
        for one in value if isinstance(value, (list, tuple)) else [value]:
            text = _iso(one) if key.endswith("_ms") else str(one)
            words += [flag, shlex.quote(text)]
    return " ".join(words)


def _model_line(model: Mapping[str, Any]) -> Cell:
    name = " ".join(str(model[k]) for k in ("id", "version") if model.get(k)) or "every model"
    digest = str(model.get("spec_digest") or "")
    return {
        "text": f"{name}" + (f" (spec {digest.removeprefix('sha256:')[:12]})" if digest else ""),
        "title": digest,
        "cls": "",
    }


def _table_view(block: Mapping[str, Any]) -> dict[str, Any]:
    columns = list(block.get("columns") or [])
    marks = {str(k): str(v) for k, v in (block.get("marks") or {}).items()}
    rows = []
    for i, row in enumerate(block.get("rows") or []):
        cells = [format_cell(row.get(c["key"]), c.get("format", "text")) for c in columns]
        rows.append({"cells": cells, "mark": marks.get(str(i), "")})
    return {
        "kind": "table",
        "columns": columns,
        "rows": rows,
        "has_marks": bool(marks),
        "notes": [str(n) for n in block.get("notes") or []],
    }


def _block_view(block: Mapping[str, Any], key: str) -> dict[str, Any]:
    kind = block.get("kind")
    if kind == "text":
        return {"kind": "text", "paragraphs": [str(p) for p in block.get("paragraphs") or []]}
    if kind == "facts":
        return {
            "kind": "facts",
            "items": [(str(label), _auto(value)) for label, value in block.get("items") or []],
        }
    if kind == "table":
        return _table_view(block)
    if kind == "plot":
        svg = render_svg(str(block.get("plot")), block.get("data") or {}, id_prefix=f"{key}-")
        return {
            "kind": "plot",
            "plot": str(block.get("plot")),
            "svg": svg,
            "alt": str(block.get("alt") or ""),
        }
    raise DataError(
        f"report block kind {kind!r} is unknown; expected text, facts, table or "
        "plot (is the document from a newer fedgov?)"
    )


def _embedded_json(doc: Mapping[str, Any]) -> str:
    # "<" only occurs inside JSON strings, where \u003c is the same character: no
    # "</script>" or "<!--" can end or confuse the script element.
    return canonical_json(doc).decode().replace("<", "\\u003c")


def _page(doc: Mapping[str, Any]) -> bytes:
    regime = str(doc.get("regime", ""))
    sections = [
        {
            "id": str(s.get("id", f"s{i}")),
            "title": str(s.get("title", "")),
            "blocks": [_block_view(b, f"plot{i}-{j}") for j, b in enumerate(s.get("blocks") or [])],
        }
        for i, s in enumerate(doc.get("sections") or [])
    ]
    as_of = doc.get("as_of_ms")
    html = _ENV.get_template("report.html.j2").render(
        doc=doc,
        title=str(doc.get("title", "Report")),
        subtitle=REGIME_SUBTITLES.get(regime, regime),
        regime=regime,
        as_of=_iso(as_of) if isinstance(as_of, (int, float)) else _NA,
        header=[
            ("Model", {"kind": "scalar", **_model_line(doc.get("model") or {})}),
            ("Scope", _tree(doc.get("scope") or {})),
            (
                "Made with",
                {
                    "kind": "scalar",
                    "text": _command(doc.get("arguments") or {}),
                    "title": "",
                    "cls": "command",
                },
            ),
        ],
        sections=sections,
        evidence=_tree(doc.get("evidence") or {}),
        content_hash=str(doc.get("content_hash", "")),
        embedded=Markup(_embedded_json(doc)),
        script_id=SCRIPT_ID,
    )
    return html.encode()


def render_html(doc: Mapping[str, Any]) -> bytes:
    """The report as one self-contained HTML file (UTF-8 bytes)."""
    return _page(doc)


class _SvgStyleNoise(logging.Filter):
    """WeasyPrint's HTML cascade also reads the ``style`` of inline SVG elements and warns
    that SVG properties (stroke, fill, text-anchor) are unknown; its SVG renderer applies
    them. Only those warnings are dropped, for the duration of one render."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Ignored `") and message.endswith("unknown property."))


def render_pdf(doc: Mapping[str, Any]) -> bytes:
    """The report as an A4 PDF with the canonical JSON attached as ``report.json``.
    Dates are the document's ``as_of_ms`` and the file identifier its content hash."""
    import weasyprint  # type: ignore[import-untyped]  # heavy (Pango, fonts): loaded only when a PDF is asked for

    as_of_ms = int(doc.get("as_of_ms") or 0)
    moment = dt.datetime.fromtimestamp(as_of_ms / 1000, tz=dt.UTC)
    attachment = weasyprint.Attachment(
        file_obj=io.BytesIO(canonical_json(doc)),
        name=ATTACHMENT_NAME,
        description="The report document (fedgov.report/1, canonical JSON)",
        created=moment,
        modified=moment,
        relationship="Data",
    )
    digest = str(doc.get("content_hash", "")).rpartition(":")[2] or "0" * 32
    noise, logger = _SvgStyleNoise(), logging.getLogger("weasyprint")
    logger.addFilter(noise)
    try:
        html = weasyprint.HTML(string=_page(doc).decode(), base_url=None)
        out: bytes = html.write_pdf(  # without a target, the bytes
            attachments=[attachment], pdf_identifier=digest[:32].encode()
        )
    finally:
        logger.removeFilter(noise)
    return out


def read_html_document(html: bytes) -> dict[str, Any]:
    """The document embedded in an HTML report; a DataError if there is none."""
    text = html.decode("utf-8", errors="replace")
    match = re.search(
        rf'<script type="application/json" id="{SCRIPT_ID}">(.*?)</script>', text, re.DOTALL
    )
    if match is None:
        raise DataError(
            f'the HTML file has no embedded report (<script id="{SCRIPT_ID}">); '
            "is it a fedgov report? Render it again with `fedgov report`"
        )
    return _loads(match.group(1), "HTML script element")


def read_pdf_document(pdf: bytes) -> dict[str, Any]:
    """The document attached to a PDF report as ``report.json``; a DataError if absent."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        attachments = PdfReader(io.BytesIO(pdf)).attachments
        found = attachments.get(ATTACHMENT_NAME) or []
    except (PdfReadError, ValueError, KeyError) as exc:
        raise DataError(
            f"the PDF cannot be read ({type(exc).__name__}); is it a complete "
            "fedgov report? Render it again with `fedgov report`"
        ) from None
    if not found:
        raise DataError(
            f"the PDF has no {ATTACHMENT_NAME} attachment; is it a fedgov report? "
            "Render it again with `fedgov report --format pdf`"
        )
    return _loads(found[0].decode("utf-8", errors="replace"), f"PDF attachment {ATTACHMENT_NAME}")


def _loads(text: str, where: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"the report JSON in the {where} is not valid JSON (line {exc.lineno}, "
            f"column {exc.colno}); the file was damaged or edited"
        ) from None
    if not isinstance(doc, dict):
        raise DataError(
            f"the report JSON in the {where} is not an object; the file was damaged or edited"
        )
    return doc
