"""`fedgov audit verify`: check a hash-chained audit log and name its first broken link."""

from __future__ import annotations

import argparse

from fedgov.cli import Verbs
from fedgov.cli import arguments as t
from fedgov.cli.output import print_json

__all__ = ["register", "verify"]


def register(verbs: Verbs) -> None:
    actions = t.add_actions(verbs, "audit", "verify hash-chained audit logs")
    c = t.add_verb(actions, "verify", verify)
    c.add_argument("path", metavar="PATH", help="an audit.jsonl file")
    t.add_json(c)
    t.add_common(c)


def verify(args: argparse.Namespace) -> int:
    """Check a chain and name the first broken link.

    Exit 0 if every record links to the previous one and matches its hash;
    exit 1 naming the first broken line otherwise.
    """
    from fedgov.audit import verify_chain

    rep = verify_chain(args.path)
    if args.json:
        print_json(
            {
                "ok": rep.ok,
                "records": rep.records,
                "head": rep.head,
                "broken_line": rep.broken_line,
                "reason": rep.reason,
            }
        )
    elif rep.ok:
        print(f"{args.path}: OK, {rep.records} records, head {rep.head[:16]}")
    else:
        print(
            f"{args.path}:{rep.broken_line}: chain broken: {rep.reason} "
            f"({rep.records} records verified before it)"
        )
    return 0 if rep.ok else 1
