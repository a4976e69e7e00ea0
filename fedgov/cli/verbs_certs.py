"""`fedgov certs init`: a trial PKI for mTLS (a CA, the aggregator, operators, silos)."""

from __future__ import annotations

import argparse

from fedgov.cli import Verbs
from fedgov.cli import arguments as t

__all__ = ["init", "register"]


def register(verbs: Verbs) -> None:
    actions = t.add_actions(verbs, "certs", "a trial PKI for mTLS")
    c = t.add_verb(actions, "init", init)
    c.add_argument("--out", required=True, metavar="DIR", help="folder to write into")
    c.add_argument(
        "--silos",
        required=True,
        type=t.identifier_list,
        help="comma-separated silo ids, e.g. EU-DE,US-NY",
    )
    c.add_argument(
        "--hosts", default="localhost,127.0.0.1", help="aggregator host names / IPs for its SAN"
    )
    c.add_argument(
        "--days", type=t.count(1, 36_500), default=30, help="validity in days (default 30)"
    )
    t.add_common(c)


def init(args: argparse.Namespace) -> int:
    """Create a CA, an aggregator certificate and one per silo.

    Create (or extend) a trial PKI: ca.pem/ca.key, aggregator.pem/.key for the
    given hosts, operator.pem/.key for queries, and SILO.pem/.key whose Common Name
    is the silo id. For trials; production uses the site's PKI with the same naming.
    """
    from fedgov.tls import init_trial_pki

    hosts = [h.strip() for h in args.hosts.split(",") if h.strip()]
    written = init_trial_pki(
        args.out, [*args.silos, "operator"], aggregator_hosts=hosts, days=args.days
    )
    for name, path in written.items():
        print(f"{name:12} {path}")
    return 0
