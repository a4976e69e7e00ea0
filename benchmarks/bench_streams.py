"""Command streams held by N silos: do queries and ingest keep up?

An aggregator (mTLS, SQLite, audited, as ``fedgov aggregator serve`` runs it)
serves N light clients on loopback, each a silo with its own certificate and
its own connection, holding a ``StreamCommands`` stream the way an agent in
watch mode does. Clients are grpc.aio coroutines in a few processes. While
the N streams are held, in the same run for every N (0 first, as the peer):

- ``fedgov query silos`` latency: ``--queries`` sequential ``QuerySilos``
  calls through :class:`aggregator.query_client.QueryClient` (operator
  certificate, separate process), p50/p95/max;
- ingest: ``--ingest-silos`` silos send reports for ``--seconds`` (the
  harness of ``bench_ingest.py``), reports/s and server CPU per report.

Prints a table and PASS/FAIL for the targets at the largest N: query p95 <
200 ms, ingest within 10% of its rate with no streams. Bounded in time: each
phase has a deadline (``--open-timeout`` for the streams to open).

    python benchmarks/bench_streams.py [--levels 100,1000,10000] [--seconds 5]
        [--queries 200] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest import bench_spec, drive, report_bytes  # noqa: E402

PER_PROC = 2_500  # streams per client process
QUERY_TARGET_MS = 200.0
INGEST_TOLERANCE = 0.10


def raise_fd_limit() -> int:
    """Open files up to the hard limit: 10,000 connections need 10,000 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def silo_name(i: int) -> str:
    return f"S{i:05d}"


# -- client processes -------------------------------------------------------------------
def _hold_streams(
    address: str,
    pki: str,
    silos: list[str],
    stop: mp.Event,  # type: ignore[valid-type]
    out: mp.Queue,  # type: ignore[type-arg]
) -> None:
    """Each silo opens its own connection and holds a command stream until ``stop``."""
    import grpc

    from fedgov.v1 import aggregator_pb2 as pb
    from fedgov.v1 import aggregator_pb2_grpc
    from fedgov.wire.channel import KEEPALIVE_MS

    raise_fd_limit()
    d = Path(pki)
    ca = (d / "ca.pem").read_bytes()
    options = [
        ("grpc.use_local_subchannel_pool", 1),  # a connection per silo, as in the field
        ("grpc.keepalive_time_ms", KEEPALIVE_MS[0]),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_MS[1]),
        ("grpc.http2.max_pings_without_data", 0),
    ]
    ended: dict[str, int] = {}

    async def hold(stub: aggregator_pb2_grpc.AggregatorStub, silo: str) -> None:
        """Keep a stream open as an agent does: reopen it, after a pause, when it ends."""
        while True:
            call = stub.StreamCommands(pb.StreamCommandsRequest(silo_id=silo))
            try:
                async for _ in call:
                    pass
                code = "OK"
            except grpc.aio.AioRpcError as exc:
                code = exc.code().name
            except asyncio.CancelledError:
                call.cancel()
                return
            ended[code] = ended.get(code, 0) + 1
            await asyncio.sleep(random.uniform(0.5, 2.0))

    async def main() -> None:
        channels, tasks = [], []
        for i, silo in enumerate(silos):
            creds = grpc.ssl_channel_credentials(
                ca, (d / f"{silo}.key").read_bytes(), (d / f"{silo}.pem").read_bytes()
            )
            ch = grpc.aio.secure_channel(address, creds, options=options)
            channels.append(ch)
            tasks.append(asyncio.ensure_future(hold(aggregator_pb2_grpc.AggregatorStub(ch), silo)))
            if i % 100 == 99:
                await asyncio.sleep(0.05)  # let handshakes through, as silos start over time
        await asyncio.get_running_loop().run_in_executor(None, stop.wait)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for ch in channels:
            await ch.close()

    asyncio.run(main())
    out.put(ended)


