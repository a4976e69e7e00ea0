"""The cells of a :class:`~fedgov.stats.WindowStats` as one flat vector, and the
equalities every true window satisfies (whatever was released about it).

A cell key names one count: ``("rows",)``, ``("outcome_missing",)``, ``("feature",
name, i)``, ``("fine", name, i)``, ``("outcome", attribute, group, y_true, y_pred)``,
``("score", attribute, group, y_true, cell)``. Keys depend only on the layout (the
spec), so the same key names the same count in every silo and window of a spec.

Structural equalities (true of any window's unguarded counts): every histogram adds up
to ``rows``; each outcome table adds up to ``rows - outcome_missing``; a table over a
subset of an intersection's attributes is the sum of the intersection's cells (its
margin), for confusion and score tables alike; the score cells of a (group, y_true) add
up to that group's two confusion cells; and, with the spec, each coarse numeric cell is
the sum of the fine cells inside it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from fedgov.privacy._margins import margin_group, margin_members
from fedgov.spec import MonitoringSpec, NumericFeature
from fedgov.stats import WindowStats

__all__ = ["Equation", "Key", "cell_items", "coarse_runs", "structure", "tallies"]

Key = tuple[object, ...]
Equation = tuple[dict[Key, float], float]
"""Coefficients per cell key and the right-hand side: ``sum(c * x[key]) == rhs``."""


def cell_items(stats: WindowStats) -> Iterator[tuple[Key, int]]:
    """Every count of ``stats`` with its key, in a fixed order."""
    yield ("rows",), stats.rows
    yield ("outcome_missing",), stats.outcome_missing
    for name, fc in stats.features.items():
        for i, v in enumerate(fc.counts.tolist()):
            yield ("feature", name, i), v
        for i, v in enumerate(fc.fine.tolist()):
            yield ("fine", name, i), v
    for table, tables in (("outcome", stats.outcomes), ("score", stats.scores)):
        for name, t in tables.items():
            for g, group in enumerate(t.groups):
                for y, row in enumerate(t.counts[g].tolist()):
                    for c, v in enumerate(row):
                        yield (table, name, group, y, c), v


def tallies(stats: WindowStats) -> Iterator[Equation]:
    """Suppression keeps ``sum(cells) + suppressed`` per count vector: one equation
    per vector, over the shown cells' total plus the tally."""
    for name, fc in stats.features.items():
        yield _sum(("feature", name, i) for i in range(fc.counts.size)), fc.total
        if fc.fine.size:
            keys = (("fine", name, i) for i in range(fc.fine.size))
            yield _sum(keys), int(fc.fine.sum()) + fc.fine_suppressed
    for table, tables in (("outcome", stats.outcomes), ("score", stats.scores)):
        for name, t in tables.items():
            keys = (
                (table, name, group, y, c)
                for g, group in enumerate(t.groups)
                for y in range(2)
                for c in range(t.counts.shape[2])
            )
            yield _sum(keys), int(t.counts.sum()) + t.suppressed


def _sum(keys: Iterator[Key] | Sequence[Key], sign: float = 1.0) -> dict[Key, float]:
    return {k: sign for k in keys}


def structure(stats: WindowStats, spec: MonitoringSpec | None) -> Iterator[tuple[str, Equation]]:
    """The structural equalities of one window's layout, each tagged with its kind:
    ``total``, ``margin``, ``score`` (score cells vs confusion cells) or ``fine``."""
    rows: Key = ("rows",)
    for name, fc in stats.features.items():
        yield (
            "total",
            ({("feature", name, i): 1.0 for i in range(fc.counts.size)} | {rows: -1.0}, 0),
        )
        if fc.fine.size:
            yield "total", ({("fine", name, i): 1.0 for i in range(fc.fine.size)} | {rows: -1.0}, 0)
            for coarse, run in enumerate(coarse_runs(spec, name, fc.counts.size, fc.fine.size)):
                eq = {("fine", name, i): 1.0 for i in run} | {("feature", name, coarse): -1.0}
                yield "fine", (eq, 0)
    for name, oc in stats.outcomes.items():
        eq = {
            ("outcome", name, g, y, p): 1.0 for g in oc.groups for y in range(2) for p in range(2)
        }
        yield "total", (eq | {rows: -1.0, ("outcome_missing",): 1.0}, 0)
    for table, tables in (("outcome", stats.outcomes), ("score", stats.scores)):
        for name, t in tables.items():
            n_cells = t.counts.shape[2]
            for sub in tables.values():
                sub_attrs = set(sub.attribute.split("*"))
                if not sub_attrs < set(name.split("*")):
                    continue
                for members in margin_members(name, t.groups, {sub.attribute: sub}):
                    mine = [t.groups[i] for i in members]
                    theirs = margin_group(name, sub.attribute, mine[0])
                    for y in range(2):
                        for c in range(n_cells):
                            eq = {(table, name, g, y, c): 1.0 for g in mine}
                            eq[(table, sub.attribute, theirs, y, c)] = -1.0
                            yield "margin", (eq, 0)
    for name, sc in stats.scores.items():
        for group in sc.groups:
            for y in range(2):
                eq = {("score", name, group, y, c): 1.0 for c in range(sc.counts.shape[2])}
                eq |= {("outcome", name, group, y, p): -1.0 for p in range(2)}
                yield "score", (eq, 0)


def coarse_runs(
    spec: MonitoringSpec | None, name: str, n_coarse: int, n_fine: int
) -> list[np.ndarray]:
    """For each coarse cell of numeric feature ``name``, the fine cells inside it (the
    fine edges contain the coarse ones). Empty without a spec that has the feature."""
    if spec is None:
        return []
    f = next((f for f in spec.features if f.name == name), None)
    if not isinstance(f, NumericFeature) or f.n_fine_cells != n_fine or f.n_cells != n_coarse:
        return []
    # fine cell j + 1 is [fine_edges[j], fine_edges[j+1]); coarse cell i + 1 likewise
    at = np.searchsorted(np.asarray(f.fine_edges), np.asarray(f.edges))
    runs = [np.array([0])]
    runs += [np.arange(a + 1, b + 1) for a, b in zip(at[:-1], at[1:], strict=True)]
    runs += [np.array([n_fine - 2]), np.array([n_fine - 1])]
    return runs
