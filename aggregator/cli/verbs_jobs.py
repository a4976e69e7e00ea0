"""`fedgov jobs`: the retraining jobs and where each one stands."""

from __future__ import annotations

import argparse

from aggregator.answers import to_json
from aggregator.cli._client import add_client_options, open_client
from aggregator.cli.tables import print_jobs
from fedgov.cli import Verbs
from fedgov.cli import arguments as t
from fedgov.cli.output import print_json

__all__ = ["register", "run"]


def register(verbs: Verbs) -> None:
    p = verbs.add_parser("jobs", help="list retraining jobs")
    p.add_argument("--model", default="", type=t.optional(t.identifier), help="only this model")
    add_client_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with open_client(args) as client:
        rows = client.jobs(model_id=args.model)
    if args.json:
        print_json(to_json(rows))
    else:
        print_jobs(rows)
    return 0
