"""Count arrays for one feature and for one sensitive attribute.

Per attribute (or intersection) there are two tables over the same groups:
confusion counts (:class:`OutcomeCounts`) and, when the spec has a score
column, score histograms per group and label (:class:`ScoreCounts`).

These are the cells that leave a silo. They are plain ``int64`` arrays over
the layouts fixed by the monitoring spec (see :mod:`fedgov.spec`), so two
silos that share a spec can add theirs cell by cell: ``zero()`` is the
identity and ``merge()`` is element-wise addition, hence associative and
commutative. Nothing here knows a row value.

Each count object also carries ``suppressed``: how many rows small-cell
suppression (:func:`fedgov.privacy.suppress_small_cells`) took out of its
cells. It adds up under merge too, so ``sum(cells) + suppressed`` stays the
number of rows counted, which the aggregator checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any, TypeVar

import numpy as np

from fedgov.spec import Feature, MonitoringSpec, NumericFeature

__all__ = [
    "GROUP_SEPARATOR",
    "INTERSECTION_SEPARATOR",
    "MISSING_GROUP",
    "OTHER_GROUP",
    "FeatureCounts",
    "OutcomeCounts",
    "ScoreCounts",
    "numeric_cells",
    "outcome_layouts",
]

OTHER_GROUP = "__other__"
"""Slot for a sensitive value the spec does not declare."""
MISSING_GROUP = "__missing__"
"""Slot for a missing sensitive value."""
GROUP_SEPARATOR = "|"
"""Joins the groups of an intersection: ``"F|white"``."""
INTERSECTION_SEPARATOR = "*"
"""Joins the attribute names of an intersection: ``"sex*race"``."""
_RESERVED = frozenset((OTHER_GROUP, MISSING_GROUP))


def _frozen_counts(counts: Any) -> np.ndarray:
    if isinstance(counts, np.ndarray) and counts.dtype == np.int64 and _read_only(counts):
        return counts  # nothing can change it: no copy needed (the wire decoder's arrays)
    # Copy so that freezing never reaches into the caller's array.
    arr = np.array(counts, dtype=np.int64, copy=True)
    arr.flags.writeable = False
    return arr


def _read_only(arr: np.ndarray) -> bool:
    """True if neither ``arr`` nor any array it views can be written through."""
    base: Any = arr
    while isinstance(base, np.ndarray):
        if base.flags.writeable:
            return False
        base = base.base
    return base is None or isinstance(base, bytes)


def numeric_cells(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Cell index of each value in the numeric layout, vectorised.

    ``searchsorted(side="right")`` puts ``x < e0`` (and ``-inf``) in 0,
    ``e_{i} <= x < e_{i+1}`` in ``i + 1`` and ``x >= ek`` in ``k + 1``;
    the last bin is closed, so ``x == ek`` is moved back to ``k``, and NaN
    (which ``searchsorted`` sorts last) goes to the missing cell ``k + 2``.
    """
    e = np.asarray(edges, dtype=np.float64)
    x = np.asarray(values, dtype=np.float64)
    k = len(e) - 1
    idx = np.searchsorted(e, x, side="right")
    idx[x == e[-1]] = k
    idx[np.isnan(x)] = k + 2
    return idx


_NO_CELLS = np.zeros(0, dtype=np.int64)
_NO_CELLS.flags.writeable = False


