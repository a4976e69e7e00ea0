"""`fedgov model list|show|promote|rollback`: the model registry (versions, aliases, lineage)."""

from __future__ import annotations

import argparse
import json

from aggregator.answers import to_json
from aggregator.cli._client import add_client_options, open_client
from aggregator.cli.tables import print_models
from fedgov.cli import Verbs
from fedgov.cli import arguments as t
from fedgov.cli.output import print_json
from fedgov.errors import ConfigError

__all__ = ["register", "run"]


def register(verbs: Verbs) -> None:
    p = verbs.add_parser("model", help="the model registry: versions, aliases, lineage")
    actions = p.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    c = actions.add_parser("list", help="every version with its status and aliases")
    c.add_argument("--model", default="", type=t.optional(t.identifier), help="only this model")
    add_client_options(c)
    c = actions.add_parser("show", help="one version with its lineage")
    c.add_argument("model", metavar="MODEL", type=t.identifier)
    c.add_argument(
        "version",
        metavar="VERSION",
        nargs="?",
        default="",
        type=t.optional(t.identifier),
        help="default: production",
    )
    add_client_options(c)
    c = actions.add_parser("promote", help="point production at a version (operators)")
    c.add_argument("model", metavar="MODEL", type=t.identifier)
    c.add_argument("version", metavar="VERSION", type=t.identifier)
    c.add_argument("--reason", default="", help="why, for the audit log")
    add_client_options(c)
    c = actions.add_parser("rollback", help="point production back at its previous version")
    c.add_argument("model", metavar="MODEL", type=t.identifier)
    add_client_options(c)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with open_client(args) as client:
        if args.model_command == "list":
            rows = client.models(model_id=args.model)
        elif args.model_command == "show":
            rows = client.models(model_id=args.model)
            want = args.version or next((r.version for r in rows if "production" in r.aliases), "")
            rows = [r for r in rows if r.version == want]
            if not rows:
                raise ConfigError(f"no version {want!r} of model {args.model!r} in the registry")
            shown = to_json(rows[0])
            if args.json:
                print_json(shown)
            else:
                for k, v in shown.items():
                    v = list(v) if isinstance(v, tuple) else v
                    print(f"{k:15} {json.dumps(v) if isinstance(v, (dict, list)) else v}")
            return 0
        elif args.model_command == "promote":
            rows = client.promote(args.model, args.version, args.reason)
        else:
            rows = client.rollback(args.model)
    if args.json:
        print_json(to_json(rows))
    else:
        print_models(rows)
    return 0
