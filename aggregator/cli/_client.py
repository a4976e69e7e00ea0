"""What every verb that calls the aggregator shares: its address and mTLS identity."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from fedgov.cli import arguments as t

if TYPE_CHECKING:
    from aggregator.query_client import QueryClient

__all__ = ["DEFAULT_AGGREGATOR", "add_client_options", "open_client"]

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
    t.add_tls_options(p)
    t.add_json(p)
    t.add_common(p)


def open_client(args: argparse.Namespace) -> QueryClient:
    """A client of the aggregator the options of :func:`add_client_options` name."""
    from aggregator.query_client import QueryClient  # only verbs that call it pay for gRPC

    return QueryClient(args.aggregator, tls=t.tls_files(args))
