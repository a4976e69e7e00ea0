"""Opening a client channel to the aggregator: mTLS when given files, else plaintext.

An address is one ``host:port`` (a DNS name may resolve to several aggregator
replicas: gRPC tries them in turn), or a target of several replicas made by
:func:`replicas_target` from a list of IP addresses (``ipv4:10.0.0.1:50051,
10.0.0.2:50051``). Either way the channel uses ``pick_first``: it holds one
connection, to the first replica that answers, and when that one dies it
reconnects to the next, so a dead replica costs the call in flight a retry
(:mod:`fedgov.wire.retry`), nothing more.

Under mTLS the client checks the server's certificate against one name: the
host of the address, or for a list of replicas ``TlsFiles.server_name`` if
set, else the host of the first address. Every replica's certificate must hold
that name (a service name shared by the replicas, or their common IP SAN).
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Sequence

import grpc

from fedgov.errors import ConfigError
from fedgov.tls import TlsFiles, channel_credentials

__all__ = ["KEEPALIVE_MS", "MAX_MESSAGE_BYTES", "open_channel", "replicas_target"]

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

_SCHEMES = ("ipv4:", "ipv6:")


def _split(address: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` of a replica's IP address; ConfigError otherwise."""
    host, sep, port = address.strip().rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ip = ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        ip, number = None, -1
    if not sep or ip is None or not 0 < number < 65536:
        raise ConfigError(
            f"aggregator address {address!r} in a list of replicas: give IP:PORT "
            "([IPv6]:PORT); for host names give one DNS name that resolves to every "
            "replica as aggregator.address instead"
        )
    return str(ip), number


def replicas_target(addresses: Sequence[str], *, spread: str = "") -> str:
    """The gRPC target of several replicas (IP:PORT each, all IPv4 or all IPv6).

    ``spread``: a key (the silo id) that orders the list, the same way every time for
    the same key, so that silos spread over the replicas instead of all preferring
    the first; empty keeps the order given. One address is returned as it is.
    """
    if len(addresses) == 1:
        return addresses[0]
    parsed = [_split(a) for a in addresses]
    if len({a for a in parsed}) != len(parsed):
        raise ConfigError(f"aggregator addresses: {', '.join(addresses)} lists one twice")
    families = {ipaddress.ip_address(h).version for h, _ in parsed}
    if len(families) != 1:
        raise ConfigError("aggregator addresses: all IPv4 or all IPv6, not a mix")
    if spread:
        random.Random(spread).shuffle(parsed)
    if families == {4}:
        return "ipv4:" + ",".join(f"{h}:{p}" for h, p in parsed)
    return "ipv6:" + ",".join(f"[{h}]:{p}" for h, p in parsed)


def _tls_name(target: str, tls: TlsFiles) -> str | None:
    """The name the server certificate is checked against, when not the target itself."""
    if tls.server_name:
        return tls.server_name
    if target.startswith(_SCHEMES):  # gRPC would check the whole list as one name
        return _split(target.split(":", 1)[1].split(",")[0])[0]
    return None


def open_channel(address: str, tls: TlsFiles | None) -> grpc.Channel:
    options: list[tuple[str, int | str]] = [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.initial_reconnect_backoff_ms", RECONNECT_BACKOFF_MS[0]),
        ("grpc.min_reconnect_backoff_ms", RECONNECT_BACKOFF_MS[0]),
        ("grpc.max_reconnect_backoff_ms", RECONNECT_BACKOFF_MS[1]),
        ("grpc.keepalive_time_ms", KEEPALIVE_MS[0]),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_MS[1]),
        ("grpc.http2.ping_timeout_ms", KEEPALIVE_MS[1]),  # else 60 s, whatever the above says
        ("grpc.http2.max_pings_without_data", 0),  # keep pinging a silent stream
        ("grpc.lb_policy_name", "pick_first"),  # one connection; the next replica on failure
    ]
    if tls is None:
        return grpc.insecure_channel(address, options=options)
    name = _tls_name(address, tls)
    if name is not None:
        options.append(("grpc.ssl_target_name_override", name))
    return grpc.secure_channel(address, channel_credentials(tls), options=options)
