"""Query latency over a large store: p50/p95 of each query kind, through the handler.

Issue 5's target: p95 under 100 ms for each query kind over 1,000,000 stored
reports, on SQLite and on PostgreSQL.

Workload: ``--silos`` silos (default 200, half ``EU-*``, half ``US-*``) each
report every 15 minutes, ``--reports`` reports in all (default 1,000,000:
5,000 per silo, 52 days). The spec is deliberately small, so that a million
reports fit on disk and load in minutes: 3 numeric features (10 bins, no fine
edges), 1 categorical, sensitive attributes ``sex`` (2 groups) and ``region``
(5 groups); a stored report is about 4 KB (protobuf, real metrics from
``compute_metrics``). Eight window statistics, some drifted, are reused
across reports; ids, silos and windows differ.

Loading bypasses ``add_report`` (it would take an hour): rows go in with the
store's own columns through batched inserts (SQLite) or COPY (PostgreSQL),
the latest-report pointers are set from the data, then ANALYZE.

Queries (each ``--runs`` times after a warm-up, wall clock through
``aggregator.handler.AggregatorHandler``):

* ``drift``: ``query_drift(0.2, since_ms=<last hour>)``, feature PSI rows above 0.2
* ``fairness``: ``query_fairness(model, jurisdiction_glob="EU-*")``, the merged
  latest report of each EU silo. The handler keeps decoded latest reports while
  they stay the newest (``aggregator.latest``), so after the warm-up this
  measures a server that has answered before: pointer read, merge, metrics
* ``fairness_cold``: the same on a new handler each time (every report decoded)
* ``decisions``: ``query_decisions()``, the latest decision of every silo
* ``silos``: ``query_silos(stale_after_ms=1 h)``
* ``history``: ``query_history(model, "psi", feature="x00", since_ms=<last
  --history-minutes>)``, one point per report in the range

    python benchmarks/bench_queries.py                       # SQLite, 1M reports
    python benchmarks/bench_queries.py --reports 100000
    eval "$(bash scripts/services.sh)"
    python benchmarks/bench_queries.py --store "$FEDGOV_TEST_POSTGRES_URL"
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the report builder

import _workload as workload  # noqa: E402

from aggregator.store._schema import DRIFT_COLS, REPORT_COLS  # noqa: E402  (the stores' own)

MINUTE = 60_000
INTERVAL_MS = 15 * MINUTE
T0 = 1_700_000_000_000
COLUMNS = ["x00", "x01", "x02", "channel", "sex", "region", "label", "prediction"]


def small_spec():  # type: ignore[no-untyped-def]
    from fedgov.stats import derive_spec

    ref = workload.make_columns(20_000, seed=1)
    return derive_spec(
        {k: ref[k] for k in COLUMNS},
        model_id="bench",
        model_version="1",
        label=workload.LABEL,
        prediction=workload.PREDICTION,
        sensitive=workload.SENSITIVE,
        categorical=["channel"],
        bins=10,
        fine_bins=0,
    )


def templates(spec, n: int = 8) -> list[tuple[Any, dict[str, float], bool]]:  # type: ignore[no-untyped-def]
    """(Report message, psi per feature, allow) for n windows, half of them drifted."""
    from support.reports import report_of

    from fedgov.metrics import compute_metrics
    from fedgov.policy import Decision
    from fedgov.stats import WindowStats, encode_columns
    from fedgov.wire import report_to_proto

    out = []
    for i in range(n):
        cols = workload.make_columns(2_000, seed=10 + i, drift=1.5 * (i % 2))
        batch = encode_columns(spec, {k: cols[k] for k in COLUMNS})
        stats = WindowStats.zero(spec).fold(spec, batch)
        metrics = compute_metrics(spec, stats)
        psi = {k: v["psi"] for k, v in metrics["drift"]["features"].items() if "psi" in v}
        allow = max(psi.values()) < 0.2
        report = report_of(
            spec,
            stats,
            "t",
            silo="t",
            window_end_ms=0,
            metrics=metrics,
            decision=Decision(allow=allow, deny=() if allow else ("drift",)),
        )
        out.append((report_to_proto(report), psi, allow))
    return out


def silo_names(n: int) -> list[tuple[str, str]]:
    return [(f"S{i:04d}", f"{'EU' if i % 2 == 0 else 'US'}-S{i:04d}") for i in range(n)]


Rows = list[tuple[Any, ...]]


def generate(  # type: ignore[no-untyped-def]
    spec, n_reports: int, silos: list[tuple[str, str]], chunk: int
) -> Iterator[tuple[Rows, Rows]]:
    """Chunks of (report rows, drift rows), oldest window first."""
    from fedgov.v1 import report_pb2

    temps = templates(spec)
    msg = report_pb2.Report()
    reports: Rows = []
    drift: Rows = []
    for i in range(n_reports):
        k, s = divmod(i, len(silos))
        silo, jur = silos[s]
        tmpl, psi, allow = temps[(k * 7 + s * 3) % len(temps)]
        end = T0 + k * INTERVAL_MS + s * 1000
        rid = f"{silo}-{k:06d}"
        msg.CopyFrom(tmpl)
        msg.report_id, msg.silo_id, msg.jurisdiction = rid, silo, jur
        msg.window.start_unix_ms, msg.window.end_unix_ms = end - INTERVAL_MS, end
        msg.created_unix_ms = end + 5000
        reports.append(
            (
                rid,
                silo,
                jur,
                spec.model_id,
                spec.model_version,
                spec.digest,
                end - INTERVAL_MS,
                end,
                end + 5000,
                allow,
                "",
                msg.SerializeToString(),
            )
        )
        for name, value in psi.items():
            drift.append(
                (rid, silo, jur, spec.model_id, spec.model_version, name, value, None, end)
            )
        if len(reports) >= chunk:
            yield reports, drift
            reports, drift = [], []
    if reports:
        yield reports, drift


def latest_rows(spec, n_reports: int, silos: list[tuple[str, str]]) -> list[tuple[Any, ...]]:  # type: ignore[no-untyped-def]
    """(silo, model, version, report_id, window_end, received, seq) of each silo's newest."""
    rows = []
    for s, (silo, _) in enumerate(silos):
        if s >= n_reports:
            break
        k = (n_reports - 1 - s) // len(silos)
        end = T0 + k * INTERVAL_MS + s * 1000
        rows.append(
            (
                silo,
                spec.model_id,
                spec.model_version,
                f"{silo}-{k:06d}",
                end,
                end + 5000,
                k * len(silos) + s + 1,
            )
        )
    return rows


