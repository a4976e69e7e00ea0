"""`fedgov round open|list`: secure aggregation rounds, opened on demand and listed."""

from __future__ import annotations

import argparse

from aggregator.cli._client import add_client_options, open_client
from fedgov.cli import Verbs
from fedgov.cli import arguments as t
from fedgov.cli.output import print_json

__all__ = ["register"]


def _period(text: str) -> tuple[int, int]:
    start, sep, end = text.partition("/")
    if not sep:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a period: give START/END, each an ISO time or a duration ago, "
            "like 2026-12-07T00:00/2026-12-08T00:00 or 2h/1h"
        )
    return t.since_ms(start), t.since_ms(end)


def register(verbs: Verbs) -> None:
    actions = t.add_actions(verbs, "round", "secure aggregation rounds (exact sums over cohorts)")
    o = actions.add_parser(
        "open",
        help="open a secure round for a closed period now (operators)",
        description="Open a secure aggregation round for MODEL over a closed PERIOD, one per "
        "part of the aggregator's --groups (or only --part). The silos of each part take "
        "part over their command streams (agents in watch mode at once; a `--once` agent on "
        "its next run). A part with a completed or open round for the period gives that "
        "round back: at most one completed round per (model, period, part).",
    )
    o.add_argument("--model", required=True, type=t.identifier, help="the model id")
    o.add_argument(
        "--period",
        required=True,
        type=_period,
        metavar="START/END",
        help="ISO times or durations ago, e.g. 2026-12-07T00:00/2026-12-08T00:00 or 2h/1h",
    )
    o.add_argument("--part", default="", type=t.optional(t.glob), help="only this group")
    add_client_options(o)
    o.set_defaults(run=run_open)
    ls = actions.add_parser("list", help="list secure rounds and where each stands")
    ls.add_argument("--model", default="", type=t.optional(t.identifier), help="only this model")
    add_client_options(ls)
    ls.set_defaults(run=run_list)


def run_open(args: argparse.Namespace) -> int:
    start, end = args.period
    with open_client(args) as client:
        rounds = client.open_round(args.model, start, end, args.part)
    _show(rounds, args.json)
    return 0


def run_list(args: argparse.Namespace) -> int:
    with open_client(args) as client:
        rounds = client.list_rounds(args.model)
    _show(rounds, args.json)
    return 0


def _show(rounds: list, as_json: bool) -> None:  # type: ignore[type-arg]
    from aggregator.partition import period_label  # imported when the verb runs

    rows = [
        {
            "round_id": r.round_id,
            "model_id": r.model_id,
            "period": period_label(r.period_start_unix_ms, r.period_end_unix_ms),
            "part": r.part,
            "cohort": list(r.cohort),
            "threshold": r.threshold,
            "stage": r.stage,
            "status": r.status,
            "reason": r.reason,
            "survivors": list(r.survivors),
        }
        for r in rounds
    ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        print("no secure rounds")
    for r in rows:
        done = f", sum of {len(r['survivors'])}" if r["status"] == "completed" else ""
        why = f": {r['reason']}" if r["reason"] else ""
        print(
            f"{r['round_id'][:12]}  {r['model_id']}  {r['part']}  {r['period']}  "
            f"{r['status']} (stage {r['stage']}, cohort {len(r['cohort'])}, "
            f"t={r['threshold']}{done}){why}"
        )
