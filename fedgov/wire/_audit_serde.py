"""Audit anchors on the wire: checkpoints in acknowledgements, and a silo's stored heads.

``checkpoint_to_proto`` / ``checkpoint_from_proto`` carry the aggregator's
signed checkpoints (:mod:`fedgov.checkpoints`) in ``ReportAck.checkpoint``;
``heads_to_proto`` / ``heads_from_proto`` the answer of ``QueryAuditHeads``
(:class:`fedgov.anchors.ReceivedHead`). A report's own head travels in the
report (:mod:`fedgov.wire._report_serde`).
"""

from __future__ import annotations

from collections.abc import Iterable

from fedgov.anchors import ReceivedHead
from fedgov.checkpoints import Checkpoint
from fedgov.v1 import aggregator_pb2 as pb
from fedgov.wire._fields import fields_of

__all__ = ["checkpoint_from_proto", "checkpoint_to_proto", "heads_from_proto", "heads_to_proto"]


def checkpoint_to_proto(cp: Checkpoint) -> pb.Checkpoint:
    return pb.Checkpoint(
        **fields_of(cp, "seq", "head", "signature", "key_id", time_unix_ms="time_ms")
    )


def checkpoint_from_proto(m: pb.Checkpoint) -> Checkpoint:
    """As received; whether it verifies is for whoever holds the public key to say."""
    return Checkpoint(m.seq, m.head, m.time_unix_ms, bytes(m.signature), m.key_id)


def heads_to_proto(silo_id: str, heads: Iterable[ReceivedHead]) -> pb.AuditHeadsResponse:
    return pb.AuditHeadsResponse(
        silo_id=silo_id,
        heads=[
            pb.AuditHeadRow(
                **fields_of(h, "seq", "hash", "report_id", received_unix_ms="received_ms")
            )
            for h in heads
        ],
    )


def heads_from_proto(m: pb.AuditHeadsResponse) -> list[ReceivedHead]:
    return [ReceivedHead(h.seq, h.hash, h.report_id, h.received_unix_ms) for h in m.heads]
