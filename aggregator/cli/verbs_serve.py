"""`fedgov aggregator serve`: the central aggregator over gRPC."""

from __future__ import annotations

import argparse
import logging
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from aggregator.cli import verbs_anchors
from aggregator.cli._client import DEFAULT_AGGREGATOR
from fedgov.cli import Verbs
from fedgov.cli import arguments as t
from fedgov.errors import ConfigError

if TYPE_CHECKING:
    from aggregator.partition import RoundSettings
    from fedgov.tls import TlsFiles

__all__ = ["register", "serve"]


def register(verbs: Verbs) -> None:
    actions = t.add_actions(verbs, "aggregator", "the central aggregator")
    s = t.add_verb(actions, "serve", serve)
    t.add_option(s, "--db", t.PATH, "SQLite file (default fedgov.db)", default="fedgov.db")
    t.add_option(
        s,
        "--listen",
        t.ADDRESS,
        f"address to listen on (default {DEFAULT_AGGREGATOR}; port 0 = any)",
        default=DEFAULT_AGGREGATOR,
    )
    s.add_argument(
        "--policy",
        default=None,
        metavar="BUNDLE",
        help="central Rego bundle over merged metrics (default: the embedded default bundle)",
    )
    s.add_argument(
        "--groups",
        default="*",
        type=t.glob,
        metavar="GLOBS",
        help="comma-separated jurisdiction groups the central policy judges, e.g. 'EU-*,US-*' "
        "(default '*': all silos together)",
    )
    t.add_option(
        s,
        "--tls-dir",
        t.DIR,
        "mTLS (the default): folder with ca.pem, aggregator.pem, aggregator.key",
    )
    s.add_argument(
        "--insecure",
        action="store_true",
        help="plaintext gRPC without client authentication: no identities, roles or "
        "certified jurisdictions are checked; a silo's jurisdiction is the one it names "
        "(trials and development only; logged as a warning)",
    )
    s.add_argument(
        "--retrain",
        action="store_true",
        help="run federated retraining on Flower when a gate requests it (SuperLink started here)",
    )
    s.add_argument(
        "--node-keys",
        default=None,
        metavar="DIR",
        help="folder of the silos' Flower node public keys, SILO.node.pub (default: --tls-dir); "
        "with mTLS the SuperLink serves TLS from --tls-dir and admits only these keys",
    )
    s.add_argument(
        "--rounds",
        type=t.count(1, 10_000),
        default=3,
        help="FedAvg rounds per retraining (default 3)",
    )
    s.add_argument(
        "--reweigh",
        default=None,
        type=t.name,
        metavar="ATTRIBUTE",
        help="Kamiran-Calders reweighing by this sensitive attribute (default: the spec's first)",
    )
    t.add_option(
        s,
        "--flower-app",
        t.DIR,
        "your own Flower App (ServerApp + ClientApp) instead of the built-in model",
    )
    t.add_option(
        s,
        "--cooldown",
        t.DURATION,
        "after a job ends, ignore new retrain triggers for this long (e.g. 1h)",
        default="0s",
    )
    t.add_option(
        s,
        "--reannotation-dir",
        t.DIR,
        "where `reannotate` actions write requests (slices and counts, never rows)",
    )
    t.add_option(
        s,
        "--health-listen",
        t.ADDRESS,
        "also serve grpc.health.v1 alone, plaintext, here (for kubelet probes under mTLS)",
    )
    t.add_option(
        s,
        "--metrics-port",
        t.PORT,
        "serve Prometheus /metrics (ingest rate, rejects, latency) on this port",
    )
    s.add_argument(
        "--metrics-address",
        default="127.0.0.1",
        metavar="HOST",
        help="bind address of /metrics (default 127.0.0.1; 0.0.0.0 for a Prometheus "
        "in another pod or host)",
    )
    t.add_option(
        s,
        "--audit",
        t.PATH,
        "hash-chained audit log (default: next to the database, DB.audit.jsonl)",
    )
    _add_round_options(s)
    _add_replica_options(s)
    verbs_anchors.add_key_option(s)
    t.add_common(s)
    s.set_defaults(log_level=logging.INFO)  # a long-running process says what it does
    verbs_anchors.register_actions(actions)


