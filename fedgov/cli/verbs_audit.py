"""`fedgov audit verify` and `fedgov audit heads`: check a hash-chained audit log, alone or
against the heads anchored outside it (:mod:`fedgov.anchors`).

A chain alone shows an edited, deleted or reordered record; a log cut short,
emptied or rewritten from some record on needs an anchor: a silo's heads as
the aggregator received them (``--aggregator`` fetches them, ``--anchors``
reads them from a file of ``fedgov audit heads --json``), or the aggregator's
signed checkpoints (``--checkpoints`` with ``--public-key``).
Exit codes: 0 verified, 1 tampered or truncated, 2 bad usage or input.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from fedgov.cli import Verbs
from fedgov.cli import arguments as t
from fedgov.cli.output import iso, print_json, table

if TYPE_CHECKING:
    from fedgov.anchors import Anchor, AnchoredReport, ReceivedHead
    from fedgov.checkpoints import Checkpoint

__all__ = ["heads", "print_checkpoints", "register", "verify"]


def register(verbs: Verbs) -> None:
    actions = t.add_actions(verbs, "audit", "verify hash-chained audit logs")
    c = t.add_verb(actions, "verify", verify)
    c.add_argument("path", metavar="PATH", help="an audit.jsonl file")
    c.add_argument(
        "--anchors",
        metavar="FILE",
        help="the silo's heads as `fedgov audit heads --json` printed them",
    )
    _add_aggregator(c, required=False)
    c.add_argument(
        "--checkpoints",
        metavar="FILE",
        help="the aggregator's signed checkpoints (`fedgov agent checkpoints --json` on a "
        "silo, or `fedgov aggregator checkpoints --json`), for the aggregator's own log",
    )
    c.add_argument(
        "--public-key",
        metavar="PEM",
        help="the aggregator's checkpoint public key (`fedgov aggregator public-key`)",
    )
    t.add_json(c)
    t.add_common(c)
    h = t.add_verb(actions, "heads", heads)
    _add_aggregator(h, required=True)
    t.add_json(h)
    t.add_common(h)


_SILO = t.Value("SILO", t.identifier)


def _add_aggregator(p: argparse.ArgumentParser, *, required: bool) -> None:
    t.add_option(
        p,
        "--aggregator",
        t.ADDRESS,
        "fetch the silo's anchored heads from this aggregator",
        required=required,
    )
    t.add_option(
        p,
        "--silo",
        _SILO,
        "the silo whose log it is (with --aggregator)",
        required=required,
    )
    t.add_tls_options(p)


def _fetch_heads(args: argparse.Namespace) -> list[ReceivedHead]:
    from fedgov.errors import QueryError
    from fedgov.v1 import aggregator_pb2 as pb
    from fedgov.v1 import aggregator_pb2_grpc
    from fedgov.wire import heads_from_proto
    from fedgov.wire.channel import open_channel
    from fedgov.wire.retry import Backoff, call_with_retry

    channel = open_channel(args.aggregator, t.tls_files(args))
    try:
        stub = aggregator_pb2_grpc.AggregatorStub(channel)
        request = pb.AuditHeadsQuery(silo_id=args.silo)
        answer = call_with_retry(
            f"audit heads of {args.silo}",
            lambda: stub.QueryAuditHeads(request, timeout=10.0),
            address=args.aggregator,
            backoff=Backoff(initial=0.2, maximum=1.0, max_elapsed=5.0),
            rejected=QueryError,
        )
    finally:
        channel.close()
    return heads_from_proto(answer)


def _anchors(args: argparse.Namespace) -> tuple[list[Anchor], list[str]]:
    from fedgov.anchors import checkpoint_anchors, read_heads
    from fedgov.checkpoints import load_public_key, read_checkpoints
    from fedgov.errors import ConfigError

    if bool(args.aggregator) != bool(args.silo):
        raise ConfigError("--aggregator and --silo go together: name the silo whose log it is")
    if bool(args.checkpoints) != bool(args.public_key):
        raise ConfigError(
            "--checkpoints needs --public-key (and back): a checkpoint anchors nothing "
            "until its signature verifies; `fedgov aggregator public-key` prints the key"
        )
    anchors: list[Anchor] = []
    problems: list[str] = []
    if args.anchors:
        anchors += [h.anchor() for h in read_heads(args.anchors)]
    if args.aggregator:
        anchors += [h.anchor() for h in _fetch_heads(args)]
    if args.checkpoints:
        signed, forged = checkpoint_anchors(
            read_checkpoints(args.checkpoints), load_public_key(args.public_key)
        )
        anchors += signed
        problems += forged
    return anchors, problems


def verify(args: argparse.Namespace) -> int:
    """Check a chain, and its anchors, and name what is wrong.

    Exit 0 if every record links to the previous one and matches its hash, and
    every anchored head is in the log as anchored; exit 1 naming the first broken
    line, or each anchor the log contradicts (truncated, rewritten, re-anchored, a
    forged checkpoint); exit 2 for bad usage. An empty log fails. Without anchors a
    log cut short still verifies: anchor it with --aggregator, --anchors or
    --checkpoints.
    """
    from fedgov.anchors import verify_anchored

    anchors, problems = _anchors(args)
    rep = verify_anchored(args.path, anchors, problems=problems)
    if args.json:
        print_json(rep.to_dict())
    else:
        _print_verdict(args.path, rep)
    return 0 if rep.ok else 1


def _print_verdict(path: str, rep: AnchoredReport) -> None:
    chain = rep.chain
    if not chain.ok:
        print(
            f"{path}:{chain.broken_line}: chain broken: {chain.reason} "
            f"({chain.records} records verified before it)"
        )
    for problem in rep.problems:
        print(f"{path}: {problem}")
    if not rep.ok:
        return
    print(f"{path}: OK, {chain.records} records, head {chain.head[:16]}")
    if rep.anchored_through is None:
        print(
            f"{path}: no anchors given: all {chain.records} records are unanchored, so a cut "
            "at the end would not show (use --aggregator, --anchors or --checkpoints)"
        )
    else:
        print(
            f"{path}: {rep.anchors} anchor(s) match; records 0..{rep.anchored_through} are "
            f"anchored, {rep.unanchored} record(s) after them are not yet"
        )


def heads(args: argparse.Namespace) -> int:
    """List the audit heads a silo's reports carried, as the aggregator keeps them.

    Every head the aggregator received from the silo, append-only; --json prints
    the file `fedgov audit verify --anchors` reads.
    """
    from fedgov.anchors import heads_to_json

    found = _fetch_heads(args)
    if args.json:
        print_json(heads_to_json(args.silo, found))
    else:
        table(
            ["seq", "hash", "report", "received"],
            [[h.seq, h.hash, h.report_id, iso(h.received_ms)] for h in found],
        )
    return 0


def print_checkpoints(found: list[Checkpoint], *, as_json: bool) -> None:
    """Checkpoints as a table, or as the JSON ``--checkpoints`` reads (both sides' verbs)."""
    from fedgov.checkpoints import checkpoints_to_json

    if as_json:
        print_json(checkpoints_to_json(found))
        return
    rows: list[list[Any]] = [[c.seq, iso(c.time_ms), c.key_id, c.head] for c in found]
    table(["seq", "signed", "key", "head"], rows)
