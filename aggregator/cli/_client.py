"""What every verb that calls the aggregator shares: its address and mTLS identity."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from fedgov.cli import arguments as t

if TYPE_CHECKING:
    from fedgov.tls import TlsFiles

__all__ = ["DEFAULT_AGGREGATOR", "add_client_options", "client_tls"]

DEFAULT_AGGREGATOR = "127.0.0.1:50051"


def add_client_options(p: argparse.ArgumentParser) -> None:
    """--aggregator, --tls-dir and --identity, then --json and the common options."""
    t.add_option(
        p,
        "--aggregator",
        t.ADDRESS,
        f"aggregator address (default {DEFAULT_AGGREGATOR})",
        default=DEFAULT_AGGREGATOR,
    )
    t.add_option(
        p,
        "--tls-dir",
        t.DIR,
        "mTLS: folder with ca.pem and IDENTITY.pem/.key (from `fedgov certs init`); "
        "without it the call is plaintext and works only against an --insecure aggregator",
    )
    p.add_argument(
        "--identity",
        default="operator",
        type=t.identifier,
        help="certificate name in --tls-dir (default operator)",
    )
    t.add_json(p)
    t.add_common(p)


def client_tls(args: argparse.Namespace) -> TlsFiles | None:
    from fedgov.tls import TlsFiles

    if not args.tls_dir:
        return None
    d = Path(args.tls_dir)
    return TlsFiles(d / "ca.pem", d / f"{args.identity}.pem", d / f"{args.identity}.key")