def _add_round_options(s: argparse.ArgumentParser) -> None:
    """Secure aggregation rounds: cohorts are the parts of --groups."""
    s.add_argument(
        "--no-secure-rounds",
        dest="secure_rounds",
        action="store_false",
        help="do not open secure rounds as periods close (`fedgov round open` still works)",
    )
    s.add_argument(
        "--min-cohort",
        type=t.count(2, 10_000),
        default=3,
        help="m: every part of --groups holds at least this many silos, and no secure sum "
        "covers fewer (default 3; refused at start otherwise)",
    )
    s.add_argument(
        "--round-threshold",
        type=t.threshold,
        default=2 / 3,
        help="share of a cohort that must finish a round (default 0.667); the round "
        "completes with max(m, this x cohort) silos, else fails",
    )
    for flag, help, default in (
        ("--round-period", "length of a round's period", "1d"),
        ("--round-grace", "wait this long after a period closes before its round opens", "10m"),
        ("--round-stage-timeout", "how long a round's stage waits for slow silos", "60s"),
    ):
        t.add_option(s, flag, t.DURATION, f"{help} (default {default})", default=default)
    s.add_argument(
        "--release-k",
        type=t.count(1, 1_000_000),
        default=10,
        help="release control: a group or histogram of a secure sum with fewer rows is "
        "withheld (default 10)",
    )


def _add_replica_options(s: argparse.ArgumentParser) -> None:
    """Several aggregators on one PostgreSQL store (aggregator.replicas)."""
    s.add_argument(
        "--replica",
        default="aggregator",
        type=t.name,
        metavar="NAME",
        help="this aggregator's name among replicas sharing one PostgreSQL --db (default "
        "'aggregator'); each replica keeps its own --audit log and --checkpoint-key",
    )
    t.add_option(
        s,
        "--command-poll",
        t.DURATION,
        "read the store this often for commands stored by other replicas, whatever "
        "PostgreSQL's NOTIFY says (default 60s)",
        default="60s",
    )
    s.add_argument(
        "--listen-db",
        default=None,
        metavar="URL",
        help="PostgreSQL URL to LISTEN for new commands on (default: --db; give the "
        "server itself when --db goes through a transaction-pooling proxy)",
    )


def _round_settings(args: argparse.Namespace, groups: tuple[str, ...]) -> RoundSettings:
    from aggregator.partition import RoundSettings

    return RoundSettings(
        groups=groups,
        min_cohort=args.min_cohort,
        threshold=args.round_threshold,
        period_ms=args.round_period,
        grace_ms=args.round_grace,
        stage_ms=args.round_stage_timeout,
        k=args.release_k,
        auto_open=args.secure_rounds,
    )


