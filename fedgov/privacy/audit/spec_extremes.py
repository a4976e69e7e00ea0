"""(e) Spec extremes: what the spec stored at the aggregator says about the reference.

An outer numeric edge equal to an extreme reference value gives that value exactly (one
person holds the maximum income). With the reference extremes given (test mode) an
edge is flagged exactly when it equals one. Without them, an edge is flagged when it
bounds the data (no reference row outside it, or counts too noised to tell) and is off
the grid ``derive_spec`` rounds outer edges to: two significant digits of the *range*
(``10^(floor(log10(max - min)) - 1)``), not of the edge. The audit sees the edges'
range, which the rounding widens by up to two steps and may carry past a power of
ten, so a grid one digit finer is accepted too.

A reference fine or coarse cell of ``1 .. k-1`` rows is a small cell: exact, and so
recovered, when the counts are exact (``reference_privacy`` empty: derived with
``reference_rho=None``); under the spec's stated noise (``reference_privacy["sigma"]``)
its error is that sigma, which is also its protection: not recovered."""

from __future__ import annotations

import math
from collections.abc import Mapping

from fedgov.privacy.audit._finding import Finding
from fedgov.spec import MonitoringSpec, NumericFeature

__all__ = ["attack"]


def _on_grid(x: float, step: float) -> bool:
    return math.isclose(x / step, round(x / step), abs_tol=1e-6)


def _rounded(edge: float, low: float, high: float) -> bool:
    """Whether ``edge`` lies on the grid of the range ``[low, high]`` (or one finer)."""
    if not (math.isfinite(edge) and high > low):
        return True
    step = 10.0 ** (math.floor(math.log10(high - low)) - 1)
    return _on_grid(edge, step) or _on_grid(edge, step / 10.0)


def attack(
    spec: MonitoringSpec, k: int = 10, extremes: Mapping[str, tuple[float, float]] | None = None
) -> list[Finding]:
    sigma = spec.reference_privacy.get("sigma")
    out: list[Finding] = []
    for f in spec.features:
        ref = spec.reference.get(f.name)
        if isinstance(f, NumericFeature) and ref:
            known = extremes.get(f.name) if extremes else None
            sides = (("min", f.edges[0], ref[0], 0), ("max", f.edges[-1], ref[-2], 1))
            for side, edge, outside, i in sides:
                if known is not None:
                    hit = math.isclose(edge, known[i], rel_tol=1e-12, abs_tol=1e-12)
                else:
                    bounds = outside == 0 or sigma is not None
                    hit = bounds and not _rounded(edge, f.edges[0], f.edges[-1])
                if hit:
                    truth = known[i] if known is not None else None
                    out.append(
                        Finding(
                            "spec-extreme",
                            "spec",
                            f"{f.name} {side} edge",
                            edge,
                            0.0,
                            "exact",
                            float(k),
                            True,
                            edge,
                            edge,
                            truth,
                        )
                    )
        for table, counts in (
            ("reference", ref or ()),
            ("reference_fine", spec.reference_fine.get(f.name, ())),
        ):
            for i, c in enumerate(counts):
                if 0 < c < k:
                    out.append(_small_cell(f"{table} {f.name} cell={i}", float(c), k, sigma))
    return out


def _small_cell(cell: str, count: float, k: int, sigma: float | None) -> Finding:
    if sigma is None:  # exact counts: the cell is what it says
        return Finding(
            "spec-small-cell",
            "spec",
            cell,
            count,
            0.0,
            "exact",
            float(k),
            True,
            count,
            count,
            count,
        )
    return Finding("spec-small-cell", "spec", cell, count, sigma, "sd", sigma, False)
