"""The command stream's serde: a stored command as the ``Command`` message an agent receives.

Query answers travel through :mod:`aggregator.query_serde`.
"""

from __future__ import annotations

from aggregator.store import CommandRecord
from fedgov.v1 import aggregator_pb2 as pb

__all__ = ["command_to_proto"]


def command_to_proto(c: CommandRecord) -> pb.Command:
    return pb.Command(
        command_id=c.command_id,
        kind=c.kind,
        job_id=c.job_id,
        model_id=c.model_id,
        model_version=c.model_version,
        reason=c.reason,
        created_unix_ms=c.created_ms,
        payload_json=c.payload,
    )
