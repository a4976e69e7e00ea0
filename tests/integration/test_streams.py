"""Command streams and caps: one silo cannot freeze the aggregator, and dead peers go.

Issue 13: 64 streams from one silo certificate made every other call time out,
since each held one of 64 threads. Now streams wait on an event loop, a silo
holds one stream (a new one replaces the old), calls in flight are capped per
caller and per RPC, and keepalive drops a peer that went silent.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from support.pki import make_pki, tls_files
from support.proxy import cut_proxy
from support.servers import register

from aggregator.limits import CallLimits, Keepalive
from aggregator.server import RunningServer, create_server
from aggregator.store import SqliteStore
from fedgov.spec import MonitoringSpec
from fedgov.tls import channel_credentials
from fedgov.v1 import aggregator_pb2 as pb
from fedgov.v1 import aggregator_pb2_grpc
from fedgov.wire.channel import KEEPALIVE_MS, open_channel
from fedgov.wire.retry import BUSY_KEY

pytestmark = pytest.mark.integration


def _eventually(check: Callable[[], bool], within: float = 10.0) -> None:
    end = time.monotonic() + within
    while not check():
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.02)


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    return make_pki(tmp_path / "pki")  # EU-DE, US-NY, operator, auditor


@pytest.fixture
def served(tmp_path: Path, credit_spec: MonitoringSpec) -> Iterator[Callable[..., RunningServer]]:
    started: list[RunningServer] = []

    def start(**kw: object) -> RunningServer:
        running = create_server("127.0.0.1:0", SqliteStore(tmp_path / "agg.db"), **kw)  # type: ignore[arg-type]
        register(running.handler, credit_spec, ["EU-DE", "US-NY"])
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop(grace=1.0)
        running.handler.store.close()


def _send_command(running: RunningServer, silo: str) -> str:
    """Open a job for ``silo`` (its retrain command) and wake its stream; the command id."""
    job, _ = running.handler.store.open_job("credit-risk", "1.0.0", "bias", [silo])
    running.handler.hub.notify([silo])
    (cmd,) = [c for c in running.handler.store.pending_commands(silo) if c.job_id == job.job_id]
    return cmd.command_id


def test_200_streams_from_one_silo_are_capped_and_queries_stay_fast(
    served: Callable[..., RunningServer], pki: Path
) -> None:
    running = served(tls=tls_files(pki, "aggregator"))
    address = f"127.0.0.1:{running.port}"
    outcomes: list[grpc.StatusCode] = []
    received: list[str] = []

    async def flood(opened: threading.Event, done: threading.Event) -> None:
        creds = channel_credentials(tls_files(pki, "EU-DE"))
        async with grpc.aio.secure_channel(address, creds) as channel:
            stub = aggregator_pb2_grpc.AggregatorStub(channel)
            request = pb.StreamCommandsRequest(silo_id="EU-DE")
            calls = [stub.StreamCommands(request) for _ in range(200)]

            async def drain(call: grpc.aio.UnaryStreamCall) -> None:
                try:
                    async for command in call:
                        received.append(command.command_id)
                except grpc.aio.AioRpcError as exc:
                    outcomes.append(exc.code())
                except asyncio.CancelledError:
                    pass

            tasks = [asyncio.ensure_future(drain(c)) for c in calls]
            opened.set()
            await asyncio.get_running_loop().run_in_executor(None, done.wait)
            for c in calls:
                c.cancel()
            await asyncio.gather(*tasks)

    opened, done = threading.Event(), threading.Event()
    flooder = threading.Thread(target=lambda: asyncio.run(flood(opened, done)))
    flooder.start()
    try:
        assert opened.wait(10)
        # Another caller's queries answer at once, while the flood is under way and after.
        channel = open_channel(address, tls_files(pki, "operator"))
        stub = aggregator_pb2_grpc.AggregatorStub(channel)
        latencies = []
        for _ in range(20):
            t0 = time.perf_counter()
            answer = stub.QuerySilos(pb.SilosQuery(), timeout=2)
            latencies.append(time.perf_counter() - t0)
        assert max(latencies) < 1.0, latencies
        assert answer.ByteSize() > 0
        _eventually(lambda: len(outcomes) == 199)
        assert running.handler.hub.open_streams() == 1
        # Each refused or replaced stream ended with a status that says why.
        assert set(outcomes) <= {grpc.StatusCode.ABORTED, grpc.StatusCode.RESOURCE_EXHAUSTED}
        assert grpc.StatusCode.ABORTED in outcomes
        sent = _send_command(running, "EU-DE")
        _eventually(lambda: received == [sent])  # the stream left still delivers
        channel.close()
    finally:
        done.set()
        flooder.join(10)
    _eventually(lambda: running.handler.hub.open_streams() == 0)


def test_a_second_stream_of_a_silo_replaces_the_first(
    served: Callable[..., RunningServer],
) -> None:
    running = served()
    channel = open_channel(f"127.0.0.1:{running.port}", None)
    stub = aggregator_pb2_grpc.AggregatorStub(channel)
    first = stub.StreamCommands(pb.StreamCommandsRequest(silo_id="EU-DE"))
    _eventually(lambda: running.handler.hub.open_streams() == 1)
    # A reconnect (say, after a network cut the server has not noticed yet) is not refused.
    second = stub.StreamCommands(pb.StreamCommandsRequest(silo_id="EU-DE"))
    with pytest.raises(grpc.RpcError) as ended:
        next(first)
    assert ended.value.code() is grpc.StatusCode.ABORTED
    assert "replaced by a newer stream of the same silo" in (ended.value.details() or "")
    sent = _send_command(running, "EU-DE")
    assert next(second).command_id == sent
    assert running.handler.hub.open_streams() == 1
    # Another silo's stream is its own.
    other = stub.StreamCommands(pb.StreamCommandsRequest(silo_id="US-NY"))
    _eventually(lambda: running.handler.hub.open_streams() == 2)
    second.cancel()
    other.cancel()
    _eventually(lambda: running.handler.hub.open_streams() == 0)
    channel.close()


def test_a_command_another_aggregator_stored_reaches_the_open_stream(
    served: Callable[..., RunningServer], tmp_path: Path
) -> None:
    running = served()
    assert running.servicer is not None
    running.servicer.recheck_s = 0.2  # the one sweep of the store, not a read per stream
    channel = open_channel(f"127.0.0.1:{running.port}", None)
    stub = aggregator_pb2_grpc.AggregatorStub(channel)
    stream = stub.StreamCommands(pb.StreamCommandsRequest(silo_id="EU-DE"), timeout=10)
    idle = stub.StreamCommands(pb.StreamCommandsRequest(silo_id="US-NY"))
    _eventually(lambda: running.handler.hub.open_streams() == 2)
    # Another process on the same store: nothing in this process is told.
    other = SqliteStore(tmp_path / "agg.db")
    try:
        job, _ = other.open_job("credit-risk", "1.0.0", "drift", ["EU-DE"])
        (stored,) = other.pending_commands("EU-DE")
    finally:
        other.close()
    got = next(stream)
    assert got.command_id == stored.command_id and stored.job_id == job.job_id
    assert running.handler.hub.open_streams() == 2  # US-NY had nothing and still waits
    stream.cancel()
    idle.cancel()
    channel.close()


def test_a_peer_cut_off_by_the_network_is_dropped(served: Callable[..., RunningServer]) -> None:
    running = served(keepalive=Keepalive(time_ms=300, timeout_ms=300, min_client_ping_ms=100))
    with cut_proxy(running.port) as proxy:
        channel = grpc.insecure_channel(f"127.0.0.1:{proxy.port}")  # no client keepalive
        stub = aggregator_pb2_grpc.AggregatorStub(channel)
        stream = stub.StreamCommands(pb.StreamCommandsRequest(silo_id="EU-DE"))
        _eventually(lambda: running.handler.hub.open_streams() == 1)
        proxy.cut()
        t0 = time.monotonic()
        _eventually(lambda: running.handler.hub.open_streams() == 0, within=10)
        assert time.monotonic() - t0 < 5
        stream.cancel()
        channel.close()


def test_the_agents_keepalive_is_within_the_servers_policy() -> None:
    """The agent pings a silent stream no faster than the server accepts (no GOAWAY),
    and a dead server is noticed within its keepalive."""
    policy = Keepalive()
    assert KEEPALIVE_MS[0] >= policy.min_client_ping_ms
    assert policy.time_ms + policy.timeout_ms <= 60_000


def test_calls_over_a_callers_cap_are_refused_as_busy_and_others_pass(
    served: Callable[..., RunningServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    running = served(limits=CallLimits(per_caller=2, per_rpc=3))
    gate = threading.Event()
    real = running.handler.query_silos

    def slow(**kw: object) -> object:
        gate.wait(10)
        return real(**kw)  # type: ignore[arg-type]

    monkeypatch.setattr(running.handler, "query_silos", slow)
    address = f"127.0.0.1:{running.port}"

    async def burst(channels: int, calls_each: int) -> list[grpc.aio.AioRpcError | None]:
        # A connection of its own for each (channels of one process share one by default).
        own = [("grpc.use_local_subchannel_pool", 1)]
        opened = [grpc.aio.insecure_channel(address, options=own) for _ in range(channels)]
        try:
            futures = [
                aggregator_pb2_grpc.AggregatorStub(ch).QuerySilos(pb.SilosQuery(), timeout=10)
                for ch in opened
                for _ in range(calls_each)
            ]
            await asyncio.sleep(1.0)
            gate.set()
            results: list[grpc.aio.AioRpcError | None] = []
            for f in futures:
                try:
                    await f
                    results.append(None)
                except grpc.aio.AioRpcError as exc:
                    results.append(exc)
            return results
        finally:
            for ch in opened:
                await ch.close()

    # One connection (one caller without mTLS), 5 calls at once: 2 served, 3 refused.
    results = asyncio.run(burst(1, 5))
    refused = [r for r in results if r is not None]
    assert len(refused) == 3
    for exc in refused:
        assert exc.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "QuerySilos call(s) from ipv" in (exc.details() or "")
        assert (BUSY_KEY, "1") in tuple(exc.trailing_metadata() or ())
    # Three callers with two each: the RPC's cap (3) refuses the rest, whoever sent them.
    gate.clear()
    results = asyncio.run(burst(3, 2))
    refused = [r for r in results if r is not None]
    assert len(refused) == 3
    assert all("already serves 3 QuerySilos calls" in (r.details() or "") for r in refused)
    assert running.servicer is not None
    assert dict(running.servicer.admission.in_flight()) == {}
    # A caller that gives up keeps its slots until the work is done: calling and
    # cancelling at once does not get past the caps.
    gate.clear()
    channel = grpc.insecure_channel(address)
    stub = aggregator_pb2_grpc.AggregatorStub(channel)
    for _ in range(2):
        with pytest.raises(grpc.RpcError) as gave_up:
            stub.QuerySilos(pb.SilosQuery(), timeout=0.3)
        assert gave_up.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    with pytest.raises(grpc.RpcError) as busy:
        stub.QuerySilos(pb.SilosQuery(), timeout=5)
    assert busy.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    gate.set()
    admission = running.servicer.admission
    _eventually(lambda: not admission.in_flight())
    assert stub.QuerySilos(pb.SilosQuery(), timeout=5).ByteSize() > 0
    channel.close()
