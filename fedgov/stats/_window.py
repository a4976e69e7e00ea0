"""Sufficient statistics of a window of rows, and how batches fold into them.

A :class:`WindowStats` is everything the metrics need and nothing more:
per-feature cell counts and per-group confusion counts. Because every part
is a sum of counts over cells fixed by the spec, statistics of disjoint row
sets merge by addition; that is what makes "federated equals pooled" true
by construction rather than by approximation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedgov.spec import MonitoringSpec, NumericFeature
from fedgov.stats._batch import Batch
from fedgov.stats._counts import FeatureCounts, OutcomeCounts, numeric_cells, outcome_layouts

__all__ = ["WindowStats"]


@dataclass(frozen=True, eq=False)
class WindowStats:
    """Counts of one window of rows under one spec (identified by its digest)."""

    spec_digest: str
    rows: int
    features: Mapping[str, FeatureCounts] = field(default_factory=dict)
    outcomes: Mapping[str, OutcomeCounts] = field(default_factory=dict)
    outcome_missing: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "rows", int(self.rows))
        object.__setattr__(self, "outcome_missing", int(self.outcome_missing))
        object.__setattr__(self, "features", dict(self.features))
        object.__setattr__(self, "outcomes", dict(self.outcomes))

    @classmethod
    def zero(cls, spec: MonitoringSpec) -> WindowStats:
        return cls(
            spec_digest=spec.digest,
            rows=0,
            features={f.name: FeatureCounts.zero(f) for f in spec.features},
            outcomes={
                name: OutcomeCounts.zero(name, groups)
                for name, (_, groups) in outcome_layouts(spec).items()
            },
            outcome_missing=0,
        )

    def merge(self, other: WindowStats) -> WindowStats:
        """Cell-wise sum; associative and commutative, ``zero()`` is the identity."""
        if self.spec_digest != other.spec_digest:
            raise ValueError(
                f"cannot merge statistics of different specs "
                f"({self.spec_digest[:12]} vs {other.spec_digest[:12]})"
            )
        if self.features.keys() != other.features.keys() or (
            self.outcomes.keys() != other.outcomes.keys()
        ):
            raise ValueError("cannot merge statistics with different features or attributes")
        return WindowStats(
            spec_digest=self.spec_digest,
            rows=self.rows + other.rows,
            features={k: v.merge(other.features[k]) for k, v in self.features.items()},
            outcomes={k: v.merge(other.outcomes[k]) for k, v in self.outcomes.items()},
            outcome_missing=self.outcome_missing + other.outcome_missing,
        )

    def fold(self, spec: MonitoringSpec, batch: Batch) -> WindowStats:
        """``self`` merged with the counts of ``batch`` (vectorised, no loop over rows)."""
        if spec.digest != self.spec_digest:
            raise ValueError("fold: the spec is not the one these statistics were made with")
        return self.merge(_count_batch(spec, self.spec_digest, batch))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: counts as nested lists of Python ints."""
        return {
            "spec_digest": self.spec_digest,
            "rows": self.rows,
            "outcome_missing": self.outcome_missing,
            "features": {
                k: {"kind": v.kind, "counts": v.counts.tolist()} for k, v in self.features.items()
            },
            "outcomes": {
                k: {"groups": list(v.groups), "counts": v.counts.tolist()}
                for k, v in self.outcomes.items()
            },
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> WindowStats:
        """Inverse of :meth:`to_dict`; ValueError on a malformed document."""
        try:
            return cls(
                spec_digest=str(d["spec_digest"]),
                rows=_int(d["rows"], "rows"),
                outcome_missing=_int(d["outcome_missing"], "outcome_missing"),
                features={
                    str(k): FeatureCounts(str(k), str(v["kind"]), _ints(v["counts"], k))
                    for k, v in d["features"].items()
                },
                outcomes={
                    str(k): OutcomeCounts(
                        str(k), tuple(str(g) for g in v["groups"]), _ints(v["counts"], k)
                    )
                    for k, v in d["outcomes"].items()
                },
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed window statistics: {type(exc).__name__}: {exc}") from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WindowStats):
            return NotImplemented
        return (
            self.spec_digest == other.spec_digest
            and self.rows == other.rows
            and self.outcome_missing == other.outcome_missing
            and dict(self.features) == dict(other.features)
            and dict(self.outcomes) == dict(other.outcomes)
        )


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"malformed window statistics: {where} must be an integer")
    return int(value)


def _ints(value: Any, where: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.size and arr.dtype.kind not in "iu":
        raise ValueError(f"malformed window statistics: {where}: counts must be integers")
    return arr.astype(np.int64)


def _count_batch(spec: MonitoringSpec, digest: str, batch: Batch) -> WindowStats:
    features: dict[str, FeatureCounts] = {}
    for f in spec.features:
        if isinstance(f, NumericFeature):
            cells = numeric_cells(batch.numeric[f.name], f.edges)
        else:
            cells = batch.codes[f.name]
        counts = np.bincount(cells, minlength=f.n_cells)
        if counts.size != f.n_cells:
            raise ValueError(f"batch codes of '{f.name}' fall outside its {f.n_cells} cells")
        features[f.name] = FeatureCounts(f.name, f.kind, counts)

    yt = np.asarray(batch.y_true)
    yp = np.asarray(batch.y_pred)
    known = (yt >= 0) & (yp >= 0)
    outcome = (yt[known].astype(np.int64) << 1) | yp[known].astype(np.int64)  # 0..3
    outcomes: dict[str, OutcomeCounts] = {}
    n_slots = {a.name: len(a.groups) + 2 for a in spec.sensitive}
    for name, (attrs, groups) in outcome_layouts(spec).items():
        group = np.zeros(int(known.sum()), dtype=np.int64)
        for a in attrs:  # mixed radix: first attribute varies slowest
            group = group * n_slots[a] + batch.codes[a][known]
        flat = np.bincount(group * 4 + outcome, minlength=len(groups) * 4)
        if flat.size != len(groups) * 4:
            raise ValueError(f"batch codes of '{name}' fall outside its {len(groups)} groups")
        outcomes[name] = OutcomeCounts(name, groups, flat.reshape(len(groups), 2, 2))
    return WindowStats(
        spec_digest=digest,
        rows=batch.n_rows,
        features=features,
        outcomes=outcomes,
        outcome_missing=batch.n_rows - int(known.sum()),
    )
