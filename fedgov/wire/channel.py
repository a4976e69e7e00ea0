"""Opening a client channel to the aggregator: mTLS when given files, else plaintext."""

from __future__ import annotations

import grpc

from fedgov.tls import TlsFiles, channel_credentials

__all__ = ["MAX_MESSAGE_BYTES", "open_channel"]

MAX_MESSAGE_BYTES = 8 << 20  # a report is counts, not rows


def open_channel(address: str, tls: TlsFiles | None) -> grpc.Channel:
    options = [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ]
    if tls is None:
        return grpc.insecure_channel(address, options=options)
    return grpc.secure_channel(address, channel_credentials(tls), options=options)
