"""`fedgov silo approve`: an operator sets the jurisdiction of a silo (site PKIs)."""

from __future__ import annotations

import argparse

from aggregator.answers import to_json
from aggregator.cli._client import add_client_options, open_client
from fedgov.cli import Verbs
from fedgov.cli import arguments as t
from fedgov.cli.output import print_json

__all__ = ["register", "run"]


def register(verbs: Verbs) -> None:
    actions = t.add_actions(verbs, "silo", "the registry of silos' jurisdictions (operators)")
    c = actions.add_parser(
        "approve",
        help="approve (or change) the jurisdiction of a silo",
        description="Record SILO's jurisdiction at the aggregator. Needed for a silo whose "
        "certificate states none (a site's own PKI: URI SAN fedgov://silo/SILO without "
        "?jurisdiction=): it cannot register before. A registered silo moves at once; every "
        "approval is audited (silo_jurisdiction_approved, with the jurisdiction it replaced). "
        "A silo's jurisdiction never changes otherwise, except by a new certificate. Needs "
        "the operator's certificate (--identity operator, the default).",
    )
    c.add_argument("silo", metavar="SILO", type=t.identifier, help="the silo id")
    c.add_argument(
        "--jurisdiction", required=True, type=t.identifier, help="its jurisdiction, e.g. EU-DE"
    )
    c.add_argument("--reason", default="", help="why, for the audit log")
    add_client_options(c)
    c.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with open_client(args) as client:
        done = client.approve_silo(args.silo, args.jurisdiction, args.reason)
    if args.json:
        print_json(to_json(done))
    else:
        was = f" (was {done.previous})" if done.previous else ""
        print(f"silo {done.silo}: jurisdiction {done.jurisdiction}{was}")
    return 0