def load(url: str, spec, n_reports: int, silos: list[tuple[str, str]]) -> float:  # type: ignore[no-untyped-def]
    """Fill an empty store; returns the time of the last window."""
    from aggregator.store import create_store

    store = create_store(url)
    spec_json = json.dumps(spec.to_dict())
    for silo, jur in silos:
        store.register_silo(
            silo, jur, "sha256:bench", [(spec.model_id, spec.model_version, spec.digest, spec_json)]
        )
    store.close()
    t0 = time.perf_counter()
    done = 0
    chunks = generate(spec, n_reports, silos, chunk=20_000)
    latest = latest_rows(spec, n_reports, silos)
    last_end = max(r[4] for r in latest)
    if url.startswith(("postgresql://", "postgres://")):
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SET synchronous_commit = off")
            for reports, drift in chunks:
                with conn.transaction(), conn.cursor() as cur:
                    with cur.copy(f"COPY reports ({REPORT_COLS}) FROM STDIN") as cp:
                        for r in reports:
                            cp.write_row(r)
                    with cur.copy(f"COPY feature_drift ({DRIFT_COLS}) FROM STDIN") as cp:
                        for d in drift:
                            cp.write_row(d)
                done += len(reports)
                _progress(done, n_reports, t0)
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO latest_reports VALUES (%s,%s,%s,%s,%s,%s,%s)", latest)
                # Some silos went quiet an hour before the end: the stale filter finds them.
                cur.execute("UPDATE silos SET last_seen_ms = %s", (last_end + 5000,))
                cur.execute(
                    "UPDATE silos SET last_seen_ms = %s WHERE silo_id LIKE %s",
                    (last_end - 3 * 60 * MINUTE, "%0"),
                )
            conn.execute("ANALYZE")
    else:
        db = sqlite3.connect(url, isolation_level=None)
        db.execute("PRAGMA synchronous=OFF")  # loading only; the store itself stays FULL
        for reports, drift in chunks:
            db.execute("BEGIN")
            db.executemany(
                f"INSERT INTO reports ({REPORT_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", reports
            )
            db.executemany(
                f"INSERT INTO feature_drift ({DRIFT_COLS}) VALUES (?,?,?,?,?,?,?,?,?)", drift
            )
            db.execute("COMMIT")
            done += len(reports)
            _progress(done, n_reports, t0)
        db.executemany("INSERT INTO latest_reports VALUES (?,?,?,?,?,?)", [r[:6] for r in latest])
        db.execute("UPDATE silos SET last_seen_ms = ?", (last_end + 5000,))
        db.execute(
            "UPDATE silos SET last_seen_ms = ? WHERE silo_id LIKE ?",
            (last_end - 3 * 60 * MINUTE, "%0"),
        )
        db.execute("ANALYZE")
        db.close()
    print(
        f"\rloaded {n_reports} reports in {time.perf_counter() - t0:.0f}s" + " " * 20,
        file=sys.stderr,
    )
    return last_end


