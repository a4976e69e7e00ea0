"""`fedgov privacy audit`: attack what the aggregator holds (or report files) and say
which protected cells come back."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from fedgov.cli import Verbs
from fedgov.cli import arguments as t
from fedgov.cli.output import print_json
from fedgov.errors import GovernanceError

__all__ = ["register", "run"]


def register(verbs: Verbs) -> None:
    actions = t.add_actions(verbs, "privacy", "disclosure audit of released statistics")
    p = actions.add_parser(
        "audit",
        help="attack stored releases; exit 1 if a protected cell is recovered",
        description="Run the disclosure attacks (margin differencing, the joint linked "
        "system by MILP, fine and score histogram deficits, window differencing, spec "
        "extremes, subtraction from secure sums, least squares on noised releases) and "
        "print, per protected cell, the attacker's best estimate and its error (interval "
        "width for exact releases, standard deviation for noised ones). A cell is "
        "recovered when pinned to within k, or estimated with a standard deviation below "
        "the protection its privacy budget states. Exit 0: nothing recovered; 1: a "
        "protected cell recovered; 2: bad input.",
    )
    p.add_argument(
        "source", nargs="+", metavar="REPORT|DB",
        help="report JSON files or folders of them (spec JSON files beside them are read "
        "too), or one aggregator store (a .db SQLite file or a postgresql:// URL)",
    )
    p.add_argument("--with-sums", action="store_true", dest="with_sums",
                   help="also attack with the released secure sums (store only)")
    p.add_argument("--truth", metavar="FILE", help="the silos' unguarded statistics "
                   "(test mode): print the true value beside each estimate")
    p.add_argument("--k", type=t.count(1, 10_000), default=10,
                   help="small-cell threshold for the spec's reference cells (default 10)")
    p.add_argument("--all", action="store_true", help="list every protected cell, not only recovered ones")
    t.add_json(p)
    t.add_common(p)
    p.set_defaults(run=run)


def _is_store(source: list[str]) -> bool:
    s = source[0]
    return len(source) == 1 and (s.startswith(("postgres", "sqlite:")) or Path(s).suffix == ".db")


def run(args: argparse.Namespace) -> int:
    from fedgov.privacy.audit import run_audit
    from fedgov.privacy.audit._inputs import read_files, read_truth

    def progress(line: str) -> None:
        if not args.json and not args.quiet:
            print(line, file=sys.stderr)

    try:
        if _is_store(args.source):
            from aggregator.privacy_audit import read_store
            from aggregator.store import create_store

            store = create_store(args.source[0])
            try:
                releases, secure, specs = read_store(store, with_sums=args.with_sums, progress=progress)
            finally:
                store.close()
        else:
            if args.with_sums:
                print("fedgov: --with-sums needs an aggregator store (secagg_releases)", file=sys.stderr)
                return 2
            releases, specs = read_files(args.source)
            secure = []
        truth, extremes = read_truth(args.truth) if args.truth else (None, None)
    except GovernanceError as exc:
        print(f"fedgov: error: {exc}", file=sys.stderr)
        return 2
    if not releases and not specs:
        print(f"fedgov: error: no reports or specs in {' '.join(args.source)}", file=sys.stderr)
        return 2
    result = run_audit(releases, secure, specs, truth=truth, extremes=extremes, k=args.k,
                       progress=progress if len(releases) > 20 else None)
    shown = result.findings if args.all else result.recovered
    if args.json:
        print_json({"protected": len(result.findings), "recovered": len(result.recovered),
                    "findings": [f.to_dict() for f in shown]})
    else:
        _table(shown, truth is not None)
        print(f"{len(result.recovered)} of {len(result.findings)} protected cells recovered "
              f"({len(releases)} reports, {len(secure)} secure sums, {len(specs)} specs)")
    return 1 if result.recovered else 0


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    if math.isinf(x):
        return "inf"
    return f"{x:g}" if float(x).is_integer() else f"{x:.2f}"


def _table(findings: list, with_truth: bool) -> None:
    head = ["attack", "where", "cell", "estimate", "error", "interval/protection"]
    rows = []
    for f in sorted(findings, key=lambda f: (f.attack, f.where, f.error, f.cell)):
        span = f"[{_num(f.low)}, {_num(f.high)}]" if f.low is not None else f"< {_num(f.protection)}"
        err = f"{f.error_kind} {_num(f.error)}"
        rows.append([f.attack, f.where, f.cell, _num(f.estimate), err, span]
                    + ([_num(f.truth)] if with_truth else []))
    if with_truth:
        head.append("truth")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
