"""A secure-aggregation round against the same figures sent unmasked, over real gRPC.

For each cohort size N (``--silos 10,50``) and each run, a real aggregator
(``aggregator.server.create_server`` on 127.0.0.1:0, mTLS from a trial PKI, SQLite
store and audit log in a temp dir) runs in a CHILD PROCESS, so that its CPU time is
that process's own (``os.times`` user + sys, all its threads: gRPC, the worker pool,
the round engine). N silos, each with its own mTLS channel, register the credit-risk
spec over gRPC and hold one window of statistics of ``fedgov.synthetic.credit_data``
(200-399 rows each). The silos run as threads of this process, with the shipped silo
code: ``agent.client.AggregatorClient`` (command stream, ack, ``SecAggSubmit`` /
``SecAggPoll``) and ``agent.secure_rounds.SecureRounds`` (admission, the stage loop
that polls every 50 ms), the window kept in a real ``agent.round_ledger.RoundLedger``.

(a) Secure: the operator opens a round (``handler.rounds.open`` in the server
process) for the closed period holding the windows; every silo gets the
``secagg_round`` command on its stream, admits it, acknowledges and runs the four
stages. Wall time is from the open to the last silo's round ending; the released sum
is checked cell by cell against the plain sum of the N silos' statistics.
(b) Unmasked: the same N silos send the same statistics in the clear, one
``SubmitReport`` each (no metrics, no privacy guard), concurrently, on the same
channels, before (a). Wall time is from the first send to the last acknowledgement.

Bytes per silo are the serialized sizes of every request sent and response received
by the silo's channel during (a) or (b) (a client interceptor counts them; the
command stream's messages included, TLS and HTTP/2 framing not). Where the round's
time goes is read from the aggregator's own log (stage closes) and from timing the
combine (``release_round``: Shamir reconstruction, unmasking, release control) in
the server process. Medians over ``--runs``; ratios are secure / unmasked. No target
is set for the ratios; the exactness check prints PASS or FAIL.

    python benchmarks/bench_secagg.py [--silos 10,50] [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import logging
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the repository, then tests/support
MODEL_ID = "credit-risk"


# -- the aggregator, in its own process ---------------------------------------------
def _server_proc(folder: str, conn: Any) -> None:
    import aggregator.secure_rounds as engine
    from aggregator.partition import RoundSettings
    from aggregator.server import create_server
    from aggregator.store import SqliteStore
    from fedgov.audit import AuditLog
    from fedgov.tls import TlsFiles

    d = Path(folder)
    faulthandler.enable()  # a crash of the server process says where
    events: list[tuple[float, str]] = []
    combines: list[tuple[float, float]] = []

    class _Events(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            events.append((record.created, record.getMessage()))

    log = logging.getLogger("aggregator.secure_rounds")
    log.addHandler(_Events())
    log.setLevel(logging.INFO)
    release_round = engine.release_round

    def timed_release(*args: Any, **kw: Any) -> Any:  # the combine, timed where it runs
        t0 = time.time()
        try:
            return release_round(*args, **kw)
        finally:
            combines.append((t0, time.time()))

    engine.release_round = timed_release  # type: ignore[assignment]
    pki = d.parent / "pki"
    store = SqliteStore(d / "agg.db")
    running = create_server(
        "127.0.0.1:0",
        store,
        tls=TlsFiles(pki / "ca.pem", pki / "aggregator.pem", pki / "aggregator.key"),
        audit=AuditLog(d / "agg.audit.jsonl"),
    )
    running.handler.rounds.settings = RoundSettings(auto_open=False)
    conn.send(running.port)
    while True:
        what, *args = conn.recv()
        if what == "cpu":
            t = os.times()
            conn.send(t.user + t.system)
        elif what == "open":
            [rec] = running.handler.rounds.open(MODEL_ID, *args)
            conn.send(rec.round_id)
        elif what == "result":
            rec = store.get_round(args[0])
            releases = [r.stats for r in store.releases(MODEL_ID)]
            conn.send((rec.status, rec.reason, len(rec.survivors), releases, events, combines))
        elif what == "reports":
            conn.send(store.count_reports())
        else:
            running.stop(grace=1.0)
            store.close()
            conn.send("stopped")
            return


# -- the silos -----------------------------------------------------------------------
class ByteCounter(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Serialized bytes of the requests sent and responses received on one channel."""

    def __init__(self) -> None:
        self.sent = self.received = 0
        self._lock = threading.Lock()

    def add(self, sent: int = 0, received: int = 0) -> None:
        with self._lock:
            self.sent += sent
            self.received += received

    def reset(self) -> None:
        with self._lock:
            self.sent = self.received = 0

    def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        self.add(sent=request.ByteSize())
        outcome = continuation(details, request)
        if outcome.exception() is None:
            self.add(received=outcome.result().ByteSize())
        return outcome

    def intercept_unary_stream(self, continuation, details, request):  # type: ignore[no-untyped-def]
        self.add(sent=request.ByteSize())
        return _CountedStream(continuation(details, request), self)


