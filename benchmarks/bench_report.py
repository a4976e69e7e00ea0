"""Compliance reports over a large store: time and size of each regime and format.

Issue 15 asks for the size and time of rendering each report for a store of
100,000 reports. The store is filled as ``bench_queries.py`` fills it (200
silos, half ``EU-*`` and half ``US-*``, a report every 15 minutes, the small
bench spec), then a real aggregator serves it on port 0 and each report is
built over the query API (``QueryClient``, as ``fedgov report`` does) and
rendered; medians of ``--runs``.

A report must not grow with the store: its time series are per period and its
evidence lists the merged reports and a digest of the rest. The same store at
a tenth of the size (``--small``) is measured too, and the ratio of sizes is
printed with PASS when the big store's report is at most 1.5x the small one's
(a list of every report would be 10x).

    python benchmarks/bench_report.py                    # 100,000 and 10,000 reports
    python benchmarks/bench_report.py --reports 20000 --small 2000 --runs 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import bench_queries as bq  # noqa: E402

FORMATS = ("json", "html", "pdf")
REGIMES = ("nyc-ll144", "eu-ai-act", "colorado", "summary")
SIZE_RATIO_MAX = 1.5
CARD = """\
owner: Benchmark team
purpose: Scores loan applications for the bench workload.
intended_use: A stand-in model for timing reports.
contact: bench@example.org
"""


def measure_store(n_reports: int, silos: int, runs: int, root: Path) -> dict[str, Any]:
    """Load a store of ``n_reports`` and time every regime x format over the query API."""
    from aggregator.query_client import QueryClient
    from aggregator.reports.build import build, render
    from aggregator.reports.source import ReportArgs
    from aggregator.server import create_server
    from aggregator.store import create_store

    spec = bq.small_spec()
    url = str(root / f"agg-{n_reports}.db")
    bq.load(url, spec, n_reports, bq.silo_names(silos))
    card = root / "card.yaml"
    card.write_text(CARD, encoding="utf-8")
    server = create_server("127.0.0.1:0", create_store(url))
    out: dict[str, Any] = {}
    try:
        with QueryClient(f"127.0.0.1:{server.port}", timeout=120.0) as client:
            for regime in REGIMES:
                args = ReportArgs(
                    model="" if regime == "summary" else spec.model_id,
                    regime=regime,
                    jurisdictions="" if regime == "summary" else "EU-*",
                    model_card=card if regime == "colorado" else None,
                )
                builds, docs = [], []
                for _ in range(runs):
                    t0 = time.perf_counter()
                    docs.append(build(client, args))
                    builds.append(time.perf_counter() - t0)
                row: dict[str, Any] = {"build_s": statistics.median(builds)}
                for fmt in FORMATS:
                    times, size = [], 0
                    for _ in range(runs):
                        t0 = time.perf_counter()
                        size = len(render(docs[0], fmt))
                        times.append(time.perf_counter() - t0)
                    row[fmt] = {"render_s": statistics.median(times), "bytes": size}
                out[regime] = row
                print(f"  {n_reports:>7} reports  {regime:10} built in {row['build_s']:.2f}s",
                      file=sys.stderr)  # fmt: skip
    finally:
        server.stop(grace=1.0)
        server.handler.store.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reports", type=int, default=100_000)
    ap.add_argument("--small", type=int, default=10_000, help="the store to compare sizes with")
    ap.add_argument("--silos", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="fedgov-bench-report-") as tmp:
        small = measure_store(args.small, args.silos, args.runs, Path(tmp))
        big = measure_store(args.reports, args.silos, args.runs, Path(tmp))
    ratios = {
        (regime, fmt): big[regime][fmt]["bytes"] / max(small[regime][fmt]["bytes"], 1)
        for regime in REGIMES
        for fmt in FORMATS
    }
    ok = all(r <= SIZE_RATIO_MAX for r in ratios.values())
    if args.json:
        print(json.dumps({"small": small, "big": big, "bounded": ok}, indent=2))
        return 0 if ok else 1
    print(f"\n{args.reports} reports ({args.silos} silos), medians of {args.runs}; "
          f"size ratio vs {args.small} reports")  # fmt: skip
    print(f"{'regime':10} {'build s':>8} {'format':>6} {'render s':>9} {'bytes':>11} {'ratio':>6}")
    for regime in REGIMES:
        for fmt in FORMATS:
            cell = big[regime][fmt]
            ratio = ratios[(regime, fmt)]
            verdict = "PASS" if ratio <= SIZE_RATIO_MAX else "FAIL"
            print(
                f"{regime:10} {big[regime]['build_s']:8.2f} {fmt:>6} {cell['render_s']:9.2f} "
                f"{cell['bytes']:11,d} {ratio:6.2f}  {verdict}"
            )
    print(
        f"report size bounded (<= {SIZE_RATIO_MAX}x at 10x the reports): {'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