def _query(address: str, pki: str, calls: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    """``fedgov query silos`` as the operator, ``calls`` times: latencies in ms, errors."""
    from aggregator.query_client import QueryClient
    from fedgov.errors import GovernanceError
    from fedgov.tls import TlsFiles

    d = Path(pki)
    tls = TlsFiles(d / "ca.pem", d / "operator.pem", d / "operator.key")
    lat, errors, rows = [], 0, 0
    with QueryClient(address, timeout=5.0, retry_for=0.0, tls=tls) as client:
        client.silos()  # connect and handshake before timing
        for _ in range(calls):
            t0 = time.perf_counter()
            try:
                rows = len(client.silos())
            except GovernanceError:
                errors += 1
                lat.append(5_000.0)
                continue
            lat.append((time.perf_counter() - t0) * 1e3)
    out.put((lat, errors, rows))


# -- one level --------------------------------------------------------------------------
def run_level(n: int, running, args, pki: Path, template: bytes, ingest_silos: list[str]) -> dict:  # type: ignore[no-untyped-def]
    ctx = mp.get_context("spawn")
    address = f"127.0.0.1:{running.port}"
    hub = running.handler.hub
    stop = ctx.Event()
    q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    silos = [silo_name(i) for i in range(n)]
    chunks = [silos[i : i + PER_PROC] for i in range(0, n, PER_PROC)]
    procs = [
        ctx.Process(target=_hold_streams, args=(address, str(pki), c, stop, q)) for c in chunks
    ]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    deadline = t0 + args.open_timeout
    while hub.open_streams() < n and time.perf_counter() < deadline:
        time.sleep(0.1)
    held = hub.open_streams()
    open_s = time.perf_counter() - t0
    print(f"N={n}: {held} streams open after {open_s:.1f}s", file=sys.stderr)

    qq: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    qp = ctx.Process(target=_query, args=(address, str(pki), args.queries, qq))
    qp.start()
    lat, q_errors, rows = qq.get(timeout=args.queries * 5 + 60)
    qp.join()
    rate, _p50, _p99, cpu_ms = drive(
        address,
        "/fedgov.v1.Aggregator/SubmitReport",
        pki,
        ingest_silos,
        template,
        args.seconds,
        args.ingest_procs,
    )
    still = hub.open_streams()
    rss_mb = _rss_mb()
    stop.set()
    ended: dict[str, int] = {}
    for _ in procs:
        for code, k in q.get(timeout=120).items():
            ended[code] = ended.get(code, 0) + k
    for p in procs:
        p.join(60)
    end = time.perf_counter() + 60
    while hub.open_streams() and time.perf_counter() < end:
        time.sleep(0.1)
    arr = np.array(lat)
    row = {
        "streams": n,
        "held": held,
        "held_at_end": still,
        "open_s": round(open_s, 1),
        "reopened": ended,  # streams that ended while held (reopened, as agents do), by status
        "query_p50_ms": float(np.percentile(arr, 50)),
        "query_p95_ms": float(np.percentile(arr, 95)),
        "query_max_ms": float(arr.max()),
        "query_errors": q_errors,
        "query_rows": rows,
        "reports_per_s": rate,
        "server_cpu_ms_per_report": cpu_ms,
        "server_rss_mb": rss_mb,
    }
    print(f"N={n}: {json.dumps(row)}", file=sys.stderr)
    return row


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--levels", default="100,1000,10000", help="stream counts, comma-separated")
    ap.add_argument("--seconds", type=float, default=5.0, help="ingest phase per level")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--ingest-silos", type=int, default=50)
    ap.add_argument("--ingest-procs", type=int, default=2)
    ap.add_argument("--open-timeout", type=float, default=180.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    levels = [0, *(int(x) for x in args.levels.split(","))]
    hard = raise_fd_limit()
    need = max(levels) + 1_000
    if hard < need:
        print(f"open-file limit {hard} < {need}: raise `ulimit -Hn`", file=sys.stderr)
        return 2

    from aggregator.handler import ModelRegistration
    from aggregator.server import create_server
    from aggregator.store import SqliteStore
    from fedgov.audit import AuditLog
    from fedgov.tls import TlsFiles, init_trial_pki

    tmp = Path(tempfile.mkdtemp(prefix="fedgov-bench-streams-"))
    # Each level's reporters are silos of their own: a silo's reports form a chain, and
    # a second run of the harness would start it again (refused as out of order).
    reporters = len(levels) * args.ingest_silos
    names = [silo_name(i) for i in range(max(max(levels), reporters, 200))]
    t0 = time.perf_counter()
    init_trial_pki(tmp / "pki", {s: f"EU-{s}" for s in names})  # and operator, auditor
    print(f"PKI for {len(names)} silos in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    spec, cols = bench_spec()
    template = report_bytes(spec, cols, names[0], "template")
    running = create_server(
        "127.0.0.1:0",
        SqliteStore(tmp / "agg.db"),
        tls=TlsFiles(
            tmp / "pki" / "ca.pem", tmp / "pki" / "aggregator.pem", tmp / "pki" / "aggregator.key"
        ),
        audit=AuditLog(tmp / "agg.audit.jsonl"),
    )
    reg = ModelRegistration(
        spec.model_id, spec.model_version, spec.digest, json.dumps(spec.to_dict())
    )
    for s in names[: max(200, reporters)]:  # what `query silos` lists
        running.handler.register(s, f"EU-{s}", "sha256:bench", [reg])
    k = args.ingest_silos
    try:
        rows = [
            run_level(n, running, args, tmp / "pki", template, names[i * k : (i + 1) * k])
            for i, n in enumerate(levels)
        ]
    finally:
        running.stop(grace=2)
        running.handler.store.close()

    base, top = rows[0], rows[-1]
    ratio = top["reports_per_s"] / base["reports_per_s"]
    checks = {
        f"query p95 < {QUERY_TARGET_MS:.0f} ms at {top['streams']} streams": top["query_p95_ms"]
        < QUERY_TARGET_MS,
        f"all {top['streams']} streams held": top["held"] == top["streams"]
        and top["held_at_end"] == top["streams"],
        f"ingest within {INGEST_TOLERANCE:.0%} of 0 streams": ratio >= 1 - INGEST_TOLERANCE,
    }
    load = os.getloadavg()
    if args.json:
        print(
            json.dumps(
                {"levels": rows, "ingest_ratio": ratio, "checks": checks, "loadavg": load}, indent=2
            )
        )
        return 0 if all(checks.values()) else 1
    print(
        f"\nmTLS, SQLite, audited; {base['query_rows']} silos listed per query; "
        f"{args.ingest_silos} silos reporting for {args.seconds:.0f}s per level; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(
        f"{'streams':>8} {'held':>6} {'open s':>7} {'q p50 ms':>9} {'q p95 ms':>9} "
        f"{'q max ms':>9} {'q err':>6} {'reports/s':>10} {'CPU ms/rep':>11} {'RSS MB':>7}"
    )
    for r in rows:
        print(
            f"{r['streams']:>8} {r['held_at_end']:>6} {r['open_s']:>7.1f} "
            f"{r['query_p50_ms']:>9.1f} {r['query_p95_ms']:>9.1f} {r['query_max_ms']:>9.1f} "
            f"{r['query_errors']:>6} {r['reports_per_s']:>10.0f} "
            f"{r['server_cpu_ms_per_report']:>11.2f} {r['server_rss_mb']:>7.0f}"
        )
    print(f"ingest at {top['streams']} streams / at 0: {ratio:.2f}")
    for what, ok in checks.items():
        print(f"{what}: {'PASS' if ok else 'FAIL'}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
