"""`fedgov dashboard`: the live compliance view, a read-only web page over the query API."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from aggregator.cli._client import add_client_options
from fedgov.cli import Verbs
from fedgov.cli import arguments as t
from fedgov.cli.output import print_json
from fedgov.errors import ConfigError

if TYPE_CHECKING:
    from fedgov.tls import TlsFiles

__all__ = ["register", "run"]


def register(verbs: Verbs) -> None:
    p = t.add_verb(verbs, "dashboard", run)
    t.add_option(
        p,
        "--listen",
        t.ADDRESS,
        "where the pages are served (default 127.0.0.1:8080; port 0 takes a free one)",
        default="127.0.0.1:8080",
    )
    t.add_option(
        p,
        "--token-file",
        t.PATH,
        "file holding the token a browser or client must show (created with a random "
        "token, mode 0600, when absent; default dashboard.token)",
        default="dashboard.token",
    )
    t.add_option(
        p,
        "--stale-after",
        t.DURATION,
        "a silo silent for longer than this is marked stale (default 1h)",
        default="1h",
    )
    p.add_argument(
        "--prometheus",
        default=None,
        metavar="URL",
        help="Prometheus or Thanos Query scraping the agents: shows each silo's outbox "
        "backlog (fedgov_agent_outbox_reports); without it the backlog is not shown",
    )
    p.add_argument(
        "--http-tls",
        action="store_true",
        help="serve HTTPS: with --http-cert/--http-key, else the certificate of "
        "--tls-dir/--identity (it must allow server use)",
    )
    t.add_option(p, "--http-cert", t.PATH, "server certificate (PEM) for --http-tls")
    t.add_option(p, "--http-key", t.PATH, "its private key (PEM)")
    add_client_options(p)


def run(args: argparse.Namespace) -> int:
    """Serve the live compliance view: read-only pages from the aggregator's query API.

    The dashboard calls the aggregator with one certificate (--tls-dir and
    --identity: operator, auditor or a silo); its role decides what the pages
    show, a silo seeing only its own rows. Pages: the models x jurisdictions
    matrix of the latest decisions (/), a model's plots (/model/ID), silo
    health (/silos), retraining jobs (/jobs) and report downloads
    (/reports/MODEL/REGIME.FORMAT). Every page needs the token in
    --token-file: send `Authorization: Bearer TOKEN`, or open a page once with
    ?token=TOKEN. /healthz answers without it (no data). Stops on SIGTERM or
    Ctrl-C.
    """
    from aggregator.dashboard import (
        Dashboard,
        OutboxBacklog,
        create_dashboard,
        load_or_create_token,
    )
    from aggregator.query_client import QueryClient
    from aggregator.server import wait_for_signal
    from fedgov.identity import identity_from_pem

    tls = t.tls_files(args)
    http_tls = None
    if args.http_tls:
        http_tls = _http_tls(args, tls)
    role, viewer = None, "a plaintext client (the aggregator checks no certificate)"
    if tls is not None:
        identity = identity_from_pem(tls.read()[1])
        if identity.role is None:
            raise ConfigError(
                f"{tls.cert}: the certificate states no fedgov role; use an operator, "
                "auditor or silo certificate (see `fedgov certs`)"
            )
        role, viewer = identity.role, str(identity)
    token, created = load_or_create_token(args.token_file)
    backlog = OutboxBacklog(args.prometheus) if args.prometheus else None
    client = QueryClient(args.aggregator, tls=tls, retry_for=1.0)
    dashboard = Dashboard(
        client, role=role, viewer=viewer, stale_after_ms=args.stale_after, backlog=backlog
    )
    running = create_dashboard(args.listen, dashboard, token, tls=http_tls)
    token_path = str(Path(args.token_file).resolve())
    if args.json:
        print_json(
            {
                "url": running.url,
                "token_file": token_path,
                "token_created": created,
                "viewer": viewer,
                "aggregator": args.aggregator,
            }
        )
    else:
        made = "created" if created else "read"
        print(f"dashboard at {running.url} as {viewer}, aggregator {args.aggregator}", flush=True)
        print(f"token {made}: {token_path} (open {running.url}?token=... once)", flush=True)
    try:
        wait_for_signal()
    finally:
        running.stop()
        client.close()
    return 0


def _http_tls(args: argparse.Namespace, client: TlsFiles | None) -> TlsFiles:
    """The certificate --http-tls serves: --http-cert/--http-key, else the client's."""
    from fedgov.tls import TlsFiles

    if bool(args.http_cert) != bool(args.http_key):
        raise ConfigError("--http-cert and --http-key go together")
    if args.http_cert:
        ca = client.ca if client else Path(args.http_cert)
        return TlsFiles(ca, Path(args.http_cert), Path(args.http_key))
    if client is None:
        raise ConfigError("--http-tls needs --http-cert/--http-key, or --tls-dir")
    return client
