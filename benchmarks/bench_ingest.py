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

Each run measures the unary ``SubmitReport`` (one report per call) and the
batched ``SubmitReports`` (each silo sends ``--batch`` reports per stream,
as an agent drains an outbox holding that many, and waits for their acks
before the next batch), then the echo ceiling.

Clients run in separate processes (grpc.aio), so the client's GIL is not
the bottleneck being measured. Prints sustained reports/s, p50/p99
acknowledgement latency (of a batch: from sending its first report to its
last ack) and the server process's CPU per report, medians over
``--repeats`` runs, with the targets of issue 16 (batches: <= 1 ms of server
CPU per report, >= 1,000 reports/s) as PASS/FAIL.

    python benchmarks/bench_ingest.py [--silos 200] [--seconds 5] [--repeats 3]
        [--batch 32] [--no-audit] [--store URL] [--json]
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
UNARY_METHOD = "/fedgov.v1.Aggregator/SubmitReport"
BATCH_METHOD = "/fedgov.v1.Aggregator/SubmitReports"
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
    batch: int,
    out: mp.Queue,  # type: ignore[type-arg]
) -> None:
    """Each silo sends for ``seconds``: one report per call, or ``batch`` per stream."""
    from fedgov.report import chain_hash
    from fedgov.v1 import aggregator_pb2 as pb

    base = pb.SubmitReportRequest.FromString(template)
    refused: list[str] = []

    async def one_silo(silo: str) -> list[float]:
        d = Path(pki)
        creds = grpc.ssl_channel_credentials(
            (d / "ca.pem").read_bytes(),
            (d / f"{silo}.key").read_bytes(),
            (d / f"{silo}.pem").read_bytes(),
        )
        lat: list[float] = []
        async with grpc.aio.secure_channel(address, creds) as ch:
            if batch:
                stream = ch.stream_stream(
                    method, request_serializer=None, response_deserializer=None
                )
            else:
                call = ch.unary_unary(method, request_serializer=None, response_deserializer=None)
            req = pb.SubmitReportRequest()
            req.CopyFrom(base)
            req.report.silo_id = silo
            req.report.jurisdiction = f"EU-{silo}"
            end = time.perf_counter() + seconds
            i = 0
            while time.perf_counter() < end:
                sending = []
                for _ in range(batch or 1):
                    i += 1
                    req.report.report_id = f"{silo}-{i}-{time.time_ns()}"
                    req.report.window.end_unix_ms = i
                    sending.append(req.SerializeToString())
                    # Link the next report to this one, as an agent does (chain_hash reads
                    # only these attributes), so that the aggregator sees an intact chain.
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
                if batch:
                    acks = [pb.ReportAck.FromString(a) async for a in stream(iter(sending))]
                    refused.extend(a.error.message for a in acks if a.HasField("error"))
                    if len(acks) != len(sending):
                        refused.append(f"{len(sending) - len(acks)} reports without an ack")
                else:
                    await call(sending[0], timeout=30)
                lat.extend([time.perf_counter() - t0] * len(sending))
        return lat

    async def main() -> tuple[list[float], float, float]:
        first = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes
        results = await asyncio.gather(*(one_silo(s) for s in silos))
        return [x for r in results for x in r], first, time.perf_counter()

    lats, first, last = asyncio.run(main())
    out.put((lats, first, last, refused[:3], len(refused)))