class _CountedStream:
    def __init__(self, stream: Any, counter: ByteCounter) -> None:
        self._stream, self._counter = stream, counter

    def __iter__(self) -> _CountedStream:
        return self

    def __next__(self) -> Any:
        msg = next(self._stream)
        self._counter.add(received=msg.ByteSize())
        return msg

    def __getattr__(self, name: str) -> Any:  # cancel, code, ...
        return getattr(self._stream, name)


class Silo:
    """One silo: its channel (counted), its ledger with one raw window, its rounds."""

    def __init__(self, sid: str, address: str, pki: Path, folder: Path, spec, n: int) -> None:  # type: ignore[no-untyped-def]
        import sqlite3

        from prometheus_client import CollectorRegistry, Counter
        from support.specs import stats_of

        from agent.client import AggregatorClient
        from agent.config import SecureRoundSettings
        from agent.round_ledger import SCHEMA, RawWindow, RoundLedger
        from agent.secure_rounds import SecureRounds
        from fedgov.audit import AuditLog
        from fedgov.synthetic import credit_data
        from fedgov.tls import TlsFiles

        self.sid, self.spec = sid, spec
        tls = TlsFiles(pki / "ca.pem", pki / f"{sid}.pem", pki / f"{sid}.key")
        self.counter = ByteCounter()
        self.client = AggregatorClient(address, tls=tls, interceptors=[self.counter])
        self.client.register(sid, f"EU-{sid}", [spec], "sha256:bench")
        self.stats = stats_of(spec, credit_data(200 + (n * 37) % 200, seed=100 + n))
        db = sqlite3.connect(folder / f"{sid}.db", check_same_thread=False)
        db.executescript(SCHEMA)
        lock = threading.Lock()

        @contextmanager
        def tx():  # type: ignore[no-untyped-def]
            with lock, db:
                yield db

        self.ledger = RoundLedger(tx)
        self.window_end = int(time.time() * 1000) - 5
        window = RawWindow(
            f"{sid}-w1", MODEL_ID, spec.model_version, spec.digest,
            self.window_end - 1000, self.window_end,
        )  # fmt: skip
        self.ledger.keep_window(window, self.stats, keep_days=30, now_ms=self.window_end)
        counter = Counter("rounds", "", ["outcome"], registry=CollectorRegistry())
        self.rounds = SecureRounds(
            silo_id=sid, tls=tls, settings=SecureRoundSettings(), ledger=self.ledger,
            transport=self.client, audit=AuditLog(folder / f"{sid}.audit.jsonl"),
            outcomes=counter, served=lambda: {MODEL_ID},
        )  # fmt: skip
        self.listener = threading.Thread(target=self._listen, daemon=True)
        self.listener.start()

    def _listen(self) -> None:
        """What ``agent.silo_commands`` does with a ``secagg_round`` command."""
        try:
            for cmd in self.client.commands(self.sid):
                if cmd.kind != "secagg_round":
                    continue
                adm = self.rounds.admit(cmd)
                status = "accepted" if adm.accepted else "rejected"
                self.client.ack_command(cmd.command_id, self.sid, status, adm.message)
                if adm.accepted:
                    self.rounds.start(adm)
        except grpc.RpcError:
            pass  # cancelled at the end

    def report(self) -> None:
        from fedgov.policy import Decision
        from fedgov.report import Report

        self.client.submit(
            Report(
                report_id=f"{self.sid}-clear", silo_id=self.sid, jurisdiction=f"EU-{self.sid}",
                model_id=MODEL_ID, model_version=self.spec.model_version,
                window_start_ms=self.window_end - 1000, window_end_ms=self.window_end,
                spec_digest=self.spec.digest, stats=self.stats, metrics={},
                decision=Decision(allow=True),
            )
        )  # fmt: skip

    def close(self) -> None:
        self.client.cancel_stream()
        self.client.close()


