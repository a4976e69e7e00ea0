"""`fedgov stats`: a local look at one window's statistics and metrics (a data file,
or with ``--engine spark`` a Parquet path or catalog table folded by Spark)."""

from __future__ import annotations

import argparse
from typing import Any

from fedgov.cli import Verbs
from fedgov.cli import arguments as t
from fedgov.cli.output import print_fairness, print_json, table

__all__ = ["register", "run"]


def register(verbs: Verbs) -> None:
    p = t.add_verb(verbs, "stats", run)
    p.add_argument(
        "file",
        metavar="FILE",
        nargs="?",
        help="the window to look at: a CSV or Parquet file; with --engine spark, Parquet "
        "files (a file, a folder, or any URI Spark reads)",
    )
    p.add_argument("--spec", required=True, metavar="SPEC", help="monitoring spec (JSON)")
    p.add_argument(
        "--engine",
        choices=("local", "spark"),
        default="local",
        help="local: this process reads the file (the default, fastest on one machine); "
        "spark: each partition is folded on a Spark cluster and the counts merged here, "
        "equal to the local engine's (needs pip install 'fedgov[spark]' and Java 17+)",
    )
    p.add_argument(
        "--table", metavar="NAME", help="with --engine spark: a catalog table instead of FILE"
    )
    p.add_argument(
        "--master",
        metavar="URL",
        help="with --engine spark: the cluster (local[N], spark://host:7077, yarn...); "
        "default local[*]",
    )
    p.add_argument(
        "--reference",
        metavar="FILE",
        help="measure drift against this file's rows instead of the spec's reference profile",
    )
    p.add_argument(
        "--no-progress", action="store_true", help="no progress bar (drawn only on a terminal)"
    )
    t.add_json(p)
    t.add_common(p)


def run(args: argparse.Namespace) -> int:
    """A local look at a window's statistics and metrics.

    Fold FILE (CSV or Parquet) under the monitoring spec and print drift and
    fairness metrics. Drift is measured against the spec's reference profile,
    or against --reference FILE (always read by this process).

    With --engine spark, FILE (Parquet files, any URI Spark reads) or --table
    NAME is folded on the Spark cluster at --master, one partition per task,
    and the counts are merged here: the same counts as the local engine. The
    window is named by the files Spark read (path, size, modification time),
    printed as its id.
    """
    from fedgov.data import fold_file
    from fedgov.metrics import compute_metrics
    from fedgov.spec import load_spec

    source = _source(args)  # before the spec: a wrong flag is named first
    spec = load_spec(args.spec)
    # The bar goes to stderr, and only when it is a terminal: pipes stay clean.
    progress = not getattr(args, "no_progress", False)
    reference = getattr(args, "reference", None)
    if reference:
        from fedgov.stats import with_reference

        spec = with_reference(spec, fold_file(reference, spec, progress=progress))
    window: dict[str, Any] = {"engine": args.engine}
    if source is None:
        stats = fold_file(args.file, spec, progress=progress)
        name = args.file
    else:
        stats, window, name = _fold_on_spark(source, spec)
    metrics = compute_metrics(spec, stats)
    against = f"reference {reference}" if reference else "the spec's reference profile"
    if args.json:
        print_json(
            {
                "stats": stats.to_dict(),
                "metrics": metrics,
                "drift_against": reference or "spec",
                "window": window,
            }
        )
        return 0
    print(
        f"{name}: {stats.rows} rows, model {spec.model_id} version {spec.model_version}; "
        f"drift against {against}"
    )
    if source is not None:
        print(f"window {window['id']} ({window['files']} files, folded by Spark)")
    feats = (metrics.get("drift") or {}).get("features") or {}
    table(
        ["feature", "psi", "p-value", "JS distance", "missing rate"],
        [
            [n, m.get("psi"), m.get("psi_pvalue"), m.get("jensen_shannon"), m.get("missing_rate")]
            for n, m in feats.items()
        ],
    )
    print()
    print_fairness(
        {
            "model": spec.model_id,
            "version": spec.model_version,
            "rows": stats.rows,
            "reports": 1,
            "silos": ["local"],
            "jurisdictions": ["-"],
            "metrics": metrics,
        }
    )
    return 0


def _source(args: argparse.Namespace) -> Any:
    """The Spark input the flags name (None for the local engine); a flag that does not
    fit the engine is a ConfigError (exit code 2)."""
    from fedgov.data import SparkInput
    from fedgov.errors import ConfigError

    table, master = getattr(args, "table", None), getattr(args, "master", None)
    if args.engine == "local":
        if table or master:
            raise ConfigError("--table and --master need --engine spark")
        if not args.file:
            raise ConfigError("FILE is required: the CSV or Parquet file to look at")
        return None
    if bool(table) == bool(args.file):
        raise ConfigError("--engine spark reads either FILE (Parquet) or --table NAME: give one")
    return SparkInput(table=table, path=args.file, master=master or "local[*]")


def _fold_on_spark(source: Any, spec: Any) -> tuple[Any, dict[str, Any], str]:
    """Fold on Spark; the window's identity is what a report id would derive from."""
    from fedgov.data import fold_spark, open_spark_window

    found = open_spark_window(source)
    stats = fold_spark(found, spec)
    return stats, {"engine": "spark", "id": found.identity, "files": len(found.files)}, found.name
