"""(e) Spec extremes: what the spec stored at the aggregator says about the reference.

An outer numeric edge equal to an extreme reference value gives that value exactly (one
person holds the maximum income): flagged when no reference row lies outside the edges
(the edge then bounds the data) and the edge is not on a coarse grid of two significant
digits (a rounded edge reveals only a bracket). A reference fine or coarse cell of
``1 .. k-1`` rows in the clear is a small cell."""

from __future__ import annotations

import math
from collections.abc import Mapping

from fedgov.privacy.audit._finding import Finding
from fedgov.spec import MonitoringSpec, NumericFeature

__all__ = ["attack"]


def _rounded(x: float) -> bool:
    if x == 0 or not math.isfinite(x):
        return True
    step = 10.0 ** (math.floor(math.log10(abs(x))) - 1)
    return math.isclose(x / step, round(x / step), abs_tol=1e-9)


def attack(
    spec: MonitoringSpec, k: int = 10, extremes: Mapping[str, tuple[float, float]] | None = None
) -> list[Finding]:
    out: list[Finding] = []
    for f in spec.features:
        ref = spec.reference.get(f.name)
        if isinstance(f, NumericFeature) and ref:
            for side, edge, outside in (("min", f.edges[0], ref[0]), ("max", f.edges[-1], ref[-2])):
                if outside == 0 and not _rounded(edge):
                    truth = extremes[f.name][side == "max"] if extremes and f.name in extremes else None
                    out.append(Finding("spec-extreme", "spec", f"{f.name} {side} edge", edge, 0.0,
                                       "exact", float(k), True, edge, edge, truth))
        for table, counts in (("reference", ref or ()), ("reference_fine", spec.reference_fine.get(f.name, ()))):
            for i, c in enumerate(counts):
                if 0 < c < k:
                    out.append(Finding("spec-small-cell", "spec", f"{table} {f.name} cell={i}",
                                       float(c), 0.0, "exact", float(k), True, c, c, float(c)))
    return out
