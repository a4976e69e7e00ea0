"""`fedgov aggregator public-key` and `fedgov aggregator checkpoints`: the aggregator's
audit checkpoints (:mod:`aggregator.anchors`) and the key that signs them.

The key is made on the aggregator's first start (``aggregator serve``), beside its
store (``DB.checkpoint.key``), or wherever ``--checkpoint-key`` says; these verbs
read it, and the store, without a running aggregator.
"""

from __future__ import annotations

import argparse
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

from fedgov.cli import Verbs
from fedgov.cli import arguments as t
from fedgov.cli.output import print_json

if TYPE_CHECKING:
    from fedgov.checkpoints import CheckpointKey

__all__ = ["add_key_option", "checkpoint_key_path", "register_actions"]


def add_key_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoint-key",
        default=None,
        metavar="PATH",
        help="Ed25519 key (PKCS#8 PEM) that signs the audit log's checkpoints; made on first "
        "start if missing (default: beside the store, DB.checkpoint.key, or beside the audit "
        "log for a PostgreSQL store)",
    )


def checkpoint_key_path(args: argparse.Namespace) -> Path:
    """--checkpoint-key, else beside the SQLite store, else beside the audit log."""
    if args.checkpoint_key:
        return Path(args.checkpoint_key)
    if "://" not in str(args.db):
        return Path(f"{args.db}.checkpoint.key")
    return Path(f"{args.audit}.checkpoint.key")


def _add_store_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db", default="fedgov.db", metavar="PATH|URL", help="the store (default fedgov.db)"
    )
    p.add_argument(
        "--audit",
        default=None,
        metavar="PATH",
        help="the audit log, to find the key of a PostgreSQL store (see --checkpoint-key)",
    )
    add_key_option(p)


def register_actions(actions: Verbs) -> None:
    k = actions.add_parser(
        "public-key",
        help="print the public key that verifies the audit log's checkpoints",
        description="Print the Ed25519 public key (PEM) of the aggregator's checkpoint key. "
        "Give it to auditors: `fedgov audit verify LOG --checkpoints FILE --public-key PEM` "
        "checks the aggregator's audit log with it. Exit 2 if there is no key yet.",
    )
    _add_store_options(k)
    t.add_json(k)
    t.add_common(k)
    k.set_defaults(run=public_key)
    c = actions.add_parser(
        "checkpoints",
        help="list the signed checkpoints of the audit log kept in the store",
        description="The checkpoints the aggregator signed and stored, oldest first; "
        "--json prints the file `fedgov audit verify --checkpoints` reads.",
    )
    _add_store_options(c)
    t.add_json(c)
    t.add_common(c)
    c.set_defaults(run=checkpoints)


def _key(args: argparse.Namespace) -> CheckpointKey:
    from fedgov.checkpoints import CheckpointKey
    from fedgov.errors import ConfigError

    path = checkpoint_key_path(args)
    if not path.exists():
        raise ConfigError(
            f"{path}: no checkpoint key there; the aggregator makes one on its first start "
            "(`fedgov aggregator serve`), or point --checkpoint-key at it"
        )
    return CheckpointKey.load_or_create(path)


def public_key(args: argparse.Namespace) -> int:
    key = _key(args)
    if args.json:
        print_json({"key_id": key.key_id, "public_key_pem": key.public_pem()})
    else:
        print(key.public_pem(), end="")
    return 0


def checkpoints(args: argparse.Namespace) -> int:
    from aggregator.store import create_store
    from fedgov.cli.verbs_audit import print_checkpoints

    with closing(create_store(args.db)) as store:
        found = store.checkpoints()
    print_checkpoints(found, as_json=args.json)
    return 0