# -- one run -------------------------------------------------------------------------
def _ask(conn: Any, *msg: Any, timeout: float = 600.0) -> Any:
    conn.send(msg)
    if not conn.poll(timeout):
        raise TimeoutError(f"the aggregator process did not answer {msg[0]!r} in {timeout:g}s")
    return conn.recv()


def _stages(t_open: float, events: list[tuple[float, str]]) -> dict[str, float]:
    """Seconds from the open to each stage's close, from the aggregator's log."""
    out: dict[str, float] = {}
    for t, msg in events:
        for s in (1, 2, 3):
            if f"stage {s} closed" in msg:
                out.setdefault(f"stage{s}", t - t_open)
        if "completed" in msg:
            out.setdefault("stage4", t - t_open)
    return out


def _mismatch(spec, silos: list[Silo], released: list[bytes]) -> int:  # type: ignore[no-untyped-def]
    """Cells where the released sum differs from the plain sum of the silos' statistics."""
    import numpy as np

    from fedgov.secagg.layout import Layout, vector_of
    from fedgov.v1 import report_pb2
    from fedgov.wire import stats_from_proto

    if len(released) != 1:
        return -1
    plain = silos[0].stats
    for s in silos[1:]:
        plain = plain.merge(s.stats)
    layout = Layout.of([spec])
    got = stats_from_proto(report_pb2.WindowStats.FromString(released[0]))
    a = vector_of(layout, {spec.digest: plain})
    b = vector_of(layout, {spec.digest: got})
    return int(np.count_nonzero(a != b))


def _measured(conn: Any, silos: list[Silo], t0: float, cpu0: float) -> dict[str, Any]:
    """Wall time since ``t0``, bytes per silo since the counters' reset, server CPU."""
    wall, cpu = time.time() - t0, _ask(conn, "cpu") - cpu0
    sent = statistics.mean(s.counter.sent for s in silos)
    received = statistics.mean(s.counter.received for s in silos)
    return {
        "wall_s": wall,
        "bytes_sent": sent,
        "bytes_received": received,
        "bytes_per_silo": sent + received,
        "server_cpu_s": cpu,
    }


