"""`fedgov report` (a compliance report from the query API) and `fedgov report verify FILE`.

The report is built from the aggregator's answers (:mod:`aggregator.reports.build`)
as the caller's role sees them (auditor or operator), written as HTML, PDF or
JSON; ``verify`` re-derives it from the store (:mod:`aggregator.reports.verify`).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from aggregator.cli._client import add_client_options, open_client
from aggregator.reports.document import FORMATS, REGIMES
from fedgov.cli import Verbs
from fedgov.cli import arguments as t
from fedgov.cli.output import print_json
from fedgov.errors import GovernanceError

__all__ = ["register"]

_DESCRIPTION = (
    "Build a compliance report from the aggregator's merged figures (over the query API, "
    "as your certificate's role: auditor or operator) and write it as HTML, PDF or JSON. "
    "The same store and arguments give the same bytes; the report carries a content hash and "
    "the evidence it rests on (report ids, audit heads, policy bundle digests, spec digest, "
    "each figure's privacy path). Regimes: nyc-ll144 (bias audit summary), eu-ai-act, "
    "colorado (needs --model-card), summary (every model). Check a report later with "
    "`fedgov report verify FILE`."
)
_VERIFY = (
    "Read a report (JSON, HTML or PDF), check its content hash, re-derive it from the "
    "aggregator with the arguments it records, and for HTML/PDF re-render it and compare "
    "the bytes. Exit 0: verified; 1: it differs (what differs is printed); 2: the file or "
    "the aggregator could not be read, or bad usage."
)


def _time(text: str) -> int:
    """Milliseconds since 1970 as digits, else what --since takes (ISO time, duration)."""
    if re.fullmatch(r"\d{1,16}", text.strip()):
        return int(text)
    return t.since_ms(text)


def register(verbs: Verbs) -> None:
    p = verbs.add_parser(
        "report",
        help="a regulation-shaped compliance report (and verify one)",
        description=_DESCRIPTION,
    )
    p.add_argument(
        "--model",
        default="",
        type=t.optional(t.identifier),
        help="model id (every model for --regime summary)",
    )
    p.add_argument(
        "--version",
        default="",
        type=t.optional(t.identifier),
        help="model version (default: the newest reported)",
    )
    p.add_argument("--regime", choices=REGIMES, default=None, help="which rule's report")
    p.add_argument(
        "--jurisdictions",
        default="",
        metavar="GLOB",
        type=t.glob,
        help="only these jurisdictions, e.g. 'US-*' (default: all)",
    )
    p.add_argument(
        "--since",
        default=0,
        type=_time,
        metavar="TIME",
        help="merge every window ending since (ISO date/time, ms, or a duration "
        "like 30d; default: each silo's newest report)",
    )
    p.add_argument(
        "--until",
        default=0,
        type=_time,
        metavar="TIME",
        help="evidence up to this time (ISO date/time or ms; default: the newest)",
    )
    t.add_option(
        p,
        "--model-card",
        t.PATH,
        "model card YAML (owner, purpose, intended use, contact); the colorado regime needs it",
    )
    p.add_argument(
        "--policy",
        action="append",
        default=[],
        metavar="DIR",
        help="a policy bundle folder whose thresholds the eu-ai-act and colorado reports show "
        "for the silos running it (matched by digest; repeatable; the shipped default is "
        "always known)",
    )
    p.add_argument(
        "--sex-attribute",
        default="sex",
        type=t.name,
        help="nyc-ll144: the spec's sensitive attribute for sex (default sex)",
    )
    p.add_argument(
        "--race-attribute",
        default="race_ethnicity",
        type=t.name,
        help="nyc-ll144: the attribute for race/ethnicity (default race_ethnicity)",
    )
    p.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="html, pdf or json (default: from the -o file's extension)",
    )
    t.add_option(p, "-o", t.PATH, "the file to write")
    add_client_options(p)
    p.set_defaults(run=run, report_parser=p)
    actions = p.add_subparsers(
        dest="report_command", metavar="ACTION", help="verify FILE: check a report (optional)"
    )
    v = actions.add_parser(
        "verify", help="check a report against the aggregator's store", description=_VERIFY
    )
    v.add_argument("file", metavar="FILE", help="a report `fedgov report` wrote")
    add_client_options(v)
    v.set_defaults(run=run_verify)


def _format(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    if args.format:
        return str(args.format)
    suffix = Path(args.o).suffix.lower().lstrip(".")
    if suffix in FORMATS:
        return suffix
    parser.error(f"--format: give html, pdf or json (the extension of {args.o!r} names none)")
    raise AssertionError  # parser.error exits


def _write(path: Path, data: bytes) -> None:
    """Whole or not at all: a temporary file beside it, then a rename."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        from fedgov.errors import DataError

        raise DataError(f"{path}: cannot write the report ({exc.strerror or exc})") from None


def run(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.report_parser
    if args.regime is None:
        parser.error("--regime is required: one of " + ", ".join(REGIMES))
    if not args.model and args.regime != "summary":
        parser.error(f"--model is required for --regime {args.regime}")
    if not args.o:
        parser.error("-o FILE is required: where to write the report")
    if args.until and args.since and args.until < args.since:
        parser.error("--until is before --since")
    fmt = _format(args, parser)
    from aggregator.reports.build import build, render
    from aggregator.reports.source import ReportArgs

    report_args = ReportArgs(
        model=args.model,
        version=args.version,
        regime=args.regime,
        jurisdictions=args.jurisdictions,
        since_ms=args.since,
        until_ms=args.until,
        model_card=Path(args.model_card) if args.model_card else None,
        sex_attribute=args.sex_attribute,
        race_attribute=args.race_attribute,
        policies=tuple(str(Path(d).resolve()) for d in args.policy),
    )
    with open_client(args) as client:
        doc = build(client, report_args)
    data = render(doc, fmt)
    out = Path(args.o)
    _write(out, data)
    if args.json:
        print_json(
            {
                "path": str(out),
                "format": fmt,
                "content_hash": doc["content_hash"],
                "bytes": len(data),
                "as_of_ms": doc["as_of_ms"],
            }
        )
    elif not args.quiet:
        print(f"wrote {out} ({fmt}, {len(data):,} bytes, {doc['content_hash']})")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from aggregator.reports.verify import verify

    try:
        with open_client(args) as client:
            verdict = verify(Path(args.file), client)
    except GovernanceError as exc:  # the file or the aggregator could not be read
        print(f"fedgov: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print_json(
            {
                "path": verdict.path,
                "format": verdict.format,
                "content_hash": verdict.content_hash,
                "verified": verdict.ok,
                "problems": verdict.problems,
            }
        )
    elif verdict.ok:
        print(f"verified: {verdict.path} ({verdict.format}, {verdict.content_hash})")
    else:
        print(f"NOT verified: {verdict.path} ({verdict.format})")
        for problem in verdict.problems:
            print(f"  - {problem}")
    return 0 if verdict.ok else 1