@dataclass(frozen=True, eq=False)
class FeatureCounts:
    """Counts of one feature over its spec cell layout.

    numeric: ``[underflow, bin_0 .. bin_{k-1}, overflow, missing]``;
    categorical: ``[cat_0 .. cat_{m-1}, unseen, missing]``.
    ``fine`` holds the same numeric layout over the spec's ``fine_edges``
    (empty when the feature has none); ``suppressed`` and
    ``fine_suppressed`` count the rows suppression removed from each.
    """

    name: str
    kind: str
    counts: np.ndarray
    fine: np.ndarray = field(default_factory=lambda: _NO_CELLS)
    suppressed: int = 0
    fine_suppressed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("numeric", "categorical"):
            raise ValueError(f"{self.name}: kind must be 'numeric' or 'categorical'")
        arr = _frozen_counts(self.counts)
        if arr.ndim != 1 or arr.size < 3:
            raise ValueError(f"{self.name}: counts must be 1-d with >= 3 cells, got {arr.shape}")
        fine = _frozen_counts(self.fine)
        if fine.ndim != 1 or (fine.size and (fine.size < 3 or self.kind != "numeric")):
            raise ValueError(
                f"{self.name}: fine counts must be empty, or 1-d with >= 3 cells for a "
                f"numeric feature; got {fine.shape} for a {self.kind} one"
            )
        object.__setattr__(self, "counts", arr)
        object.__setattr__(self, "fine", fine)
        object.__setattr__(self, "suppressed", int(self.suppressed))
        object.__setattr__(self, "fine_suppressed", int(self.fine_suppressed))

    @classmethod
    def _decoded(
        cls,
        name: str,
        kind: str,
        counts: np.ndarray,
        fine: np.ndarray,
        suppressed: int,
        fine_suppressed: int,
    ) -> FeatureCounts:
        """For :mod:`fedgov.wire`, which has checked what ``__post_init__`` checks.

        The decoder passes read-only int64 views of an array it owns, a known
        kind, >= 3 cells (fine: none, or >= 3 of a numeric feature) and ints, so
        nothing is checked or copied again: a report holds a few dozen of these.
        """
        self = object.__new__(cls)
        self.__dict__.update(  # what the frozen dataclass's __init__ sets
            name=name,
            kind=kind,
            counts=counts,
            fine=fine,
            suppressed=suppressed,
            fine_suppressed=fine_suppressed,
        )
        return self

    @classmethod
    def zero(cls, feature: Feature) -> FeatureCounts:
        n_fine = feature.n_fine_cells if isinstance(feature, NumericFeature) else 0
        return cls(
            feature.name,
            feature.kind,
            np.zeros(feature.n_cells, dtype=np.int64),
            np.zeros(n_fine, dtype=np.int64),
        )

    def merge(self, other: FeatureCounts) -> FeatureCounts:
        if (self.name, self.kind, self.counts.shape, self.fine.shape) != (
            other.name,
            other.kind,
            other.counts.shape,
            other.fine.shape,
        ):
            raise ValueError(
                f"cannot merge counts of {self.name} ({self.kind}, {self.counts.size} cells, "
                f"{self.fine.size} fine) with {other.name} ({other.kind}, {other.counts.size} "
                f"cells, {other.fine.size} fine): layouts differ"
            )
        return FeatureCounts(
            self.name,
            self.kind,
            self.counts + other.counts,
            self.fine + other.fine,
            self.suppressed + other.suppressed,
            self.fine_suppressed + other.fine_suppressed,
        )

    @property
    def total(self) -> int:
        """Rows counted: the cells plus the rows suppression took out of them."""
        return int(self.counts.sum()) + self.suppressed

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FeatureCounts):
            return NotImplemented
        return (
            (self.name, self.kind, self.suppressed, self.fine_suppressed)
            == (other.name, other.kind, other.suppressed, other.fine_suppressed)
            and np.array_equal(self.counts, other.counts)
            and np.array_equal(self.fine, other.fine)
        )

    def __repr__(self) -> str:
        extra = f", fine=<{self.fine.size} cells>" if self.fine.size else ""
        if self.suppressed or self.fine_suppressed:
            extra += f", suppressed={self.suppressed}, fine_suppressed={self.fine_suppressed}"
        return f"FeatureCounts({self.name!r}, {self.kind!r}, {self.counts.tolist()}{extra})"


_T = TypeVar("_T", bound="_GroupTable")


@dataclass(frozen=True, eq=False)
class _GroupTable:
    """Counts per group of one attribute (or intersection), ``counts[group, ...]``.

    What :class:`OutcomeCounts` and :class:`ScoreCounts` share: group names,
    frozen counts with a tally of suppressed rows, cell-wise merge, equality.
    Subclasses say which shape their counts have.
    """

    attribute: str
    groups: tuple[str, ...]
    counts: np.ndarray
    suppressed: int = 0

    def __post_init__(self) -> None:
        groups = tuple(self.groups)
        arr = _frozen_counts(self.counts)
        self._check_shape(arr, len(groups))
        if len(set(groups)) != len(groups):
            raise ValueError(f"{self.attribute}: group names must be unique")
        object.__setattr__(self, "groups", groups)
        object.__setattr__(self, "counts", arr)
        object.__setattr__(self, "suppressed", int(self.suppressed))

    def _check_shape(self, arr: np.ndarray, n_groups: int) -> None:
        raise NotImplementedError

    def merge(self: _T, other: _T) -> _T:
        if type(other) is not type(self) or (self.attribute, self.groups, self.counts.shape) != (
            other.attribute,
            other.groups,
            other.counts.shape,
        ):
            raise ValueError(
                f"cannot merge {type(self).__name__} of {self.attribute} {self.counts.shape} with "
                f"{type(other).__name__} of {other.attribute} {other.counts.shape}: "
                "attributes, groups or cells differ"
            )
        return type(self)(
            self.attribute,
            self.groups,
            self.counts + other.counts,
            self.suppressed + other.suppressed,
        )

    def declared_mask(self) -> np.ndarray:
        """True for groups made only of declared groups (no other/missing slot)."""
        return np.array(
            [not (_RESERVED & set(g.split(GROUP_SEPARATOR))) for g in self.groups], dtype=bool
        )

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _GroupTable)
        return (self.attribute, self.groups, self.suppressed) == (
            other.attribute,
            other.groups,
            other.suppressed,
        ) and np.array_equal(self.counts, other.counts)


