"""`fedgov dashboard`: the live compliance view, a read-only web page over the query API."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path

from aggregator.cli._client import add_client_options
from fedgov.cli import Verbs
from fedgov.cli import arguments as t
from fedgov.cli.output import print_json
from fedgov.errors import ConfigError

__all__ = ["register", "run"]

log = logging.getLogger(__name__)


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
        help="serve HTTPS with the certificate and key of --tls-dir/--identity",
    )
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
    from fedgov.identity import identity_from_pem

    tls = t.tls_files(args)
    if args.http_tls and tls is None:
        raise ConfigError("--http-tls serves the --tls-dir certificate: pass --tls-dir too")
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
    running = create_dashboard(args.listen, dashboard, token, tls=tls if args.http_tls else None)
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
    done = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %d: shutting down", signum)
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        done.wait()
    finally:
        running.stop()
        client.close()
    return 0
