"""Opening a client channel to the aggregator: mTLS when given files, else plaintext."""

from __future__ import annotations

import grpc

from fedgov.tls import TlsFiles, channel_credentials

__all__ = ["KEEPALIVE_MS", "MAX_MESSAGE_BYTES", "open_channel"]

MAX_MESSAGE_BYTES = 8 << 20  # a report is counts, not rows

# gRPC's own reconnect backoff grows to 120 s by default, and while it waits the channel
# fails every call at once: an agent whose aggregator came back would keep hearing
# "unavailable" for up to two minutes, longer than its own retry (fedgov.wire.retry)
# lasts. The retry loop paces the calls; the channel only has to notice a server soon.
RECONNECT_BACKOFF_MS = (100, 2_000)

# A command stream can stay silent for hours; across a network cut (no RST) the agent
# would wait on it for ever. Ping after a minute of silence, give up 20 s later, and
# reconnect. The aggregator accepts client pings at most every 20 s
# (aggregator.limits.Keepalive.min_client_ping_ms); faster ones earn GOAWAY.
KEEPALIVE_MS = (60_000, 20_000)


def open_channel(address: str, tls: TlsFiles | None) -> grpc.Channel:
    options = [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.initial_reconnect_backoff_ms", RECONNECT_BACKOFF_MS[0]),
        ("grpc.min_reconnect_backoff_ms", RECONNECT_BACKOFF_MS[0]),
        ("grpc.max_reconnect_backoff_ms", RECONNECT_BACKOFF_MS[1]),
        ("grpc.keepalive_time_ms", KEEPALIVE_MS[0]),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_MS[1]),
        ("grpc.http2.ping_timeout_ms", KEEPALIVE_MS[1]),  # else 60 s, whatever the above says
        ("grpc.http2.max_pings_without_data", 0),  # keep pinging a silent stream
    ]
    if tls is None:
        return grpc.insecure_channel(address, options=options)
    return grpc.secure_channel(address, channel_credentials(tls), options=options)
