"""`fedgov certs init`: a trial PKI for mTLS (a CA, the aggregator, operator, auditor, silos)."""

from __future__ import annotations

import argparse

from fedgov.cli import Verbs
from fedgov.cli import arguments as t
from fedgov.cli.output import print_json
from fedgov.limits import identifier_problem

__all__ = ["init", "register", "silo_jurisdictions"]


def silo_jurisdictions(text: str) -> dict[str, str | None]:
    """``EU-DE=EU-DE,US-NY=US-NY`` (silo=jurisdiction); a plain ``EU-DE`` states none."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError(
            "name at least one, comma-separated, like EU-DE=EU-DE,US-NY=US-NY"
        )
    out: dict[str, str | None] = {}
    for item in items:
        silo, sep, jurisdiction = (part.strip() for part in item.partition("="))
        for value in (silo, jurisdiction) if sep else (silo,):
            problem = identifier_problem(value)
            if problem:
                raise argparse.ArgumentTypeError(f"{item!r}: {problem}")
        if silo in out:
            raise argparse.ArgumentTypeError(f"silo {silo!r} is named twice")
        out[silo] = jurisdiction if sep else None
    return out


def register(verbs: Verbs) -> None:
    actions = t.add_actions(verbs, "certs", "a trial PKI for mTLS")
    c = t.add_verb(actions, "init", init)
    c.add_argument("--out", required=True, metavar="DIR", help="folder to write into")
    c.add_argument(
        "--silos",
        required=True,
        type=silo_jurisdictions,
        metavar="SILO=JURISDICTION,...",
        help="comma-separated silo=jurisdiction pairs, e.g. EU-DE=EU-DE,US-NY=US-NY "
        "(a plain SILO: jurisdiction approved by the operator instead)",
    )
    c.add_argument(
        "--hosts", default="localhost,127.0.0.1", help="aggregator host names / IPs for its SAN"
    )
    c.add_argument(
        "--days", type=t.count(1, 36_500), default=30, help="validity in days (default 30)"
    )
    t.add_json(c)
    t.add_common(c)


def init(args: argparse.Namespace) -> int:
    """Create a CA and certificates for the aggregator, operator, auditor and silos.

    Create (or extend) a trial PKI: ca.pem/ca.key; aggregator.pem/.key for the
    given hosts; operator.pem/.key (URI SAN fedgov://role/operator: every RPC,
    promotions, rollbacks, silo approvals); auditor.pem/.key (fedgov://role/auditor:
    read-only across all silos); and SILO.pem/.key per silo with the URI SAN
    fedgov://silo/SILO?jurisdiction=J. The aggregator takes a silo's identity and
    jurisdiction from these SANs, never from the Common Name nor from a request. A
    silo given without '=J' gets a certificate that states no jurisdiction (as a
    site's own PKI may issue): it can register only after an operator runs `fedgov
    silo approve SILO --jurisdiction J`. Each silo also gets SILO.node/SILO.node.pub,
    its Flower node key: its SuperNode signs with SILO.node (training.node_key in its
    config), the aggregator's SuperLink admits only the enrolled SILO.node.pub. For
    trials; production uses the site's PKI with the same SANs.
    """
    from fedgov.tls import init_trial_pki, issue_node_keys

    hosts = [h.strip() for h in args.hosts.split(",") if h.strip()]
    written = init_trial_pki(args.out, args.silos, aggregator_hosts=hosts, days=args.days)
    written.update(issue_node_keys(args.out, list(args.silos)))
    if args.json:
        print_json(
            {
                "files": {name: str(path) for name, path in written.items()},
                "jurisdictions": args.silos,
            }
        )
        return 0
    for name, path in written.items():
        note = ""
        if name in args.silos:
            j = args.silos[name]
            note = f"  jurisdiction {j}" if j else "  no jurisdiction: `fedgov silo approve`"
        print(f"{name:12} {path}{note}")
    return 0
