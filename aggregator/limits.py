"""What the aggregator bounds: calls in flight per caller and per RPC, and silent peers.

:class:`Admission` counts the calls in flight for each (caller, RPC) and for
each RPC as a whole; a call over either cap is refused at once with
:class:`fedgov.errors.Overloaded` (RESOURCE_EXHAUSTED, marked busy so that
agents retry it), before it costs a worker. One caller can therefore fill
only its own share: 200 command streams or 200 queries from one certificate
leave room for everyone else. Counting happens on the server's event loop
only, so the counters need no lock.

:class:`Keepalive` is the connection policy: the server pings a silent peer
and drops it when the ping goes unanswered, so a silo cut off by the network
does not hold its stream (or its slot) for ever, and it accepts the pings of
an agent's channel (:mod:`fedgov.wire.channel`) without answering GOAWAY
``too_many_pings``.

With several replicas on one store the caps are per replica, on purpose: they
guard one process's workers and loop. An agent talks to one replica at a time,
so a silo's calls stay within its per-caller caps federation-wide
(:mod:`aggregator.replicas`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from fedgov.errors import Overloaded

__all__ = ["Admission", "CallLimits", "Keepalive", "STREAM_RPCS"]

# RPCs that stay open for as long as the caller listens; the others answer and end.
STREAM_RPCS = frozenset({"StreamCommands"})


@dataclass(frozen=True)
class CallLimits:
    """Caps on calls in flight. ``per_caller``: for one caller (certificate identity,
    or connection without mTLS) and one RPC; ``per_rpc``: for one RPC over all callers.
    Command streams have their own pair: a silo holds one (a second replaces it), so
    ``stream_per_caller`` only has to cover a replacement in progress."""

    per_caller: int = 8
    per_rpc: int = 256
    stream_per_caller: int = 4
    streams: int = 20_000

    def __post_init__(self) -> None:
        for name in ("per_caller", "per_rpc", "stream_per_caller", "streams"):
            if getattr(self, name) < 1:
                raise ValueError(f"CallLimits.{name} must be at least 1")

    def options(self) -> list[tuple[str, int]]:
        """gRPC server arguments: calls that arrive before the server takes them wait in
        gRPC's queue; past 1,000 of them (its default) gRPC cancels the rest, so
        thousands of silos (re)connecting at once would see CANCELLED. The queue
        takes as many as the caps allow; the caps refuse the excess in words."""
        most = self.streams + self.per_rpc * 16
        return [
            ("grpc.server.max_pending_requests", most),
            ("grpc.server.max_pending_requests_hard_limit", 2 * most),
        ]

    def caps(self, rpc: str) -> tuple[int, int]:
        """(per caller, over all callers) for ``rpc``."""
        if rpc in STREAM_RPCS:
            return self.stream_per_caller, self.streams
        return self.per_caller, self.per_rpc


@dataclass(frozen=True)
class Keepalive:
    """When the server pings a silent peer and gives up on it (milliseconds).

    ``time_ms``: ping a connection after this long without traffic;
    ``timeout_ms``: close it if the ping is not answered within this;
    ``min_client_ping_ms``: the shortest interval between client pings accepted
    (must stay below the agent's own keepalive, :data:`fedgov.wire.channel.KEEPALIVE_MS`);
    ``idle_ms``: close a connection with no call at all for this long.
    """

    time_ms: int = 30_000
    timeout_ms: int = 20_000  # 10 s dropped live peers of a loaded client (10,000 streams)
    min_client_ping_ms: int = 20_000
    idle_ms: int = 600_000

    def options(self) -> list[tuple[str, int]]:
        """The gRPC server channel arguments for this policy."""
        return [
            ("grpc.keepalive_time_ms", self.time_ms),
            ("grpc.keepalive_timeout_ms", self.timeout_ms),
            # gRPC 1.8x waits for any ping's answer this long (60 s by default),
            # keepalive pings included: without it keepalive_timeout_ms has no effect.
            ("grpc.http2.ping_timeout_ms", self.timeout_ms),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_recv_ping_interval_without_data_ms", self.min_client_ping_ms),
            # Our own pings, on a stream that sends nothing for minutes: every time_ms.
            ("grpc.http2.min_ping_interval_without_data_ms", self.time_ms),
            ("grpc.http2.max_pings_without_data", 0),
            ("grpc.max_connection_idle_ms", self.idle_ms),
        ]


@dataclass
class Admission:
    """Counts calls in flight and refuses those over :class:`CallLimits`."""

    limits: CallLimits = field(default_factory=CallLimits)
    _by_caller: Counter[tuple[str, str]] = field(default_factory=Counter)
    _by_rpc: Counter[str] = field(default_factory=Counter)

    def admit(self, rpc: str, caller: str, what: str) -> Callable[[], None]:
        """Take a slot for the call and return what gives it back; :class:`Overloaded`
        (and no slot taken) if the caller or the RPC is at its cap."""
        mine, everyone = self.limits.caps(rpc)
        key = (caller, rpc)
        if self._by_caller[key] >= mine:
            raise Overloaded(
                f"{what}: {mine} {rpc} call(s) from {caller} already in flight, the most one "
                "caller may have; wait for them to finish, then retry"
            )
        if self._by_rpc[rpc] >= everyone:
            raise Overloaded(
                f"{what}: the aggregator already serves {everyone} {rpc} calls, its limit; "
                "retry later (or raise the limit)"
            )
        self._by_caller[key] += 1
        self._by_rpc[rpc] += 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            self._by_rpc[rpc] -= 1
            self._by_caller[key] -= 1
            if not self._by_caller[key]:
                del self._by_caller[key]

        return release

    def in_flight(self) -> Mapping[str, int]:
        """Calls in flight per RPC (a read-only copy)."""
        return MappingProxyType({rpc: n for rpc, n in self._by_rpc.items() if n})
