"""Ingest throughput and latency of the aggregator, with a bare gRPC echo as the ceiling.

200 simulated silos (each with its own mTLS certificate) send realistic
reports (20 numeric + 2 categorical features, 2 sensitive attributes with 2
and 5 groups) over loopback to an aggregator on SQLite (or PostgreSQL with
``--store postgresql://...``). In the same run, the same client harness
sends messages of the same size to an echo service on the same kind of
server: that is the ceiling of Python gRPC with mTLS on this machine.

Each silo chains its reports (``prev_report_hash``) as an agent does, and
the aggregator keeps an audit log as ``fedgov aggregator serve`` does
(``--no-audit`` leaves it out).

Clients run in separate processes (grpc.aio), so the client's GIL is not
the bottleneck being measured. Prints sustained reports/s, p50/p99
acknowledgement latency and the server process's CPU per call, medians over
``--repeats`` runs.

    python benchmarks/bench_ingest.py [--silos 200] [--seconds 5] [--repeats 3]
        [--no-audit] [--store URL] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from concurrent import futures
from pathlib import Path
from types import SimpleNamespace

import grpc
import numpy as np

ECHO_METHOD = "/bench.Echo/Echo"
# The report builder is shared with the tests (tests/support).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def bench_spec():  # type: ignore[no-untyped-def]
    from fedgov.stats import derive_spec

    rng = np.random.default_rng(1)
    n = 20_000
    cols: dict[str, np.ndarray] = {f"x{i:02d}": rng.normal(i, 1 + i / 10, n) for i in range(20)}
    cols["c0"] = rng.choice(np.array(["a", "b", "c", "d"], dtype=object), n)
    cols["c1"] = rng.choice(np.array(["u", "v", "w"], dtype=object), n)
    cols["sex"] = rng.choice(np.array(["F", "M"], dtype=object), n)
    cols["region"] = rng.choice(np.array(["r1", "r2", "r3", "r4", "r5"], dtype=object), n)
    cols["y"] = (rng.random(n) < 0.4).astype(np.int64)
    cols["yhat"] = (rng.random(n) < 0.45).astype(np.int64)
    spec = derive_spec(
        cols,
        model_id="bench",
        model_version="1",
        label="y",
        prediction="yhat",
        sensitive=["sex", "region"],
        categorical=["c0", "c1"],
    )
    return spec, cols


def report_bytes(spec, cols, silo: str, report_id: str) -> bytes:  # type: ignore[no-untyped-def]
    from support.reports import report_of
    from support.specs import stats_of

    from fedgov.metrics import compute_metrics
    from fedgov.v1 import aggregator_pb2 as pb
    from fedgov.wire import report_to_proto

    stats = stats_of(spec, {k: v[:5000] for k, v in cols.items()})
    metrics = compute_metrics(spec, stats)
    report = report_of(
        spec, stats, report_id, silo=silo, jurisdiction=f"EU-{silo}", metrics=metrics
    )
    return pb.SubmitReportRequest(report=report_to_proto(report)).SerializeToString()


# -- client processes -------------------------------------------------------------------
def _client_proc(
    address: str,
    method: str,
    pki: str,
    silos: list[str],
    template: bytes,
    seconds: float,
    out: mp.Queue,  # type: ignore[type-arg]
) -> None:
    from fedgov.report import chain_hash
    from fedgov.v1 import aggregator_pb2 as pb

    base = pb.SubmitReportRequest.FromString(template)

    async def one_silo(silo: str) -> list[float]:
        d = Path(pki)
        creds = grpc.ssl_channel_credentials(
            (d / "ca.pem").read_bytes(),
            (d / f"{silo}.key").read_bytes(),
            (d / f"{silo}.pem").read_bytes(),
        )
        lat: list[float] = []
        async with grpc.aio.secure_channel(address, creds) as ch:
            call = ch.unary_unary(method, request_serializer=None, response_deserializer=None)
            req = pb.SubmitReportRequest()
            req.CopyFrom(base)
            req.report.silo_id = silo
            req.report.jurisdiction = f"EU-{silo}"
            end = time.perf_counter() + seconds
            i = 0
            while time.perf_counter() < end:
                i += 1
                req.report.report_id = f"{silo}-{i}-{time.time_ns()}"
                req.report.window.end_unix_ms = i
                data = req.SerializeToString()
                # Link the next report to this one, as an agent does (fedgov.report.chain_hash
                # reads only these attributes), so that the aggregator sees an intact chain.
                req.report.prev_report_hash = chain_hash(
                    SimpleNamespace(
                        report_id=req.report.report_id,
                        silo_id=silo,
                        model_id=req.report.model_id,
                        model_version=req.report.model_version,
                        spec_digest=req.report.spec_digest,
                        input_digest=req.report.input_digest,
                        window_start_ms=req.report.window.start_unix_ms,
                        window_end_ms=req.report.window.end_unix_ms,
                        prev_report_hash=req.report.prev_report_hash,
                    )
                )
                t0 = time.perf_counter()
                await call(data, timeout=30)
                lat.append(time.perf_counter() - t0)
        return lat

    async def main() -> list[float]:
        results = await asyncio.gather(*(one_silo(s) for s in silos))
        return [x for r in results for x in r]

    out.put(asyncio.run(main()))


def drive(
    address: str,
    method: str,
    pki: Path,
    silos: list[str],
    template: bytes,
    seconds: float,
    procs: int,
) -> tuple[float, float, float, float]:
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    chunks = [silos[i::procs] for i in range(procs)]
    ps = [
        ctx.Process(target=_client_proc, args=(address, method, str(pki), c, template, seconds, q))
        for c in chunks
    ]
    t0 = time.perf_counter()
    cpu0 = os.times()
    for p in ps:
        p.start()
    lats: list[float] = []
    for _ in ps:
        lats += q.get(timeout=seconds + 120)
    for p in ps:
        p.join()
    wall = time.perf_counter() - t0
    cpu1 = os.times()
    user, system = cpu1.user - cpu0.user, cpu1.system - cpu0.system
    arr = np.array(lats)
    print(
        f"  server process CPU {user:.2f}s user + {system:.2f}s sys for {len(arr)} calls: "
        f"{(user + system) / max(len(arr), 1) * 1e3:.2f} ms/call (wall {wall:.1f}s)",
        file=sys.stderr,
    )
    # Throughput over the sending window (processes start in ~1 s; use the send time).
    cpu_ms = (user + system) / max(len(arr), 1) * 1e3
    return (
        len(arr) / seconds,
        float(np.percentile(arr, 50)) * 1e3,
        float(np.percentile(arr, 99)) * 1e3,
        cpu_ms,
    )


# -- servers ------------------------------------------------------------------------
def start_echo(pki: Path) -> tuple[grpc.Server, int]:
    from fedgov.tls import TlsFiles, server_credentials

    def echo(request: bytes, context: grpc.ServicerContext) -> bytes:
        return b"\n\x01x"  # a small ack, like ReportAck

    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=64),
        options=[("grpc.max_receive_message_length", 8 << 20)],
    )
    server.add_generic_rpc_handlers((handler,))
    files = TlsFiles(pki / "ca.pem", pki / "aggregator.pem", pki / "aggregator.key")
    port = server.add_secure_port("127.0.0.1:0", server_credentials(files))
    server.start()
    return server, port


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--silos", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--procs", type=int, default=2, help="client processes")
    ap.add_argument("--workers", type=int, default=64, help="server worker threads")
    ap.add_argument("--store", default=None, help="store URL (default: a SQLite file in tmp)")
    ap.add_argument(
        "--no-audit",
        action="store_true",
        help="run without the audit log (`fedgov aggregator serve` always keeps one)",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from aggregator.handler import ModelRegistration
    from aggregator.server import create_server
    from aggregator.store import create_store
    from fedgov.audit import AuditLog
    from fedgov.tls import TlsFiles, init_trial_pki

    tmp = Path(tempfile.mkdtemp(prefix="fedgov-bench-ingest-"))
    silos = [f"S{i:03d}" for i in range(args.silos)]
    t0 = time.perf_counter()
    init_trial_pki(tmp / "pki", {s: f"EU-{s}" for s in silos})
    print(f"PKI for {len(silos)} silos in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    spec, cols = bench_spec()
    template = report_bytes(spec, cols, silos[0], "template")
    print(f"report message: {len(template)} bytes", file=sys.stderr)

    results: dict[str, list[tuple[float, float, float, float]]] = {"aggregator": [], "echo": []}
    for rep in range(args.repeats):
        store = create_store(args.store or tmp / f"agg{rep}.db")
        running = create_server(
            "127.0.0.1:0",
            store,
            max_workers=args.workers,
            tls=TlsFiles(
                tmp / "pki" / "ca.pem",
                tmp / "pki" / "aggregator.pem",
                tmp / "pki" / "aggregator.key",
            ),
            audit=None if args.no_audit else AuditLog(tmp / f"agg{rep}.audit.jsonl"),
        )
        reg = ModelRegistration(
            spec.model_id, spec.model_version, spec.digest, json.dumps(spec.to_dict())
        )
        for s in silos:
            running.handler.register(s, f"EU-{s}", "sha256:bench", [reg])
        results["aggregator"].append(
            drive(
                f"127.0.0.1:{running.port}",
                "/fedgov.v1.Aggregator/SubmitReport",
                tmp / "pki",
                silos,
                template,
                args.seconds,
                args.procs,
            )
        )
        stored = running.handler.store.count_reports()
        running.stop(grace=2)
        store.close()
        echo, port = start_echo(tmp / "pki")
        results["echo"].append(
            drive(
                f"127.0.0.1:{port}",
                ECHO_METHOD,
                tmp / "pki",
                silos,
                template,
                args.seconds,
                args.procs,
            )
        )
        echo.stop(1).wait()
        print(
            f"repeat {rep + 1}: aggregator {results['aggregator'][-1][0]:.0f}/s "
            f"(stored {stored}), echo {results['echo'][-1][0]:.0f}/s",
            file=sys.stderr,
        )

    med = {
        k: tuple(statistics.median(x[i] for x in v) for i in range(4)) for k, v in results.items()
    }
    ratio = med["aggregator"][0] / med["echo"][0]
    summary = {
        "silos": args.silos,
        "message_bytes": len(template),
        "seconds": args.seconds,
        "repeats": args.repeats,
        "store": "postgresql" if args.store else "sqlite",
        "audit": not args.no_audit,
        "aggregator": {
            "reports_per_s": med["aggregator"][0],
            "p50_ms": med["aggregator"][1],
            "p99_ms": med["aggregator"][2],
            "server_cpu_ms_per_call": med["aggregator"][3],
        },
        "echo": {
            "msgs_per_s": med["echo"][0],
            "p50_ms": med["echo"][1],
            "p99_ms": med["echo"][2],
            "server_cpu_ms_per_call": med["echo"][3],
        },
        "ratio_to_echo": ratio,
        "targets": {
            ">= 50% of echo": ratio >= 0.5,
            ">= 2000 reports/s": med["aggregator"][0] >= 2000,
        },
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(
        f"\n{args.silos} silos, {len(template)}-byte reports, mTLS, {summary['store']}, "
        f"{'audited, ' if summary['audit'] else ''}"
        f"medians of {args.repeats} x {args.seconds:.0f}s"
    )
    print(f"{'service':12} {'msgs/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/call':>12}")
    for k in ("aggregator", "echo"):
        r, p50, p99, cpu = med[k]
        print(f"{k:12} {r:10.0f} {p50:8.1f} {p99:8.1f} {cpu:12.2f}")
    print(
        f"aggregator / echo ceiling: {ratio:.2f} (target >= 0.50: "
        f"{'PASS' if ratio >= 0.5 else 'FAIL'})"
    )
    print(f"reports/s target >= 2000: {'PASS' if med['aggregator'][0] >= 2000 else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