def _progress(done: int, total: int, t0: float) -> None:
    rate = done / max(time.perf_counter() - t0, 1e-9)
    print(f"\rloading {done}/{total} ({rate:.0f}/s)", end="", file=sys.stderr, flush=True)


def measure(fn: Callable[[], Any], runs: int) -> tuple[float, float, int]:
    """(p50 ms, p95 ms, rows) over runs after two warm-up calls."""
    rows = 0
    for _ in range(2):
        out = fn()
        rows = len(out) if isinstance(out, list) else int(getattr(out, "reports", 0))
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95)), rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reports", type=int, default=1_000_000)
    ap.add_argument("--silos", type=int, default=200)
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--history-minutes", type=int, default=60)
    ap.add_argument(
        "--store",
        default=None,
        help="postgresql://... (a scratch schema is made and dropped); "
        "default: a SQLite file in tmp",
    )
    ap.add_argument("--keep", action="store_true", help="keep the loaded database")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from aggregator.handler import AggregatorHandler
    from aggregator.store import create_store

    spec = small_spec()
    silos = silo_names(args.silos)
    schema = None
    if args.store:
        import psycopg

        schema = f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(args.store, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        sep = "&" if "?" in args.store else "?"
        url = f"{args.store}{sep}options=-csearch_path%3D{schema}"
        backend = "postgresql"
    else:
        url = str(Path(tempfile.mkdtemp(prefix="fedgov-bench-queries-")) / "agg.db")
        backend = "sqlite"
    try:
        last_end = load(url, spec, args.reports, silos)
        store = create_store(url)
        h = AggregatorHandler(store)
        hour = 60 * MINUTE
        now = last_end + 5000
        kinds: dict[str, Callable[[], Any]] = {
            "drift": lambda: h.query_drift(0.2, since_ms=last_end - hour),
            "fairness": lambda: h.query_fairness(spec.model_id, jurisdiction_glob="EU-*"),
            "fairness_cold": lambda: AggregatorHandler(store).query_fairness(
                spec.model_id, jurisdiction_glob="EU-*"
            ),
            "decisions": lambda: h.query_decisions(),
            "silos": lambda: h.query_silos(stale_after_ms=hour, now=now),
            "history": lambda: h.query_history(
                spec.model_id,
                "psi",
                feature="x00",
                since_ms=last_end - args.history_minutes * MINUTE,
            ),
        }
        results = {k: measure(fn, args.runs) for k, fn in kinds.items()}
        stored = store.count_reports()
        store.close()
    finally:
        if schema and not args.keep:
            import psycopg

            with psycopg.connect(args.store, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")
        elif not args.store and not args.keep:
            for p in Path(url).parent.glob("agg.db*"):
                p.unlink()
    summary = {
        "backend": backend,
        "reports": stored,
        "silos": args.silos,
        "runs": args.runs,
        "queries": {k: {"p50_ms": v[0], "p95_ms": v[1], "rows": v[2]} for k, v in results.items()},
        "target p95 < 100 ms": all(v[1] < 100 for v in results.values()),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"\n{backend}: {stored} reports, {args.silos} silos, {args.runs} runs per query")
    print(f"{'query':13} {'p50 ms':>8} {'p95 ms':>8} {'rows':>7}")
    for k, (p50, p95, rows) in results.items():
        print(f"{k:13} {p50:8.1f} {p95:8.1f} {rows:7d}   {'PASS' if p95 < 100 else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