def one_run(n: int, tmp: Path, spec, run: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    folder = tmp / f"n{n}-run{run}"
    folder.mkdir()
    ctx = mp.get_context("spawn")
    conn, child = ctx.Pipe()
    proc = ctx.Process(target=_server_proc, args=(str(folder), child), daemon=True)
    proc.start()
    if not conn.poll(120):
        raise TimeoutError("the aggregator process did not start")
    address = f"127.0.0.1:{conn.recv()}"
    silos = [Silo(f"S{i:03d}", address, tmp / "pki", folder, spec, i) for i in range(n)]
    try:
        time.sleep(1.0)  # the command streams connect; the period closes
        start = min(s.window_end for s in silos) - 1000
        end = max(s.window_end for s in silos) + 1
        for s in silos:
            s.counter.reset()
        # (b) the same statistics in the clear, first (the round may crash the server)
        cpu0, t0 = _ask(conn, "cpu"), time.time()
        threads = [threading.Thread(target=s.report) for s in silos]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if not proc.is_alive():
            raise RuntimeError(f"the aggregator process died (exit code {proc.exitcode})")
        clear = _measured(conn, silos, t0, cpu0) | {"reports_stored": _ask(conn, "reports")}
        for s in silos:
            s.counter.reset()
        # (a) secure
        cpu0, me0, t0 = _ask(conn, "cpu"), os.times(), time.time()
        rid = _ask(conn, "open", start, end)
        deadline = time.monotonic() + 900
        while not all(rid in s.rounds.finished for s in silos):
            if time.monotonic() > deadline:
                raise TimeoutError(f"round {rid} did not end in 900s")
            time.sleep(0.01)
        secure, me1 = _measured(conn, silos, t0, cpu0), os.times()
        print(f"  secure round ended after {secure['wall_s']:.2f}s", file=sys.stderr)
        status, reason, survivors, released, events, combines = _ask(conn, "result", rid)
        outcomes = sorted({s.rounds.finished[rid][0] for s in silos})
        secure |= {
            "silos_cpu_s": (me1.user + me1.system) - (me0.user + me0.system),
            "status": status,
            "reason": reason,
            "survivors": survivors,
            "silo_outcomes": outcomes,
            "stages_s": _stages(t0, events),
            "combines": len(combines),
            "combine_s": combines[0][1] - combines[0][0] if combines else None,
            "combine_busy_s": sum(b - a for a, b in combines),
            "mismatched_cells": _mismatch(spec, silos, released),
            "rows": sum(s.stats.rows for s in silos),
        }
        secure["server_exit"] = None if proc.is_alive() else proc.exitcode
        for s in silos:
            s.counter.reset()
    finally:
        for s in silos:
            s.close()
        try:
            _ask(conn, "stop", timeout=30)
        except (OSError, EOFError, TimeoutError):  # it crashed; say so below
            proc.kill()
        proc.join(timeout=30)
    if proc.exitcode:  # died before or while being stopped
        secure["server_exit"] = proc.exitcode
    return {"secure": secure, "unmasked": clear}


# -- summary -------------------------------------------------------------------------
_KEYS = ("wall_s", "bytes_per_silo", "server_cpu_s")


def summarize(n: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    def med(path: str, key: str) -> float:
        return statistics.median(r[path][key] for r in runs)

    secure = {k: med("secure", k) for k in (*_KEYS, "bytes_sent", "bytes_received")}
    secure["silos_cpu_s"] = med("secure", "silos_cpu_s")
    clear = {k: med("unmasked", k) for k in (*_KEYS, "bytes_sent", "bytes_received")}
    stage_names = ("stage1", "stage2", "stage3", "stage4")
    stages = {
        s: statistics.median(r["secure"]["stages_s"].get(s, float("nan")) for r in runs)
        for s in stage_names
    }
    combine = [r["secure"]["combine_s"] for r in runs if r["secure"]["combine_s"] is not None]
    return {
        "silos": n,
        "runs": len(runs),
        "secure": secure,
        "unmasked": clear,
        "ratio": {k: secure[k] / clear[k] if clear[k] else float("inf") for k in _KEYS},
        "stages_s": stages,
        "combine_s": statistics.median(combine) if combine else None,
        "combines_per_round": max(r["secure"]["combines"] for r in runs),
        "exact": all(
            r["secure"]["mismatched_cells"] == 0
            and r["secure"]["status"] == "completed"
            and r["secure"]["server_exit"] is None
            for r in runs
        ),
        "rows": runs[0]["secure"]["rows"],
        "per_run": runs,
    }


def print_table(results: list[dict[str, Any]]) -> None:
    head = ("wall s", "B/silo", "sent", "recv")
    print(f"\n{'N':>3} {'path':9} " + " ".join(f"{h:>9}" for h in head) + f" {'agg CPU s':>10}")
    for r in results:
        for path in ("secure", "unmasked"):
            x = r[path]
            print(
                f"{r['silos']:3d} {path:9} {x['wall_s']:9.2f} {x['bytes_per_silo']:9.0f} "
                f"{x['bytes_sent']:9.0f} {x['bytes_received']:9.0f} {x['server_cpu_s']:10.2f}"
            )
    print(f"\n{'N':>3} {'wall x':>8} {'bytes x':>8} {'agg CPU x':>10}   (secure / unmasked)")
    for r in results:
        q = r["ratio"]
        print(f"{r['silos']:3d} {q['wall_s']:8.1f} {q['bytes_per_silo']:8.1f} ", end="")
        print(f"{q['server_cpu_s']:10.1f}")
    print("\nwhere the round's time goes (s from the open; medians):")
    for r in results:
        st = r["stages_s"]
        marks = [0.0, st["stage1"], st["stage2"], st["stage3"], st["stage4"]]
        spans = ", ".join(
            f"{name} {b - a:.2f}"
            for name, a, b in zip(
                ("adverts", "shares", "masked", "unmask+combine"),
                marks[:-1],
                marks[1:],
                strict=True,
            )
        )
        print(
            f"  N={r['silos']}: {spans}; the last silo sees the end "
            f"+{r['secure']['wall_s'] - st['stage4']:.2f}; combine at the aggregator "
            f"{r['combine_s'] or 0:.2f}s "
            f"({r['combines_per_round']} combine call(s) per round); silos' CPU "
            f"{r['secure']['silos_cpu_s']:.1f}s in all"
        )
    for r in results:
        for i, run in enumerate(r["per_run"]):
            if run["secure"]["server_exit"] is not None:
                code = run["secure"]["server_exit"]
                print(
                    f"N={r['silos']} run {i + 1}: the aggregator process died after the round "
                    f"(exit code {code}) while {run['secure']['combines']} combine(s) ran"
                )
        verdict = "PASS" if r["exact"] else "FAIL"
        print(
            f"exact sum, N={r['silos']} ({r['rows']} rows): released sum == plain sum of the "
            f"silos' statistics in every cell, every run: {verdict}"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--silos", default="10,50", help="cohort sizes, comma-separated (>= 3)")
    ap.add_argument("--runs", type=int, default=3, help="runs per cohort size (medians)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()
    sizes = [int(x) for x in args.silos.split(",") if x.strip()]
    if not sizes or min(sizes) < 3 or args.runs < 1:
        ap.error("--silos needs sizes of at least 3 (the default min cohort), --runs >= 1")

    from support.specs import derive_credit_spec

    from fedgov.tls import init_trial_pki

    logging.basicConfig(level=logging.ERROR)
    tmp = Path(tempfile.mkdtemp(prefix="fedgov-bench-secagg-"))
    t0 = time.perf_counter()
    init_trial_pki(tmp / "pki", {f"S{i:03d}": f"EU-S{i:03d}" for i in range(max(sizes))})
    print(f"PKI for {max(sizes)} silos in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    spec = derive_credit_spec()
    results = []
    for n in sizes:
        runs = []
        for run in range(args.runs):
            r = one_run(n, tmp, spec, run)
            runs.append(r)
            sec, clr = r["secure"], r["unmasked"]
            print(
                f"N={n} run {run + 1}: secure {sec['wall_s']:.2f}s ({sec['status']}, "
                f"{sec['survivors']} survivors, {sec['mismatched_cells']} cells off, "
                f"{sec['combines']} combine(s)), unmasked {clr['wall_s']:.2f}s "
                f"({clr['reports_stored']} reports)",
                file=sys.stderr,
            )
        results.append(summarize(n, runs))
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    else:
        print_table(results)
    return 0 if all(r["exact"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
