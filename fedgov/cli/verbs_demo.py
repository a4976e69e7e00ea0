"""`fedgov demo`: the whole flow on generated data (see :mod:`fedgov.cli.demo`)."""

from __future__ import annotations

import argparse
import sys

from fedgov.cli import Verbs
from fedgov.cli import arguments as t
from fedgov.cli.output import print_json

__all__ = ["register", "run"]


def register(verbs: Verbs) -> None:
    p = t.add_verb(verbs, "demo", run)
    p.add_argument("--seed", type=t.count(0, 2**32 - 1), default=7, help="random seed (default 7)")
    p.add_argument(
        "--rows", type=t.count(100, 10_000_000), default=20_000, help="rows per silo window"
    )
    p.add_argument("--workdir", default=None, help="keep files here instead of a temp folder")
    p.add_argument(
        "--no-retrain",
        action="store_true",
        help="stop after dispatching the retrain command (skips Flower; a few seconds)",
    )
    p.add_argument("--rounds", type=t.count(1, 10_000), default=3, help="FedAvg rounds (default 3)")
    t.add_json(p)
    t.add_common(p)


def run(args: argparse.Namespace) -> int:
    """Run the federated demo: an aggregator and six silos on generated data.

    Start an aggregator and six silo agents (EU-DE, EU-FR, EU-IT, US-NY, US-CA,
    US-TX) on generated credit-scoring data over mTLS, report one window each, sum
    each jurisdiction group in a secure round, query across jurisdictions, retrain
    on Flower and gate the candidate, then write an NYC Local Law 144 bias audit
    (HTML) and an EU AI Act monitoring report (PDF) into the work folder (kept
    without --workdir too) and verify them. Exit 1 if a check fails.
    """
    from fedgov.cli.demo import run_demo

    result = run_demo(
        seed=args.seed,
        rows=args.rows,
        workdir=args.workdir,
        as_json=args.json,
        retrain=not args.no_retrain,
        rounds=args.rounds,
    )
    if args.json:
        print_json(result)
    sys.stdout.flush()
    return 0 if result["ok"] else 1