def drive(
    address: str,
    method: str,
    pki: Path,
    silos: list[str],
    template: bytes,
    seconds: float,
    procs: int,
    batch: int = 0,
) -> tuple[float, float, float, float, int]:
    """(reports/s, p50 ms, p99 ms, server CPU ms per report, reports acknowledged)"""
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    chunks = [silos[i::procs] for i in range(procs)]
    ps = [
        ctx.Process(
            target=_client_proc,
            args=(address, method, str(pki), c, template, seconds, batch, q),
        )
        for c in chunks
    ]
    t0 = time.perf_counter()
    cpu0 = os.times()
    for p in ps:
        p.start()
    lats: list[float] = []
    spans: list[tuple[float, float]] = []
    for _ in ps:
        got, first, last, examples, refused = q.get(timeout=seconds + 300)
        lats += got
        spans.append((first, last))
        if refused:
            raise SystemExit(f"{refused} reports refused, e.g. {examples}: not a measurement")
    for p in ps:
        p.join()
    wall = time.perf_counter() - t0
    cpu1 = os.times()
    user, system = cpu1.user - cpu0.user, cpu1.system - cpu0.system
    arr = np.array(lats)
    print(
        f"  server process CPU {user:.2f}s user + {system:.2f}s sys for {len(arr)} reports: "
        f"{(user + system) / max(len(arr), 1) * 1e3:.2f} ms/report (wall {wall:.1f}s)",
        file=sys.stderr,
    )
    # Throughput from the first send to the last ack (processes start in ~1 s; a batch
    # in flight when the sending window closes is waited for, and counted).
    span = max(b for _, b in spans) - min(a for a, _ in spans)
    cpu_ms = (user + system) / max(len(arr), 1) * 1e3
    return (
        len(arr) / span,
        float(np.percentile(arr, 50)) * 1e3,
        float(np.percentile(arr, 99)) * 1e3,
        cpu_ms,
        len(arr),
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
    ap.add_argument(
        "--batch", type=int, default=32, help="reports per SubmitReports stream (batched run)"
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from aggregator.handler import ModelRegistration
    from aggregator.server import create_server
    from aggregator.store import create_store
    from fedgov.audit import AuditLog
    from fedgov.checkpoints import CheckpointKey
    from fedgov.tls import TlsFiles, init_trial_pki

    tmp = Path(tempfile.mkdtemp(prefix="fedgov-bench-ingest-"))
    silos = [f"S{i:03d}" for i in range(args.silos)]
    t0 = time.perf_counter()
    init_trial_pki(tmp / "pki", {s: f"EU-{s}" for s in silos})
    print(f"PKI for {len(silos)} silos in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    spec, cols = bench_spec()
    template = report_bytes(spec, cols, silos[0], "template")
    print(f"report message: {len(template)} bytes", file=sys.stderr)

    reg = ModelRegistration(
        spec.model_id, spec.model_version, spec.digest, json.dumps(spec.to_dict())
    )
    tls = TlsFiles(
        tmp / "pki" / "ca.pem", tmp / "pki" / "aggregator.pem", tmp / "pki" / "aggregator.key"
    )
    modes = {"unary": (UNARY_METHOD, 0), "batched": (BATCH_METHOD, args.batch)}
    results: dict[str, list[tuple[float, float, float, float, int]]] = {
        "unary": [],
        "batched": [],
        "echo": [],
    }
    for rep in range(args.repeats):
        line = f"repeat {rep + 1}:"
        for mode, (method, batch) in modes.items():
            store = create_store(args.store or tmp / f"agg-{mode}{rep}.db")
            running = create_server(
                "127.0.0.1:0",
                store,
                max_workers=args.workers,
                tls=tls,
                audit=None if args.no_audit else AuditLog(tmp / f"agg-{mode}{rep}.audit.jsonl"),
                checkpoint_key=None if args.no_audit else CheckpointKey.generate(),
            )
            for s in silos:
                running.handler.register(s, f"EU-{s}", "sha256:bench", [reg])
            before = running.handler.store.count_reports()  # a shared PostgreSQL keeps rows
            results[mode].append(
                drive(
                    f"127.0.0.1:{running.port}",
                    method,
                    tmp / "pki",
                    silos,
                    template,
                    args.seconds,
                    args.procs,
                    batch,
                )
            )
            stored = running.handler.store.count_reports() - before
            running.stop(grace=2)
            store.close()
            sent = results[mode][-1][4]
            if stored != sent:
                raise SystemExit(f"{mode}: {sent} reports acknowledged but {stored} stored")
            line += f" {mode} {results[mode][-1][0]:.0f}/s (stored {stored}),"
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
        print(f"{line} echo {results['echo'][-1][0]:.0f}/s", file=sys.stderr)

    med = {
        k: tuple(statistics.median(x[i] for x in v) for i in range(4)) for k, v in results.items()
    }
    ratio = med["unary"][0] / med["echo"][0]
    targets = {
        "batched: server CPU <= 1 ms per report": med["batched"][3] <= 1.0,
        "batched: >= 1000 reports/s": med["batched"][0] >= 1000,
        "unary: >= 50% of echo": ratio >= 0.5,
        "unary: >= 2000 reports/s": med["unary"][0] >= 2000,
    }
    summary = {
        "silos": args.silos,
        "message_bytes": len(template),
        "seconds": args.seconds,
        "repeats": args.repeats,
        "batch": args.batch,
        "store": "postgresql" if args.store else "sqlite",
        "audit": not args.no_audit,
        **{
            k: {
                "reports_per_s" if k != "echo" else "msgs_per_s": med[k][0],
                "p50_ms": med[k][1],
                "p99_ms": med[k][2],
                "server_cpu_ms_per_report" if k != "echo" else "server_cpu_ms_per_call": med[k][3],
            }
            for k in results
        },
        "unary_ratio_to_echo": ratio,
        "targets": targets,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(
        f"\n{args.silos} silos, {len(template)}-byte reports, mTLS, {summary['store']}, "
        f"{'audited and checkpointed, ' if summary['audit'] else ''}"
        f"medians of {args.repeats} x {args.seconds:.0f}s; batches of {args.batch}"
    )
    print(f"{'service':12} {'reports/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/report':>14}")
    for k in results:
        r, p50, p99, cpu = med[k]
        print(f"{k:12} {r:10.0f} {p50:8.1f} {p99:8.1f} {cpu:14.2f}")
    print(f"unary / echo ceiling: {ratio:.2f}")
    for name, ok in targets.items():
        print(f"{name}: {'PASS' if ok else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
