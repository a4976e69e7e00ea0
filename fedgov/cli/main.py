"""The `fedgov` command.

This module is the composition root: the one place that wires the agent and
the aggregator together (for the demo) and imports each lazily, so
``fedgov query`` does not load the agent, and the agent never loads the
aggregator. Exit codes: 0 ok, 1 a gate denied / generic error, 2 bad usage
or config, 3 bad data, 4 policy error, 5 aggregator unreachable, 6 report
rejected, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from fedgov import __version__
from fedgov.cli import _args as t
from fedgov.errors import GovernanceError

__all__ = ["build_parser", "main"]

DEFAULT_AGGREGATOR = "127.0.0.1:50051"


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    p.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")


def _add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON for scripts instead of a table")


def _add_aggregator(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--aggregator",
        default=DEFAULT_AGGREGATOR,
        type=t.address,
        metavar="HOST:PORT",
        help=f"aggregator address (default {DEFAULT_AGGREGATOR})",
    )
    p.add_argument(
        "--tls-dir",
        default=None,
        metavar="DIR",
        help="mTLS: folder with ca.pem and IDENTITY.pem/.key (from `fedgov certs init`); "
        "without it the call is plaintext and works only against an --insecure aggregator",
    )
    p.add_argument(
        "--identity",
        default="operator",
        type=t.identifier,
        help="certificate name in --tls-dir (default operator)",
    )


def _add_promql(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--promql-url",
        default=None,
        metavar="URL",
        help="answer from a Prometheus or Thanos Query HTTP API instead of the aggregator "
        "(latest window of each silo, as exported by the agents)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fedgov",
        description=(
            "Govern ML models across data silos: per-silo drift and fairness statistics, "
            "Rego policy gates, and cross-jurisdiction compliance queries over aggregates only."
        ),
        epilog="Run `fedgov demo` to see the whole flow on generated data.",
    )
    parser.add_argument("--version", action="version", version=f"fedgov {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    # spec
    p = sub.add_parser(
        "spec",
        help="derive a monitoring spec from reference data",
        description="Derive a monitoring spec (bin edges, categories, groups, reference counts) "
        "from a reference CSV or Parquet file.",
    )
    p.add_argument("--reference", required=True, metavar="FILE", help="reference data file")
    p.add_argument("--model", required=True, type=t.identifier, help="model id")
    p.add_argument(
        "--model-version",
        required=True,
        dest="model_version",
        type=t.identifier,
        help="model version",
    )
    p.add_argument("--label", required=True, type=t.name, help="ground-truth column")
    p.add_argument("--prediction", required=True, type=t.name, help="predicted-label column")
    p.add_argument(
        "--score",
        type=t.name,
        help="optional score column (a probability of the positive label)",
    )
    p.add_argument(
        "--score-bins",
        type=t.count(1, 10_000),
        default=20,
        dest="score_bins",
        help="equal-width bins of the per-group score histograms, over [0, 1] unless the "
        "reference scores leave it (default 20; AUC and calibration error come from them)",
    )
    p.add_argument("--positive-label", default="1", help="value of the positive class (default 1)")
    p.add_argument("--sensitive", default="", help="comma-separated sensitive attribute columns")
    p.add_argument(
        "--intersection",
        action="append",
        default=[],
        metavar="A*B",
        help="declare an intersection of sensitive attributes, e.g. sex*age_band (repeatable)",
    )
    p.add_argument(
        "--categorical", default="", help="comma-separated columns to treat as categorical"
    )
    p.add_argument("--exclude", default="", help="comma-separated columns that are not features")
    p.add_argument(
        "--bins", type=t.count(1, 10_000), default=10, help="quantile bins per numeric feature"
    )
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="where to write the spec")
    _add_common(p)

    # agent
    p = sub.add_parser("agent", help="the per-silo agent")
    asub = p.add_subparsers(dest="agent_command", metavar="ACTION", required=True)
    r = asub.add_parser(
        "run",
        help="report local windows to the aggregator",
        description="Read each new CSV/Parquet window in the input folders, compute statistics, "
        "evaluate the silo's Rego policy, expose /metrics and submit the report over gRPC.",
    )
    r.add_argument("--config", required=True, metavar="FILE", help="silo YAML config")
    r.add_argument("--once", action="store_true", help="process what is there, then exit")
    _add_common(r)

    # aggregator
    p = sub.add_parser("aggregator", help="the central aggregator")
    gsub = p.add_subparsers(dest="aggregator_command", metavar="ACTION", required=True)
    s = gsub.add_parser("serve", help="serve the aggregator over gRPC")
    s.add_argument(
        "--db", default="fedgov.db", metavar="PATH", help="SQLite file (default fedgov.db)"
    )
    s.add_argument(
        "--listen",
        default=DEFAULT_AGGREGATOR,
        type=t.address,
        metavar="HOST:PORT",
        help=f"address to listen on (default {DEFAULT_AGGREGATOR}; port 0 = any)",
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
    s.add_argument(
        "--tls-dir",
        default=None,
        metavar="DIR",
        help="mTLS (the default): folder with ca.pem, aggregator.pem, aggregator.key",
    )
    s.add_argument(
        "--insecure",
        action="store_true",
        help="plaintext gRPC without client authentication (trials only; logged as a warning)",
    )
    s.add_argument(
        "--retrain",
        action="store_true",
        help="run federated retraining on Flower when a gate requests it (SuperLink started here)",
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
    s.add_argument(
        "--flower-app",
        default=None,
        metavar="DIR",
        help="your own Flower App (ServerApp + ClientApp) instead of the built-in model",
    )
    s.add_argument(
        "--cooldown",
        default="0s",
        type=t.duration_ms,
        metavar="DURATION",
        help="after a job ends, ignore new retrain triggers for this long (e.g. 1h)",
    )
    s.add_argument(
        "--reannotation-dir",
        default=None,
        metavar="DIR",
        help="where `reannotate` actions write requests (slices and counts, never rows)",
    )
    s.add_argument(
        "--health-listen",
        default=None,
        type=t.address,
        metavar="HOST:PORT",
        help="also serve grpc.health.v1 alone, plaintext, here (for kubelet probes under mTLS)",
    )
    s.add_argument(
        "--metrics-port",
        type=t.port,
        default=None,
        metavar="PORT",
        help="serve Prometheus /metrics (ingest rate, rejects, latency) on this port",
    )
    s.add_argument(
        "--audit",
        default=None,
        metavar="PATH",
        help="hash-chained audit log (default: next to the database, DB.audit.jsonl)",
    )
    _add_common(s)

    # query
    p = sub.add_parser("query", help="cross-jurisdiction compliance queries")
    qsub = p.add_subparsers(dest="query_command", metavar="QUERY", required=True)
    q = qsub.add_parser("drift", help="features whose PSI exceeds a threshold")
    q.add_argument("--psi", type=t.threshold, default=0.2, help="PSI threshold (default 0.2)")
    q.add_argument(
        "--since", default="", type=t.since_ms, help="only windows ending after: 2h, 7d or ISO time"
    )
    q.add_argument("--model", default="", type=t.optional(t.identifier), help="only this model")
    q.add_argument("--jurisdictions", default="", metavar="GLOB", type=t.glob, help="e.g. 'EU-*'")
    _add_promql(q)
    for x in (q,):
        _add_aggregator(x)
        _add_json(x)
        _add_common(x)
    q = qsub.add_parser("fairness", help="fairness of a model merged across silos")
    q.add_argument("--model", required=True, type=t.identifier, help="model id")
    q.add_argument(
        "--model-version",
        default="",
        dest="model_version",
        type=t.optional(t.identifier),
        help="default: newest",
    )
    q.add_argument("--jurisdictions", default="", metavar="GLOB", type=t.glob, help="e.g. 'EU-*'")
    q.add_argument(
        "--since",
        default="",
        type=t.since_ms,
        help="merge every window since (default: latest of each silo)",
    )
    _add_promql(q)
    _add_aggregator(q)
    _add_json(q)
    _add_common(q)
    q = qsub.add_parser(
        "central", help="the central policy's latest decision per model and jurisdiction group"
    )
    q.add_argument("--model", default="", type=t.optional(t.identifier), help="only this model")
    _add_aggregator(q)
    _add_json(q)
    _add_common(q)
    q = qsub.add_parser("decisions", help="the latest policy decision of every silo")
    q.add_argument("--jurisdictions", default="", metavar="GLOB", type=t.glob, help="e.g. 'US-*'")
    q.add_argument("--deny-only", action="store_true", help="only silos whose decision denies")
    _add_aggregator(q)
    _add_json(q)
    _add_common(q)
    q = qsub.add_parser("silos", help="registered silos and when they were last seen")
    q.add_argument(
        "--stale",
        default="",
        type=t.duration_ms,
        metavar="DURATION",
        help="only silos silent for longer than this, e.g. 30m, 6h, 2d",
    )
    q.add_argument("--jurisdictions", default="", metavar="GLOB", type=t.glob, help="e.g. 'EU-*'")
    _add_aggregator(q)
    _add_json(q)
    _add_common(q)
    q = qsub.add_parser("history", help="one metric of a model over time, per silo")
    q.add_argument("--model", required=True, type=t.identifier, help="model id")
    q.add_argument(
        "--metric",
        required=True,
        type=t.identifier,
        help="e.g. psi, demographic_parity_ratio, sample_size",
    )
    q.add_argument(
        "--feature", default="", type=t.optional(t.name), help="the feature, for drift metrics"
    )
    q.add_argument(
        "--attribute",
        default="",
        type=t.optional(t.name),
        help="the sensitive attribute, for fairness metrics",
    )
    q.add_argument(
        "--since", default="", type=t.since_ms, help="only windows ending after: 2h, 7d or ISO time"
    )
    q.add_argument("--jurisdictions", default="", metavar="GLOB", type=t.glob, help="e.g. 'EU-*'")
    _add_aggregator(q)
    _add_json(q)
    _add_common(q)

    p = sub.add_parser("model", help="the model registry: versions, aliases, lineage")
    msub = p.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    c = msub.add_parser("list", help="every version with its status and aliases")
    c.add_argument("--model", default="", type=t.optional(t.identifier), help="only this model")
    _add_aggregator(c)
    _add_json(c)
    _add_common(c)
    c = msub.add_parser("show", help="one version with its lineage")
    c.add_argument("model", metavar="MODEL", type=t.identifier)
    c.add_argument(
        "version",
        metavar="VERSION",
        nargs="?",
        default="",
        type=t.optional(t.identifier),
        help="default: production",
    )
    _add_aggregator(c)
    _add_json(c)
    _add_common(c)
    c = msub.add_parser("promote", help="point production at a version (operators)")
    c.add_argument("model", metavar="MODEL", type=t.identifier)
    c.add_argument("version", metavar="VERSION", type=t.identifier)
    c.add_argument("--reason", default="", help="why, for the audit log")
    _add_aggregator(c)
    _add_json(c)
    _add_common(c)
    c = msub.add_parser("rollback", help="point production back at its previous version")
    c.add_argument("model", metavar="MODEL", type=t.identifier)
    _add_aggregator(c)
    _add_json(c)
    _add_common(c)

    p = sub.add_parser("jobs", help="list retraining jobs")
    p.add_argument("--model", default="", type=t.optional(t.identifier), help="only this model")
    _add_aggregator(p)
    _add_json(p)
    _add_common(p)

    # stats
    p = sub.add_parser(
        "stats",
        help="a local look at a data file's statistics and metrics",
        description="Fold FILE (CSV or Parquet) under the monitoring spec and print drift "
        "and fairness metrics. Drift is measured against the spec's reference profile, "
        "or against --reference FILE.",
    )
    p.add_argument("file", metavar="FILE", help="the window to look at (CSV or Parquet)")
    p.add_argument("--spec", required=True, metavar="SPEC", help="monitoring spec (JSON)")
    p.add_argument(
        "--reference",
        metavar="FILE",
        help="measure drift against this file's rows instead of the spec's reference profile",
    )
    p.add_argument(
        "--no-progress", action="store_true", help="no progress bar (drawn only on a terminal)"
    )
    _add_json(p)
    _add_common(p)

    # policy
    p = sub.add_parser("policy", help="check, test and evaluate Rego policy bundles")
    psub = p.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    c = psub.add_parser("check", help="compile a bundle; errors name file and line")
    c.add_argument("bundle", metavar="BUNDLE")
    _add_common(c)
    c = psub.add_parser("test", help="run the bundle's *_test.rego tests")
    c.add_argument("bundle", metavar="BUNDLE")
    _add_json(c)
    _add_common(c)
    c = psub.add_parser("eval", help="evaluate the decision for an input document")
    c.add_argument("bundle", metavar="BUNDLE")
    c.add_argument("--input", required=True, metavar="FILE", help="input JSON document")
    _add_common(c)

    # certs
    p = sub.add_parser("certs", help="a trial PKI for mTLS")
    csub = p.add_subparsers(dest="certs_command", metavar="ACTION", required=True)
    c = csub.add_parser(
        "init",
        help="create a CA, an aggregator certificate and one per silo",
        description="Create (or extend) a trial PKI: ca.pem/ca.key, aggregator.pem/.key for the "
        "given hosts, operator.pem/.key for queries, and SILO.pem/.key whose Common Name is "
        "the silo id. For trials; production uses the site's PKI with the same naming.",
    )
    c.add_argument("--out", required=True, metavar="DIR", help="folder to write into")
    c.add_argument(
        "--silos",
        required=True,
        type=t.identifier_list,
        help="comma-separated silo ids, e.g. EU-DE,US-NY",
    )
    c.add_argument(
        "--hosts", default="localhost,127.0.0.1", help="aggregator host names / IPs for its SAN"
    )
    c.add_argument(
        "--days", type=t.count(1, 36_500), default=30, help="validity in days (default 30)"
    )
    _add_common(c)

    # audit
    p = sub.add_parser("audit", help="verify hash-chained audit logs")
    ausub = p.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    c = ausub.add_parser(
        "verify",
        help="check a chain and name the first broken link",
        description="Exit 0 if every record links to the previous one and matches its hash; "
        "exit 1 naming the first broken line otherwise.",
    )
    c.add_argument("path", metavar="PATH", help="an audit.jsonl file")
    _add_json(c)
    _add_common(c)

    # demo
    p = sub.add_parser(
        "demo",
        help="run the federated demo: an aggregator and three silos on generated data",
        description="Start an aggregator and three silo agents (EU-DE, EU-FR, US-NY) on "
        "generated credit-scoring data, report one window each, query across jurisdictions, "
        "dispatch retraining, clean up.",
    )
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
    _add_json(p)
    _add_common(p)
    return parser


def _configure_logging(args: argparse.Namespace) -> None:
    level = logging.WARNING
    if getattr(args, "quiet", False):
        level = logging.ERROR
    elif getattr(args, "verbose", 0) >= 2:
        level = logging.DEBUG
    elif getattr(args, "verbose", 0) == 1 or args.command in ("agent", "aggregator"):
        level = logging.INFO
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args)
    from fedgov.cli import commands

    handlers = {
        "spec": commands.cmd_spec,
        "agent": commands.cmd_agent,
        "aggregator": commands.cmd_aggregator,
        "query": commands.cmd_query,
        "jobs": commands.cmd_jobs,
        "model": commands.cmd_model,
        "stats": commands.cmd_stats,
        "policy": commands.cmd_policy,
        "audit": commands.cmd_audit,
        "certs": commands.cmd_certs,
        "demo": commands.cmd_demo,
    }
    try:
        return handlers[args.command](args)
    except GovernanceError as exc:
        print(f"fedgov: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("fedgov: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
