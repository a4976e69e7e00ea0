"""Checking an audit log against heads anchored outside it.

A hash chain (:mod:`fedgov.audit`) shows an edited, deleted or reordered
record, but not a log cut short, emptied, or rewritten from some record on
with every later hash recomputed: what is left is a valid chain. What catches
those is an :class:`Anchor`, a ``(seq, hash)`` the log had at some time, kept
where its writer cannot change it:

- an agent's head travels with each report; the aggregator keeps every head
  it receives (:class:`ReceivedHead`), append-only, and hands them out
  (``fedgov audit heads``, or ``fedgov audit verify --aggregator``);
- the aggregator's own head is in signed checkpoints that every silo keeps
  (:mod:`fedgov.checkpoints`); a checkpoint anchors nothing unless its
  signature verifies with the aggregator's public key.

:func:`verify_anchored` fails a log when an anchored record is missing
(truncated), hashes differently (rewritten), or two anchors disagree about one
record (a silo that rewrote its log and anchored it again: the older head still
catches it), and counts the records after the newest anchor, which nothing
vouches for yet.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from fedgov.audit import ChainReport, verify_chain
from fedgov.checkpoints import Checkpoint, key_id
from fedgov.documents import load_document
from fedgov.errors import ConfigError

__all__ = [
    "Anchor",
    "AnchoredReport",
    "ReceivedHead",
    "checkpoint_anchors",
    "heads_to_json",
    "read_heads",
    "verify_anchored",
]


@dataclass(frozen=True)
class Anchor:
    """The log's record ``seq`` hashed to ``hash``, says ``source`` (for messages)."""

    seq: int
    hash: str
    source: str


@dataclass(frozen=True)
class ReceivedHead:
    """An agent's audit head as the aggregator received it, with a report."""

    seq: int
    hash: str
    report_id: str
    received_ms: int

    def anchor(self) -> Anchor:
        when = _utc(self.received_ms)
        return Anchor(self.seq, self.hash, f"the head sent with report {self.report_id} ({when})")

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "hash": self.hash,
            "report_id": self.report_id,
            "received_ms": self.received_ms,
        }


def heads_to_json(silo_id: str, heads: Iterable[ReceivedHead]) -> dict[str, Any]:
    """The JSON document :func:`read_heads` reads (``fedgov audit heads --json``)."""
    return {"silo_id": silo_id, "heads": [h.to_dict() for h in heads]}


def read_heads(path: str | Path) -> list[ReceivedHead]:
    """Heads from a JSON file: ``{"heads": [...]}`` or a bare list of
    ``{"seq", "hash"[, "report_id", "received_ms"]}``."""
    doc = load_document(path, what="anchors file", yaml_syntax=False)
    items = doc.get("heads") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise ConfigError(
            f"{path}: expected the output of `fedgov audit heads --json` "
            '({"heads": [{"seq": ..., "hash": ...}, ...]}) or a list of heads'
        )
    heads = []
    for i, d in enumerate(items):
        seq = d.get("seq") if isinstance(d, dict) else None
        digest = d.get("hash") if isinstance(d, dict) else None
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise ConfigError(f"{path}: heads[{i}].seq: a whole number >= 0 is required")
        if not isinstance(digest, str) or not digest:
            raise ConfigError(f"{path}: heads[{i}].hash: the record's hash is required")
        report_id = d.get("report_id", "")
        received = d.get("received_ms", 0)
        heads.append(
            ReceivedHead(seq, digest, str(report_id), received if isinstance(received, int) else 0)
        )
    return heads


def checkpoint_anchors(
    checkpoints: Iterable[Checkpoint], public: Ed25519PublicKey
) -> tuple[list[Anchor], list[str]]:
    """The anchors of the checkpoints that verify with ``public``, and a problem for
    each of its key that does not (a forged checkpoint anchors nothing).

    Checkpoints of other keys are left out: several aggregator replicas keep one chain
    and one key each, and a silo keeps the checkpoints of all of them. If none is of
    ``public``'s key at all, that is a problem (the wrong public key, most likely).
    """
    anchors: list[Anchor] = []
    problems: list[str] = []
    mine = key_id(public)
    cps = list(checkpoints)
    for cp in cps:
        if cp.key_id != mine:
            continue  # another replica's chain
        when = _utc(cp.time_ms)
        if cp.verifies(public):
            anchors.append(Anchor(cp.seq, cp.head, f"the checkpoint signed {when}"))
        else:
            problems.append(
                f"forged checkpoint: the one for record {cp.seq} ({when}, key {cp.key_id}) "
                "does not verify with the given public key"
            )
    if cps and not anchors and not problems:
        others = ", ".join(sorted({cp.key_id for cp in cps}))
        problems.append(
            f"none of the {len(cps)} checkpoints is of key {mine} (they are of {others}): "
            "give the public key of the aggregator (replica) that wrote this log"
        )
    return anchors, problems


@dataclass(frozen=True)
class AnchoredReport:
    """A chain check plus what the anchors say about it."""

    chain: ChainReport
    anchors: int  # how many anchors were checked
    anchored_through: int | None  # the newest anchored seq; None without anchors
    unanchored: int  # records after the newest anchor (all of them without anchors)
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.chain.records,
            "head": self.chain.head,
            "broken_line": self.chain.broken_line,
            "reason": self.chain.reason,
            "anchors": self.anchors,
            "anchored_through": self.anchored_through,
            "unanchored": self.unanchored,
            "problems": list(self.problems),
        }


def verify_anchored(
    path: str | Path, anchors: Sequence[Anchor], *, problems: Sequence[str] = ()
) -> AnchoredReport:
    """Check the chain of ``path`` and every anchor against it (one read of the file).

    ``problems`` found before (forged checkpoints) are carried into the report.
    An empty log is a problem: every fedgov log starts with a record.
    """
    rep = verify_chain(path, keep={a.seq for a in anchors})
    found = list(problems)
    if rep.ok and rep.records == 0:
        found.append("empty: an audit log has at least one record; it was emptied or replaced")
    by_seq: dict[int, set[str]] = {}
    for a in anchors:
        by_seq.setdefault(a.seq, set()).add(a.hash)
    for seq, hashes in sorted(by_seq.items()):
        if len(hashes) > 1:
            found.append(
                f"rewritten and re-anchored: {len(hashes)} different hashes were anchored "
                f"for record {seq}, so the log was rewritten after one of them"
            )
    for a in sorted(anchors, key=lambda a: (a.seq, a.hash)):
        if a.seq >= rep.records:
            if rep.ok:  # past a broken link nothing was verified: the break says it all
                found.append(
                    f"truncated: {a.source} anchors record {a.seq}, but the log holds "
                    f"{rep.records} record{'s' if rep.records != 1 else ''} "
                    f"(at least {a.seq + 1 - rep.records} missing at its end)"
                )
        elif rep.kept[a.seq] != a.hash:
            found.append(
                f"rewritten: record {a.seq} hashes to {rep.kept[a.seq][:16]}..., but "
                f"{a.source} anchored {a.hash[:16]}..."
            )
    newest = max(by_seq) if by_seq else None
    unanchored = rep.records if newest is None else max(0, rep.records - newest - 1)
    return AnchoredReport(rep, len(anchors), newest, unanchored, tuple(_unique(found)))


def _utc(ms: int) -> str:
    """``ms`` since the epoch as UTC text, for messages (``2024-01-31T12:00:00Z``).

    A time no calendar holds (it comes from a file the user hands over) stays a number.
    """
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))
    except (OverflowError, OSError, ValueError):
        return f"{ms} ms after the epoch"


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