def serve(args: argparse.Namespace) -> int:
    """Serve the aggregator over gRPC.

    Under mTLS (--tls-dir, the default) each caller is who its certificate's URI
    SANs say (fedgov certs init): a silo acts and reads only as itself, in the
    jurisdiction its certificate states or an operator approved (fedgov silo
    approve); operators and auditors read across silos; only operators promote,
    roll back and approve. With --insecure (embedded demo/dev mode) NOTHING is
    checked: any caller may act as any silo, name any jurisdiction and promote.
    """
    from aggregator.partition import check_partition
    from aggregator.replicas import hold_sqlite
    from aggregator.store import redact_url, sqlite_path
    from fedgov.tls import TlsFiles

    if args.insecure and args.tls_dir:
        raise ConfigError("--insecure and --tls-dir exclude each other")
    tls = None
    if args.tls_dir:
        d = Path(args.tls_dir)
        tls = TlsFiles(d / "ca.pem", d / "aggregator.pem", d / "aggregator.key")
        tls.read()  # a bad certificate stops the start, with the file named
    elif not args.insecure:
        raise ConfigError(
            "mTLS is the default: pass --tls-dir DIR (see `fedgov certs init`), or --insecure "
            "to serve plaintext gRPC on a trusted network"
        )
    if args.node_keys and not (args.retrain and tls):
        raise ConfigError("--node-keys needs --retrain and --tls-dir (node keys need TLS)")
    if args.reannotation_dir and Path(args.reannotation_dir).exists():
        if not Path(args.reannotation_dir).is_dir():
            raise ConfigError(f"--reannotation-dir {args.reannotation_dir}: not a directory")
    groups = tuple(g.strip() for g in args.groups.split(",") if g.strip()) or ("*",)
    rounds = _round_settings(args, groups)
    check_partition(rounds.groups, [], rounds.min_cohort)  # before any file is made
    sqlite_file = sqlite_path(args.db)
    on_postgres = sqlite_file is None
    if on_postgres and not args.audit:
        raise ConfigError(
            f"--db {redact_url(str(args.db))}: give --audit PATH, this replica's own audit "
            "log (each replica keeps its own hash chain)"
        )
    if args.listen_db and not on_postgres:
        raise ConfigError("--listen-db is for a PostgreSQL --db (SQLite holds one aggregator)")
    args.audit = args.audit or f"{args.db}.audit.jsonl"
    with nullcontext() if on_postgres else hold_sqlite(sqlite_file):
        return _serve(args, tls, groups, rounds)


def _serve(
    args: argparse.Namespace, tls: TlsFiles | None, groups: tuple[str, ...], rounds: RoundSettings
) -> int:
    """Serve until a signal, once the arguments are checked (and a SQLite store locked)."""
    from prometheus_client import CollectorRegistry

    from aggregator.central import CentralGate
    from aggregator.exporter import serve_metrics
    from aggregator.partition import check_partition
    from aggregator.replicas import ReplicaSettings
    from aggregator.retrain import TrainingSettings
    from aggregator.server import create_server, serve_forever
    from aggregator.store import create_store, redact_url
    from fedgov.audit import AuditLog
    from fedgov.checkpoints import CheckpointKey
    from fedgov.policy import RegoEngine, default_bundle_path

    audit = AuditLog(args.audit)
    key_path = verbs_anchors.checkpoint_key_path(args)
    checkpoint_key = CheckpointKey.load_or_create(key_path)
    logging.getLogger(__name__).info(
        "audit checkpoints signed with key %s (%s); `fedgov aggregator public-key` prints it",
        checkpoint_key.key_id,
        key_path,
    )
    engine = RegoEngine.from_bundle(args.policy or default_bundle_path())  # fail closed at start
    central = CentralGate(engine, groups)
    store = create_store(args.db)
    check_partition(
        rounds.groups, [(x.silo_id, x.jurisdiction) for x in store.list_silos()], rounds.min_cohort
    )
    registry = CollectorRegistry()
    if args.metrics_port is not None:
        serve_metrics(registry, args.metrics_port, args.metrics_address)
    training = None
    if args.retrain:
        training = TrainingSettings(
            rounds=args.rounds,
            reweigh_attribute=args.reweigh,
            app=args.flower_app,
            flower_tls=tls,  # the SuperLink runs beside the aggregator: same certificate
            node_keys=Path(args.node_keys or args.tls_dir) if tls else None,
        )
    running = create_server(
        args.listen,
        store,
        central=central,
        tls=tls,
        audit=audit,
        checkpoint_key=checkpoint_key,
        registry=registry,
        health_address=args.health_listen,
        training=training,
        cooldown_s=args.cooldown / 1000,
        replica=ReplicaSettings(args.replica, args.command_poll / 1000, args.listen_db),
    )
    running.handler.rounds.settings = rounds
    if args.reannotation_dir:
        running.handler.reannotation_dir = Path(args.reannotation_dir)
    print(
        f"aggregator listening on port {running.port} (store {redact_url(str(args.db))})",
        flush=True,
    )
    serve_forever(running)
    return 0
