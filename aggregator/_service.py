"""Registering ``fedgov.v1.Aggregator`` on a ``grpc.aio`` server.

As the generated ``add_AggregatorServicer_to_server`` does, except that a
request whose bytes do not decode reaches the servicer as an
:class:`Undecodable` (which :func:`aggregator._rpc.rpc` refuses with
INVALID_ARGUMENT in words) instead of failing inside gRPC, which answers
UNKNOWN with a Python exception's name and logs a traceback.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc
from google.protobuf.message import DecodeError, Message
from google.protobuf.message_factory import GetMessageClass

from aggregator._status import fit
from fedgov.v1 import aggregator_pb2

__all__ = ["Undecodable", "add_service"]


class Undecodable:
    """What a request that is not its message's protobuf encoding decodes to."""

    def __init__(self, kind: str, error: Exception) -> None:
        self.kind, self.error = kind, error

    def explain(self, rpc_name: str) -> str:
        return fit(
            f"{rpc_name}: the request is not a valid {self.kind} message ({self.error}); "
            "send one built from fedgov's protos"
        )


def _decoder(cls: type[Message]) -> Callable[[bytes], Message | Undecodable]:
    def decode(data: bytes) -> Message | Undecodable:
        try:
            return cls.FromString(data)
        except DecodeError as exc:
            return Undecodable(cls.DESCRIPTOR.full_name, exc)

    return decode


# (client streaming, server streaming) -> the kind of handler
_HANDLERS = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def add_service(servicer: object, server: grpc.aio.Server) -> None:
    """Register every RPC of ``fedgov.v1.Aggregator`` on ``server``, served by the
    servicer's method of the same name."""
    service = aggregator_pb2.DESCRIPTOR.services_by_name["Aggregator"]
    handlers = {}
    for method in service.methods:
        make = _HANDLERS[method.client_streaming, method.server_streaming]
        handlers[method.name] = make(
            getattr(servicer, method.name),
            request_deserializer=_decoder(GetMessageClass(method.input_type)),
            response_serializer=GetMessageClass(method.output_type).SerializeToString,
        )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),)
    )
    server.add_registered_method_handlers(service.full_name, handlers)
