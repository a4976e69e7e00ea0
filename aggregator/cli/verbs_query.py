"""`fedgov query drift|fairness|central|decisions|silos|history`: cross-jurisdiction answers.

Each answer comes from the aggregator (:class:`~aggregator.query_client.QueryClient`)
or, for ``drift`` and ``fairness`` with ``--promql-url``, from Prometheus or Thanos
(:class:`~aggregator.promql.PromQLClient`); ``--json`` prints the same typed answer
(:mod:`aggregator.answers`) the table shows.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aggregator.answers import DriftFilters, DriftRow, to_json
from aggregator.cli import tables
from aggregator.cli._client import add_client_options, open_client
from fedgov.cli import Verbs
from fedgov.cli import arguments as t
from fedgov.cli.output import print_fairness, print_json

if TYPE_CHECKING:
    from aggregator.query_client import QueryClient

__all__ = ["register", "run"]


def _add_promql(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--promql-url",
        default=None,
        metavar="URL",
        help="answer from a Prometheus or Thanos Query HTTP API instead of the aggregator "
        "(latest window of each silo, as exported by the agents)",
    )


def _jurisdictions(p: argparse.ArgumentParser, example: str = "EU-*") -> None:
    p.add_argument(
        "--jurisdictions", default="", metavar="GLOB", type=t.glob, help=f"e.g. '{example}'"
    )


def _since(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--since", default="", type=t.since_ms, help=help)


def _model(p: argparse.ArgumentParser, *, required: bool) -> None:
    if required:
        p.add_argument("--model", required=True, type=t.identifier, help="model id")
    else:
        p.add_argument("--model", default="", type=t.optional(t.identifier), help="only this model")


def register(verbs: Verbs) -> None:
    p = verbs.add_parser("query", help="cross-jurisdiction compliance queries")
    queries = p.add_subparsers(dest="query_command", metavar="QUERY", required=True)

    q = queries.add_parser("drift", help="features whose PSI exceeds a threshold")
    q.add_argument("--psi", type=t.threshold, default=0.2, help="PSI threshold (default 0.2)")
    _since(q, "only windows ending after: 2h, 7d or ISO time")
    _model(q, required=False)
    _jurisdictions(q)
    _add_promql(q)
    add_client_options(q)

    q = queries.add_parser("fairness", help="fairness of a model merged across silos")
    _model(q, required=True)
    q.add_argument(
        "--model-version",
        default="",
        dest="model_version",
        type=t.optional(t.identifier),
        help="default: newest",
    )
    _jurisdictions(q)
    _since(q, "merge every window since (default: latest of each silo)")
    q.add_argument(
        "--source",
        choices=("auto", "secure", "reports"),
        default="auto",
        help="auto (default): the newest secure sum where a completed round covers the "
        "jurisdictions, else the per-silo reports; secure or reports: only that",
    )
    _add_promql(q)
    add_client_options(q)

    q = queries.add_parser(
        "central", help="the central policy's latest decision per model and jurisdiction group"
    )
    _model(q, required=False)
    add_client_options(q)

    q = queries.add_parser("decisions", help="the latest policy decision of every silo")
    _jurisdictions(q, "US-*")
    q.add_argument("--deny-only", action="store_true", help="only silos whose decision denies")
    add_client_options(q)

    q = queries.add_parser("silos", help="registered silos and when they were last seen")
    t.add_option(
        q,
        "--stale",
        t.DURATION,
        "only silos silent for longer than this, e.g. 30m, 6h, 2d",
        default="",
    )
    _jurisdictions(q)
    add_client_options(q)

    q = queries.add_parser("history", help="one metric of a model over time, per silo")
    _model(q, required=True)
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
    _since(q, "only windows ending after: 2h, 7d or ISO time")
    _jurisdictions(q)
    add_client_options(q)
    p.set_defaults(run=run)


def _show(answer: Any, as_json: bool, printer: Callable[..., None], *extra: Any) -> None:
    """``--json`` or the table, both from the same typed answer."""
    if as_json:
        print_json(to_json(answer))
    else:
        printer(answer, *extra)


def _drift_filters(args: argparse.Namespace) -> DriftFilters:
    return {"since_ms": args.since, "model_id": args.model, "jurisdiction_glob": args.jurisdictions}


def _query_promql(args: argparse.Namespace) -> int:
    from aggregator.promql import PromQLClient

    client = PromQLClient(args.promql_url)
    if args.query_command == "drift":
        rows = client.drift(args.psi, **_drift_filters(args))
        _show([DriftRow(**r) for r in rows], args.json, tables.print_drift, args.psi)
        return 0
    impact = client.disparate_impact(
        args.model,
        model_version=args.model_version,
        jurisdiction_glob=args.jurisdictions,
        merge=bool(args.jurisdictions),
    )
    _show(impact, args.json, tables.print_disparate_impact)
    return 0


def _ask(
    client: QueryClient, args: argparse.Namespace
) -> tuple[Any, Callable[..., None], tuple[Any, ...]]:
    """The typed answer to the query ``args`` name, its table printer and the printer's extras."""
    q, glob = args.query_command, args.jurisdictions if "jurisdictions" in args else ""
    if q == "drift":
        return client.drift(args.psi, **_drift_filters(args)), tables.print_drift, (args.psi,)
    if q == "fairness":
        ans = client.fairness(
            args.model,
            model_version=args.model_version,
            jurisdiction_glob=glob,
            since_ms=args.since,
            source="" if args.source == "auto" else args.source,
        )
        return ans, lambda a: print_fairness(to_json(a)), ()
    if q == "central":
        return client.central(model_id=args.model), tables.print_central, ()
    if q == "silos":
        silos = client.silos(stale_after_ms=args.stale, jurisdiction_glob=glob)
        return silos, tables.print_silos, ()
    if q == "history":
        points = client.history(
            args.model,
            args.metric,
            feature=args.feature,
            attribute=args.attribute,
            since_ms=args.since,
            jurisdiction_glob=glob,
        )
        return points, tables.print_history, (args.metric,)
    decisions = client.decisions(jurisdiction_glob=glob)
    if args.deny_only:
        decisions = [r for r in decisions if not r.allow]
    return decisions, tables.print_decisions, ()


def run(args: argparse.Namespace) -> int:
    if getattr(args, "promql_url", None):
        return _query_promql(args)
    with open_client(args) as client:
        answer, printer, extra = _ask(client, args)
    _show(answer, args.json, printer, *extra)
    return 0
