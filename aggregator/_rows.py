"""The command stream's serde: a stored command as the ``Command`` message an agent receives,
and a stored secure round as the ``RoundInfo`` an operator lists.

Query answers travel through :mod:`aggregator.query_serde`.
"""

from __future__ import annotations

from aggregator.store import CommandRecord, RoundRecord
from fedgov.secagg import RoundParams
from fedgov.v1 import aggregator_pb2 as pb
from fedgov.v1 import secagg_pb2
from fedgov.wire import fields_of

__all__ = ["command_to_proto", "round_to_proto"]


def command_to_proto(c: CommandRecord) -> pb.Command:
    return pb.Command(
        **fields_of(c, "command_id", "kind", "job_id", "model_id", "model_version", "reason"),
        created_unix_ms=c.created_ms,
        payload_json=c.payload,
    )


def round_to_proto(r: RoundRecord) -> secagg_pb2.RoundInfo:
    params = RoundParams.from_json(r.params)
    return secagg_pb2.RoundInfo(
        **fields_of(r, "round_id", "model_id", "part", "stage", "status", "reason", "survivors"),
        period_start_unix_ms=r.period_start_ms,
        period_end_unix_ms=r.period_end_ms,
        cohort=params.cohort,
        threshold=params.threshold,
        opened_unix_ms=r.opened_ms,
    )
