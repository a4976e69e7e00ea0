"""The command stream's serde: a stored command as the ``Command`` message an agent receives.

Query answers travel through :mod:`aggregator.query_serde`.
"""

from __future__ import annotations

from aggregator.store import CommandRecord
from fedgov.v1 import aggregator_pb2 as pb
from fedgov.wire import fields_of

__all__ = ["command_to_proto"]


def command_to_proto(c: CommandRecord) -> pb.Command:
    return pb.Command(
        **fields_of(c, "command_id", "kind", "job_id", "model_id", "model_version", "reason"),
        created_unix_ms=c.created_ms,
        payload_json=c.payload,
    )