@dataclass(frozen=True, eq=False)
class OutcomeCounts(_GroupTable):
    """Confusion counts per group: ``counts[group, y_true, y_pred]``.

    For one attribute the groups are its declared groups then ``__other__``
    and ``__missing__``; for an intersection, the cartesian product of each
    attribute's slots, joined by ``|`` (first attribute varies slowest).
    Rows with a missing label or prediction are not counted here;
    ``suppressed`` counts the rows suppression removed from the cells.
    """

    def _check_shape(self, arr: np.ndarray, n_groups: int) -> None:
        if arr.shape != (n_groups, 2, 2):
            raise ValueError(
                f"{self.attribute}: counts must have shape ({n_groups}, 2, 2), got {arr.shape}"
            )

    @classmethod
    def zero(cls, attribute: str, groups: Sequence[str]) -> OutcomeCounts:
        return cls(attribute, tuple(groups), np.zeros((len(groups), 2, 2), dtype=np.int64))

    def __repr__(self) -> str:
        extra = f", suppressed={self.suppressed}" if self.suppressed else ""
        return f"OutcomeCounts({self.attribute!r}, {self.groups!r}, {self.counts.tolist()}{extra})"


@dataclass(frozen=True, eq=False)
class ScoreCounts(_GroupTable):
    """Score histograms per group and label: ``counts[group, y_true, cell]``.

    The groups are those of the :class:`OutcomeCounts` of the same attribute
    (see :func:`outcome_layouts`); the cells are the numeric layout over the
    spec's ``score_edges``: ``[underflow, bin_0 .. bin_{k-1}, overflow,
    missing]``, a missing (NaN) score in the last cell. The rows are exactly
    those of the confusion counts (label and prediction known), so without
    privacy guards ``counts.sum(axis=2) == outcomes.counts.sum(axis=2)``.
    From these counts come per-group AUC and calibration error
    (:mod:`fedgov.metrics.scores`); no score value is kept.
    """

    def _check_shape(self, arr: np.ndarray, n_groups: int) -> None:
        if arr.ndim != 3 or arr.shape[:2] != (n_groups, 2) or arr.shape[2] < 4:
            raise ValueError(
                f"{self.attribute}: score counts must have shape ({n_groups}, 2, k + 3) "
                f"with k >= 1 bins, got {arr.shape}"
            )

    @classmethod
    def zero(cls, attribute: str, groups: Sequence[str], n_cells: int) -> ScoreCounts:
        return cls(attribute, tuple(groups), np.zeros((len(groups), 2, n_cells), dtype=np.int64))

    @property
    def n_cells(self) -> int:
        return int(self.counts.shape[2])

    def __repr__(self) -> str:
        extra = f", suppressed={self.suppressed}" if self.suppressed else ""
        shape = f"{self.counts.shape[0]}x2x{self.n_cells} cells"
        rows = int(self.counts.sum())
        return f"ScoreCounts({self.attribute!r}, {self.groups!r}, <{shape}, {rows} rows>{extra})"


def outcome_layouts(spec: MonitoringSpec) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Outcome name -> (attributes it is made of, its groups), in spec order.

    One entry per sensitive attribute, then one per declared intersection
    named by joining its attributes with ``*``.
    """
    slots = {a.name: (*a.groups, OTHER_GROUP, MISSING_GROUP) for a in spec.sensitive}
    out: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
        name: ((name,), groups) for name, groups in slots.items()
    }
    for inter in spec.intersections:
        groups = tuple(GROUP_SEPARATOR.join(p) for p in product(*(slots[a] for a in inter)))
        out[INTERSECTION_SEPARATOR.join(inter)] = (tuple(inter), groups)
    return out
