"""`fedgov stats`: a local look at one data file's statistics and metrics."""

from __future__ import annotations

import argparse

from fedgov.cli import Verbs
from fedgov.cli import arguments as t
from fedgov.cli.output import print_fairness, print_json, table

__all__ = ["register", "run"]


def register(verbs: Verbs) -> None:
    p = t.add_verb(verbs, "stats", run)
    p.add_argument("file", metavar="FILE", help="the window to look at (CSV or Parquet)")
    p.add_argument("--spec", required=True, metavar="SPEC", help="monitoring spec (JSON)")
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
    """A local look at a data file's statistics and metrics.

    Fold FILE (CSV or Parquet) under the monitoring spec and print drift and
    fairness metrics. Drift is measured against the spec's reference profile,
    or against --reference FILE.
    """
    from fedgov.data import fold_file
    from fedgov.metrics import compute_metrics
    from fedgov.spec import load_spec

    spec = load_spec(args.spec)
    # The bar goes to stderr, and only when it is a terminal: pipes stay clean.
    progress = not getattr(args, "no_progress", False)
    reference = getattr(args, "reference", None)
    if reference:
        from fedgov.stats import with_reference

        spec = with_reference(spec, fold_file(reference, spec, progress=progress))
    stats = fold_file(args.file, spec, progress=progress)
    metrics = compute_metrics(spec, stats)
    against = f"reference {reference}" if reference else "the spec's reference profile"
    if args.json:
        print_json(
            {"stats": stats.to_dict(), "metrics": metrics, "drift_against": reference or "spec"}
        )
        return 0
    print(
        f"{args.file}: {stats.rows} rows, model {spec.model_id} version {spec.model_version}; "
        f"drift against {against}"
    )
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
