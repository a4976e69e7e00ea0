"""Bounded memory: peak RSS of a scan of a file 20x the chunk size vs one chunk.

The parent writes two files per format with the issue-3 workload: one of
exactly ``--chunk-rows`` rows and one of ``--multiple`` times that (Parquet
row groups of one chunk each). Each scan (``fedgov.data.fold_file`` +
``compute_metrics``) runs in a fresh child process, ``--repeats`` times.

How the child measures. It first imports everything the scan uses (numpy,
pyarrow, scipy, fedgov), loads the spec and scans a 1000-row file of the
same format (lazy imports, Arrow's thread pools and allocator arenas, the
binning tables: costs paid once per process, not per chunk); the resident
size then is the *baseline*. It then resets the kernel's peak-RSS mark (``VmHWM``, by
writing 5 to ``/proc/self/clear_refs``), runs the scan, and reads
``VmHWM`` again: the *peak* of the whole process during the scan, baseline
included. Two ratios are printed, both should be under 2:

* ``peak ratio``: peak(big file) / peak(one-chunk file), whole process;
* ``scan ratio``: (peak - baseline) for the big file over the same for the
  one-chunk file: what the scan itself added, the stricter reading.

With read-ahead (``fold_file(read_ahead=True)``, off by default) the big
file holds two chunks at a time (one folded, one read) where a one-chunk
file only ever has one, so its scan ratio approaches 2 by design; without
it, near 1.

    python benchmarks/bench_memory.py                    # about 2 minutes
    python benchmarks/bench_memory.py --formats parquet --repeats 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _workload as wl  # noqa: E402

TARGET = 2.0


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def child(args: argparse.Namespace) -> int:
    import numpy  # noqa: F401
    import pyarrow.csv  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import scipy.stats  # noqa: F401

    from fedgov.data import fold_file
    from fedgov.metrics import compute_metrics
    from fedgov.spec import load_spec

    spec = load_spec(args.spec)
    if args.warm:  # lazy imports, Arrow thread pools, binning tables: not per-chunk costs
        fold_file(args.warm, spec, chunk_rows=args.chunk_rows, read_ahead=args.read_ahead == 1)
    baseline = _status_kb("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current RSS
        how = "VmHWM after reset"
    except OSError:
        how = "ru_maxrss (peak since start; reset not permitted)"
    t = time.perf_counter()
    stats = fold_file(args.file, spec, chunk_rows=args.chunk_rows, read_ahead=args.read_ahead == 1)
    compute_metrics(spec, stats)
    seconds = time.perf_counter() - t
    if how.startswith("VmHWM"):
        peak = _status_kb("VmHWM")
    else:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "rows": stats.rows,
                "baseline_kb": baseline,
                "peak_kb": peak,
                "seconds": seconds,
                "how": how,
            }
        )
    )
    return 0


def write_files(workdir: Path, fmt: str, chunk_rows: int, multiple: int) -> tuple[Path, Path]:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    one = workdir / f"one.{fmt}"
    big = workdir / f"big.{fmt}"
    warm = wl.to_arrow(wl.make_columns(1000, seed=99, drift=1.0))
    first = wl.to_arrow(wl.make_columns(chunk_rows, seed=100, drift=1.0))
    # ``big`` is ``first`` and then fresh chunks, each made as it is written
    parts = (
        first if i == 0 else wl.to_arrow(wl.make_columns(chunk_rows, seed=100 + i, drift=1.0))
        for i in range(multiple)
    )
    if fmt == "parquet":
        pq.write_table(warm, workdir / "warm.parquet")
        pq.write_table(first, one, row_group_size=chunk_rows)
        with pq.ParquetWriter(big, first.schema) as w:
            for part in parts:
                w.write_table(part, row_group_size=chunk_rows)
    else:
        pacsv.write_csv(warm, workdir / "warm.csv")
        pacsv.write_csv(first, one)
        with pacsv.CSVWriter(big, first.schema) as w:
            for part in parts:
                w.write_table(part)
    return one, big


def run_child(path: Path, spec: Path, chunk_rows: int, read_ahead: bool) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--file",
        str(path),
        "--spec",
        str(spec),
        "--chunk-rows",
        str(chunk_rows),
        "--read-ahead",
        str(int(read_ahead)),
        "--warm",
        str(path.with_name("warm" + path.suffix)),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"child failed ({out.returncode}): {out.stderr.strip()}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chunk-rows", type=int, default=None, help="default: the readers' default")
    ap.add_argument("--multiple", type=int, default=20, help="big file = this many chunks")
    ap.add_argument("--repeats", type=int, default=3, help="child runs per case (median)")
    ap.add_argument("--formats", default="parquet,csv")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--workdir", default=None)
    # child mode
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    ap.add_argument("--read-ahead", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--warm", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args)

    from fedgov.data import DEFAULT_CHUNK_ROWS
    from fedgov.spec import save_spec

    chunk_rows = args.chunk_rows or DEFAULT_CHUNK_ROWS
    log = (lambda s: print(s, file=sys.stderr)) if args.json else print
    cases: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        spec_path = work / "spec.json"
        save_spec(wl.derive(wl.make_columns(100_000, seed=1)), spec_path)
        for fmt in [f.strip() for f in args.formats.split(",") if f.strip()]:
            t = time.perf_counter()
            one, big = write_files(work, fmt, chunk_rows, args.multiple)
            log(
                f"{fmt}: wrote {one.stat().st_size / 1e6:.0f} MB ({chunk_rows:,} rows) and "
                f"{big.stat().st_size / 1e6:.0f} MB ({args.multiple * chunk_rows:,} rows) "
                f"in {time.perf_counter() - t:.0f} s"
            )
            for read_ahead in (True, False):
                row: dict[str, Any] = {"format": fmt, "read_ahead": read_ahead}
                for label, path in (("one", one), ("big", big)):
                    runs = [
                        run_child(path, spec_path, chunk_rows, read_ahead)
                        for _ in range(args.repeats)
                    ]
                    assert all(r["rows"] == runs[0]["rows"] for r in runs)
                    row[label] = {
                        "rows": runs[0]["rows"],
                        "baseline_mb": statistics.median(r["baseline_kb"] for r in runs) / 1024,
                        "peak_mb": statistics.median(r["peak_kb"] for r in runs) / 1024,
                        "added_mb": statistics.median(r["peak_kb"] - r["baseline_kb"] for r in runs)
                        / 1024,
                        "seconds": statistics.median(r["seconds"] for r in runs),
                        "how": runs[0]["how"],
                    }
                row["peak_ratio"] = row["big"]["peak_mb"] / row["one"]["peak_mb"]
                row["scan_ratio"] = row["big"]["added_mb"] / row["one"]["added_mb"]
                cases.append(row)
                log(
                    f"  read-ahead {'on ' if read_ahead else 'off'}: peak ratio "
                    f"{row['peak_ratio']:.2f}, scan ratio {row['scan_ratio']:.2f}"
                )
    if args.json:
        print(
            json.dumps(
                {
                    "chunk_rows": chunk_rows,
                    "multiple": args.multiple,
                    "target": TARGET,
                    "cases": cases,
                },
                indent=2,
            )
        )
        return 0
    print()
    print(
        f"chunk {chunk_rows:,} rows; big file = {args.multiple} chunks; "
        f"median of {args.repeats} child runs; peak = {cases[0]['one']['how']}"
    )
    head = (
        f"{'format':8s} {'ahead':5s} {'file':4s} {'rows':>10s} {'base MB':>8s} "
        f"{'peak MB':>8s} {'scan MB':>8s} {'rows/s':>11s}"
    )
    print(head)
    for c in cases:
        for label in ("one", "big"):
            r = c[label]
            print(
                f"{c['format']:8s} {'on' if c['read_ahead'] else 'off':5s} {label:4s} "
                f"{r['rows']:>10,} {r['baseline_mb']:>8.0f} {r['peak_mb']:>8.0f} "
                f"{r['added_mb']:>8.0f} {r['rows'] / r['seconds']:>11,.0f}"
            )
    print()
    print(
        f"{'format':8s} {'ahead':5s} {'peak ratio':>10s} {'scan ratio':>10s}  "
        f"target < {TARGET:g}x (peak / scan)"
    )
    for c in cases:
        verdict = "/".join(
            "PASS" if c[k] < TARGET else "FAIL" for k in ("peak_ratio", "scan_ratio")
        )
        print(
            f"{c['format']:8s} {'on' if c['read_ahead'] else 'off':5s} "
            f"{c['peak_ratio']:>10.2f} {c['scan_ratio']:>10.2f}  {verdict}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
