"""`fedgov spec`: derive a monitoring spec from reference data."""

from __future__ import annotations

import argparse

from fedgov.cli import Verbs
from fedgov.cli import arguments as t
from fedgov.errors import ConfigError, DataError

__all__ = ["register", "run"]

#: fedgov.stats.DEFAULT_REFERENCE_RHO, written out: the parser must not import numpy
#: (a test pins the two equal).
DEFAULT_REFERENCE_RHO = 0.5


def register(verbs: Verbs) -> None:
    p = t.add_verb(verbs, "spec", run)
    p.add_argument("--reference", required=True, metavar="FILE", help="reference data file")
    p.add_argument("--model", required=True, type=t.identifier, help="model id")
    p.add_argument(
        "--model-version",
        required=True,
        dest="model_version",
        type=t.identifier,
        help="model version",
    )
    p.add_argument("--label", required=True, type=t.name, help="ground-truth column")
    p.add_argument("--prediction", required=True, type=t.name, help="predicted-label column")
    p.add_argument(
        "--score",
        type=t.name,
        help="optional score column (a probability of the positive label)",
    )
    p.add_argument(
        "--score-bins",
        type=t.count(1, 10_000),
        default=20,
        dest="score_bins",
        help="equal-width bins of the per-group score histograms, over [0, 1] unless the "
        "reference scores leave it (default 20; AUC and calibration error come from them)",
    )
    p.add_argument("--positive-label", default="1", help="value of the positive class (default 1)")
    p.add_argument("--sensitive", default="", help="comma-separated sensitive attribute columns")
    p.add_argument(
        "--intersection",
        action="append",
        default=[],
        metavar="A*B",
        help="declare an intersection of sensitive attributes, e.g. sex*age_band (repeatable)",
    )
    p.add_argument(
        "--categorical", default="", help="comma-separated columns to treat as categorical"
    )
    p.add_argument("--exclude", default="", help="comma-separated columns that are not features")
    p.add_argument(
        "--bins", type=t.count(1, 10_000), default=10, help="quantile bins per numeric feature"
    )
    p.add_argument(
        "--reference-rho",
        type=t.positive_or_none,
        default=DEFAULT_REFERENCE_RHO,
        dest="reference_rho",
        metavar="RHO",
        help="the spec leaves this silo, so its reference counts get discrete Gaussian "
        f"noise for RHO-zCDP (default {DEFAULT_REFERENCE_RHO}; sigma = sqrt(features / "
        "(2 RHO)) rows per count, stated in the spec's reference_privacy); numeric outer "
        "edges are always rounded outward, never a reference minimum or maximum. "
        "'none' keeps the exact counts: only for a reference that is public anyway",
    )
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="where to write the spec")
    t.add_common(p)


def _split(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def run(args: argparse.Namespace) -> int:
    """Derive a monitoring spec from reference data.

    Derive a monitoring spec (bin edges, categories, groups, reference counts)
    from a reference CSV or Parquet file.
    """
    from fedgov.data import read_columns
    from fedgov.spec import save_spec
    from fedgov.stats import derive_spec

    sensitive = _split(args.sensitive)
    categorical = _split(args.categorical)
    exclude = set(_split(args.exclude))
    intersections = [tuple(_split(i.replace("*", ","))) for i in args.intersection]
    for inter in intersections:
        unknown = [a for a in inter if a not in sensitive]
        if len(inter) < 2 or unknown:
            raise ConfigError(
                f"--intersection {'*'.join(inter)}: name two or more --sensitive columns "
                f"(unknown: {unknown})"
            )
    columns = read_columns(args.reference, string_columns=sensitive + categorical)
    for name in [args.label, args.prediction, *sensitive, *categorical] + (
        [args.score] if args.score else []
    ):
        if name not in columns:
            raise DataError(
                f"{args.reference}: no column '{name}'; the file has {sorted(columns)[:20]}"
            )
    for name in exclude:
        columns.pop(name, None)
    spec = derive_spec(
        columns,
        model_id=args.model,
        model_version=args.model_version,
        label=args.label,
        prediction=args.prediction,
        sensitive=sensitive,
        intersections=intersections,
        score=args.score,
        positive_label=args.positive_label,
        categorical=categorical,
        bins=args.bins,
        score_bins=args.score_bins,
        reference_rho=args.reference_rho,
    )
    save_spec(spec, args.output)
    n_num = sum(1 for f in spec.features if f.kind == "numeric")
    noise = spec.reference_privacy
    protection = (
        f"reference counts noised (rho {noise['rho']:g}, sigma {noise['sigma']:.2f})"
        if noise
        else "exact reference counts (--reference-rho none)"
    )
    print(
        f"wrote {args.output}: {len(spec.features)} features ({n_num} numeric), "
        f"{len(spec.sensitive)} sensitive attribute(s), {protection}, "
        f"digest {spec.digest[:12]}"
    )
    return 0
