"""Monitored features and sensitive attributes, and their cell layouts.

A numeric feature is counted over sorted bin edges (and optionally over fine
edges that contain every coarse edge), a categorical one over its known
categories; the layouts are described in :mod:`fedgov.spec`. This module holds
the feature types, the checks of their edges, and the map from fine counts to
coarse ones (:func:`coarse_groups`, :func:`coarse_from_fine`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from fedgov.errors import SpecError

__all__ = [
    "CategoricalFeature",
    "Feature",
    "NumericFeature",
    "SensitiveAttribute",
    "check_edges",
    "check_fine_edges",
    "coarse_from_fine",
    "coarse_groups",
]


@dataclass(frozen=True)
class NumericFeature:
    name: str
    edges: tuple[float, ...]
    fine_edges: tuple[float, ...] = ()

    kind = "numeric"

    @property
    def n_cells(self) -> int:
        return len(self.edges) + 2  # k bins + underflow + overflow + missing

    @property
    def n_fine_cells(self) -> int:
        """Cells of the fine layout; 0 when the feature has no fine edges."""
        return len(self.fine_edges) + 2 if self.fine_edges else 0


@dataclass(frozen=True)
class CategoricalFeature:
    name: str
    categories: tuple[str, ...]

    kind = "categorical"

    @property
    def n_cells(self) -> int:
        return len(self.categories) + 2  # + unseen + missing


Feature = NumericFeature | CategoricalFeature


@dataclass(frozen=True)
class SensitiveAttribute:
    name: str
    groups: tuple[str, ...]


def check_edges(edges: Sequence[float], where: str, name: str = "edges") -> None:
    if len(edges) < 2:
        raise SpecError(f"{where}: {name}: need at least two edges (one bin), got {len(edges)}")
    for j, e in enumerate(edges):
        if not math.isfinite(e):
            raise SpecError(f"{where}: {name}[{j}] = {e} is not a finite number")
        if j and e <= edges[j - 1]:
            what = "duplicate" if e == edges[j - 1] else "unsorted"
            raise SpecError(
                f"{where}: {name} must be strictly increasing, but {name}[{j}] = {e} "
                f"<= {name}[{j - 1}] = {edges[j - 1]} ({what}); fix the list or re-derive "
                "the spec with `fedgov spec --reference FILE`"
            )


def check_fine_edges(f: NumericFeature, where: str) -> None:
    check_edges(f.fine_edges, where, "fine_edges")
    fine = set(f.fine_edges)
    absent = [e for e in f.edges if e not in fine]
    if absent or f.fine_edges[0] != f.edges[0] or f.fine_edges[-1] != f.edges[-1]:
        raise SpecError(
            f"{where}: fine_edges must contain every coarse edge and start and end with "
            f"the same edges (so coarse counts are sums of fine ones); missing {absent[:5]}, "
            f"first/last {f.fine_edges[0]}/{f.fine_edges[-1]} vs {f.edges[0]}/{f.edges[-1]}"
        )


def coarse_groups(feature: NumericFeature) -> tuple[int, ...]:
    """Start of each coarse cell in the fine layout, for ``numpy.add.reduceat``.

    Fine cell ``j + 1`` is fine bin ``j``; coarse bin ``i`` spans the fine
    bins from ``edges[i]`` up to ``edges[i + 1]``. Underflow, overflow and
    missing are one cell in both layouts (first and last edges are shared).
    """
    position = {e: j for j, e in enumerate(feature.fine_edges)}
    k_fine = len(feature.fine_edges) - 1
    return (0, *(1 + position[e] for e in feature.edges), k_fine + 2)


def coarse_from_fine(feature: NumericFeature, fine: Sequence[int]) -> list[int]:
    """The coarse counts that fine counts add up to (both layouts include missing)."""
    bounds = (*coarse_groups(feature), len(fine))
    return [int(sum(fine[a:b])) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
