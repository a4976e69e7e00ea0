"""The Spark engine against the local engine, on the same Parquet files, in the same run.

Workload: the seeded workload of issue 3 (benchmarks/_workload.py: 20 numeric and 2
categorical features, 2 sensitive attributes, label and prediction), ``--rows`` rows
(default 10M) written once, before any timing, as ``--files`` Parquet files (snappy,
row groups of ``--row-group-rows``). The spec is derived from a separate 1M-row
reference window (not timed).

What each line times (wall clock, median of ``--repeats``; rounds interleaved so
machine noise hits both engines alike):

* ``local engine``: :func:`fedgov.data.fold_file` over every file, merged: one
  process, the fold threads of :mod:`fedgov.stats._parallel`. Its process CPU time
  is printed too.
* ``spark local[2]``: :func:`fedgov.data.open_spark_window` (the file listing that
  names the window) + :func:`fedgov.data.fold_spark` (each partition folded in a
  Python worker by ``mapInArrow``, the partitions' statistics merged on the driver),
  with the partitions Spark chooses for the files.
* ``per partition``: the same with ``spark.sql.files.maxPartitionBytes`` set so that
  Spark makes about ``--low`` and about ``--high`` partitions; the overhead of one
  partition is ``(t_high - t_low) / (n_high - n_low)``.

Not timed, printed apart: writing the files, deriving the spec, and starting the
SparkSession (JVM start; then one untimed fold to start the Python workers).
The check "counts equal the local engine's" compares every cell (PASS/FAIL). The
issue sets no speed target for Spark: the numbers are printed as measured. Run::

    python benchmarks/bench_spark.py                       # about 5-10 minutes on 2 cores
    python benchmarks/bench_spark.py --rows 1000000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _workload as wl  # noqa: E402


def write_window(folder: Path, rows: int, files: int, row_group_rows: int) -> list[Path]:
    """``rows`` current-window rows as ``files`` Parquet files (one generated at a time)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(files):
        n = rows // files + (1 if i < rows % files else 0)
        cols = wl.make_columns(n, seed=100 + i, drift=0.5)
        paths.append(
            wl.write_parquet(cols, folder / f"part-{i:03d}.parquet", row_group_rows=row_group_rows)
        )
    return paths


def local_engine(spec: Any, paths: list[Path]) -> Callable[[], Any]:
    from fedgov.data import fold_file
    from fedgov.stats import WindowStats

    def run() -> Any:
        stats = WindowStats.zero(spec)
        for p in paths:
            stats = stats.merge(fold_file(p, spec))
        return stats

    return run


def spark_engine(spec: Any, source: Any, session: Any, max_bytes: int | None) -> Callable[[], Any]:
    from fedgov.data import fold_spark, open_spark_window

    def run() -> Any:
        # Spark's defaults, or splits of max_bytes with no per-file cost (so that a few
        # files can share a partition and the partition count follows max_bytes).
        session.conf.set("spark.sql.files.maxPartitionBytes", str(max_bytes or 128 << 20))
        session.conf.set("spark.sql.files.openCostInBytes", "0" if max_bytes else str(4 << 20))
        window = open_spark_window(source)
        run.partitions = window.frame.rdd.getNumPartitions()  # type: ignore[attr-defined]
        return fold_spark(window, spec)

    return run


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--files", type=int, default=10, help="Parquet files the rows are in")
    ap.add_argument("--row-group-rows", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each (median)")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--low", type=int, default=2, help="partitions of the low end")
    ap.add_argument("--high", type=int, default=64, help="partitions of the high end")
    ap.add_argument("--workdir", default=None, help="where the Parquet files go (default: temp)")
    ap.add_argument("--json", action="store_true", help="also print one JSON document")
    args = ap.parse_args(argv)

    from fedgov.data import SparkInput, spark_session

    load_before = os.getloadavg()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="fedgov-bench-spark-"))
    t0 = time.perf_counter()
    paths = write_window(work / "window", args.rows, args.files, args.row_group_rows)
    spec = wl.derive(wl.make_columns(1_000_000, seed=0))
    total_bytes = sum(p.stat().st_size for p in paths)
    print(
        f"setup (not timed): {args.rows:,} rows in {len(paths)} Parquet files "
        f"({total_bytes / 1e6:.0f} MB), spec derived: {time.perf_counter() - t0:.1f} s"
    )
    source = SparkInput(
        path=str(work / "window"),
        master=args.master,
        conf=(("spark.sql.shuffle.partitions", "2"), ("spark.driver.memory", "2g")),
    )
    t0 = time.perf_counter()
    session = spark_session(source)
    session.sparkContext.setLogLevel("WARN")
    start_s = time.perf_counter() - t0
    contenders: dict[str, Callable[[], Any]] = {
        "local engine": local_engine(spec, paths),
        f"spark {args.master}": spark_engine(spec, source, session, None),
        f"spark {args.master}, ~{args.low} partitions": spark_engine(
            spec, source, session, total_bytes // args.low + 1
        ),
        f"spark {args.master}, ~{args.high} partitions": spark_engine(
            spec, source, session, total_bytes // args.high + 1
        ),
    }
    t0 = time.perf_counter()
    local_engine(spec, paths[:1])()  # warm-up: imports, the fold's threads
    one_file = SparkInput(path=str(paths[0]), master=args.master, conf=source.conf)
    spark_engine(spec, one_file, session, None)()  # warm-up: Spark's Python workers
    warm_s = time.perf_counter() - t0
    print(f"SparkSession start (not timed): {start_s:.1f} s; warm-up (one file): {warm_s:.1f} s")
    results: dict[str, Any] = {}
    walls: dict[str, list[float]] = {n: [] for n in contenders}
    cpus: dict[str, list[float]] = {n: [] for n in contenders}
    for _ in range(args.repeats):
        for name, fn in contenders.items():
            wall, cpu, results[name] = timed(fn)
            walls[name].append(wall)
            cpus[name].append(cpu)
    expected = results["local engine"]
    equal = all(r == expected for r in results.values()) and expected.rows == args.rows
    med = {n: statistics.median(v) for n, v in walls.items()}
    parts = {n: getattr(fn, "partitions", None) for n, fn in contenders.items()}
    print(f"{'':40s} {'rows':>12s} {'parts':>6s} {'wall s':>8s} {'rows/s':>10s} {'CPU s':>7s}")
    for name in contenders:
        print(
            f"{name:40s} {args.rows:>12,d} {parts[name] or '-':>6} {med[name]:>8.2f} "
            f"{args.rows / med[name] / 1e6:>9.2f}M {statistics.median(cpus[name]):>7.2f}"
        )
    spark_name = f"spark {args.master}"
    low, high = list(contenders)[2:]
    n_low, n_high = parts[low], parts[high]
    per_partition = (med[high] - med[low]) / (n_high - n_low) if n_high != n_low else float("nan")
    ratio = med[spark_name] / med["local engine"]
    print(
        f"local engine {ratio:.2f}x faster than Spark {args.master} on this machine "
        f"(spark {args.rows / med[spark_name] / 1e6:.2f}M rows/s, local "
        f"{args.rows / med['local engine'] / 1e6:.2f}M rows/s); overhead per partition "
        f"{per_partition * 1e3:.0f} ms ({n_low} vs {n_high} partitions); "
        f"Spark CPU is in its workers, not in this process's CPU column"
    )
    print(
        f"counts equal the local engine's (every cell, {len(contenders) - 1} Spark runs): "
        f"{'PASS' if equal else 'FAIL'}"
    )
    load_after = os.getloadavg()
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")
    if args.json:
        print(
            json.dumps(
                {
                    "rows": args.rows,
                    "median_s": med,
                    "partitions": parts,
                    "spark_start_s": start_s,
                    "local_over_spark": ratio,
                    "per_partition_s": per_partition,
                    "equal": equal,
                    "load": [load_before[0], load_after[0]],
                }
            )
        )
    session.stop()
    return 0 if equal else 1


if __name__ == "__main__":
    raise SystemExit(main())
