"""Sufficient statistics of a window of rows, and how batches fold into them.

A :class:`WindowStats` is everything the metrics need and nothing more:
per-feature cell counts, per-group confusion counts and, when the spec has a
score column, per-group score histograms. Because every part
is a sum of counts over cells fixed by the spec, statistics of disjoint row
sets merge by addition; that is what makes "federated equals pooled" true
by construction rather than by approximation.

The privacy guards (:mod:`fedgov.privacy`) change counts after folding;
:class:`Privacy` records which were applied, so a reader knows whether the
counts still add up (suppression keeps a tally, noise does not).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedgov.spec import MonitoringSpec
from fedgov.stats._batch import Batch
from fedgov.stats._counts import (
    FeatureCounts,
    OutcomeCounts,
    ScoreCounts,
    outcome_layouts,
)
from fedgov.stats._fold import count_batch
from fedgov.stats._totals import sums_and_minima

__all__ = ["Privacy", "WindowStats"]


@dataclass(frozen=True)
class Privacy:
    """Which privacy guards were applied to a set of counts.

    ``k``: cells below ``k`` rows were suppressed; ``epsilon``: every count
    got Laplace noise of scale ``1 / epsilon``. ``sigma``: every count got
    discrete Gaussian noise of standard deviation ``sigma``
    (:func:`fedgov.privacy.add_discrete_gaussian`), ``rho`` the zCDP charged
    to the silo for this window, ``rho_total`` the silo's cumulative charge
    including it, ``delta`` the delta of the (epsilon, delta) conversion.
    ``None`` means not applied (or not recorded).

    Merged statistics report the weakest accuracy among their parts: the
    largest ``k`` and ``sigma``, the smallest ``epsilon``. ``rho``,
    ``rho_total`` and ``delta`` describe one silo's release and mean nothing
    for a sum over silos (each silo has its own budget); a merge keeps their
    largest value, the worst single charge among the parts, not a total.
    ``None`` is the identity, so ``zero()`` stays the identity of merge.
    """

    k: int | None = None
    epsilon: float | None = None
    rho: float | None = None
    sigma: float | None = None
    rho_total: float | None = None
    delta: float | None = None

    def __post_init__(self) -> None:
        if self.k is not None and (isinstance(self.k, bool) or int(self.k) < 1):
            raise ValueError(f"privacy.k must be an integer >= 1, got {self.k!r}")
        object.__setattr__(self, "k", None if self.k is None else int(self.k))
        for name in ("epsilon", "rho", "sigma", "rho_total"):
            value = getattr(self, name)
            if value is not None and not 0.0 < float(value) < float("inf"):
                raise ValueError(f"privacy.{name} must be a finite number > 0, got {value!r}")
            object.__setattr__(self, name, None if value is None else float(value))
        if self.delta is not None and not 0.0 < float(self.delta) < 1.0:
            raise ValueError(f"privacy.delta must be a number in (0, 1), got {self.delta!r}")
        object.__setattr__(self, "delta", None if self.delta is None else float(self.delta))

    @property
    def noised(self) -> bool:
        return self.epsilon is not None or self.sigma is not None

    def merge(self, other: Privacy) -> Privacy:
        def pick(name: str, best: Callable[..., Any]) -> Any:
            values = [v for v in (getattr(self, name), getattr(other, name)) if v is not None]
            return best(values) if values else None

        return Privacy(
            k=pick("k", max),
            epsilon=pick("epsilon", min),
            rho=pick("rho", max),
            sigma=pick("sigma", max),
            rho_total=pick("rho_total", max),
            delta=pick("delta", max),
        )

    def to_dict(self) -> dict[str, Any]:
        """``k`` and ``epsilon`` always (as before); the DP fields only when set."""
        doc: dict[str, Any] = {"k": self.k, "epsilon": self.epsilon}
        for name in _DP_FIELDS:
            if getattr(self, name) is not None:
                doc[name] = getattr(self, name)
        return doc

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Privacy:
        return cls(d.get("k"), d.get("epsilon"), *(d.get(name) for name in _DP_FIELDS))


_DP_FIELDS = ("rho", "sigma", "rho_total", "delta")


@dataclass(frozen=True, eq=False)
class WindowStats:
    """Counts of one window of rows under one spec (identified by its digest).

    ``scores`` has one entry per outcome table when the spec has a score
    column, and is empty otherwise.
    """

    spec_digest: str
    rows: int
    features: Mapping[str, FeatureCounts] = field(default_factory=dict)
    outcomes: Mapping[str, OutcomeCounts] = field(default_factory=dict)
    outcome_missing: int = 0
    privacy: Privacy = Privacy()
    scores: Mapping[str, ScoreCounts] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rows", int(self.rows))
        object.__setattr__(self, "outcome_missing", int(self.outcome_missing))
        object.__setattr__(self, "features", dict(self.features))
        object.__setattr__(self, "outcomes", dict(self.outcomes))
        object.__setattr__(self, "scores", dict(self.scores))

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
            scores={
                name: ScoreCounts.zero(name, groups, spec.n_score_cells)
                for name, (_, groups) in outcome_layouts(spec).items()
            }
            if spec.score
            else {},
        )

    def count_arrays(self) -> list[np.ndarray]:
        """Every count array, in wire order: each feature's counts and fine counts, then
        each outcome table's counts, then each score table's."""
        arrays = [v for fc in self.features.values() for v in (fc.counts, fc.fine)]
        arrays += [oc.counts for oc in self.outcomes.values()]
        return arrays + [sc.counts for sc in self.scores.values()]

    def cell_totals(self) -> tuple[dict[int, int], dict[int, int]]:
        """Sum and minimum of each of :meth:`count_arrays` (0 for an empty one), keyed by
        the array's ``id``; worked out once (a decoder that summed them hands them over)."""
        totals: tuple[dict[int, int], dict[int, int]] | None = self.__dict__.get("_totals")
        if totals is None:
            totals = sums_and_minima(self.count_arrays())
            object.__setattr__(self, "_totals", totals)
        return totals

    def _keep_totals(self, sums: list[int], minima: list[int]) -> WindowStats:
        """For :mod:`fedgov.wire`: the sums and minima of :meth:`count_arrays`, in order,
        which it worked out decoding them (the arrays are read-only)."""
        arrays = [id(a) for a in self.count_arrays()]
        object.__setattr__(
            self,
            "_totals",
            (dict(zip(arrays, sums, strict=True)), dict(zip(arrays, minima, strict=True))),
        )
        return self

    def merge(self, other: WindowStats) -> WindowStats:
        """Cell-wise sum; associative and commutative, ``zero()`` is the identity."""
        if self.spec_digest != other.spec_digest:
            raise ValueError(
                f"cannot merge statistics of different specs "
                f"({self.spec_digest[:12]} vs {other.spec_digest[:12]})"
            )
        if (
            self.features.keys() != other.features.keys()
            or self.outcomes.keys() != other.outcomes.keys()
            or self.scores.keys() != other.scores.keys()
        ):
            raise ValueError(
                "cannot merge statistics with different features, attributes or score tables"
            )
        return WindowStats(
            spec_digest=self.spec_digest,
            rows=self.rows + other.rows,
            features={k: v.merge(other.features[k]) for k, v in self.features.items()},
            outcomes={k: v.merge(other.outcomes[k]) for k, v in self.outcomes.items()},
            outcome_missing=self.outcome_missing + other.outcome_missing,
            privacy=self.privacy.merge(other.privacy),
            scores={k: v.merge(other.scores[k]) for k, v in self.scores.items()},
        )

    def fold(self, spec: MonitoringSpec, batch: Batch) -> WindowStats:
        """``self`` merged with the counts of ``batch`` (compiled or vectorised: see
        :mod:`fedgov.stats._fold`)."""
        if spec.digest != self.spec_digest:
            raise ValueError("fold: the spec is not the one these statistics were made with")
        features, outcomes, scores, known = count_batch(spec, batch)
        return self.merge(
            WindowStats(
                spec_digest=self.spec_digest,
                rows=batch.n_rows,
                features=features,
                outcomes=outcomes,
                outcome_missing=batch.n_rows - known,
                scores=scores,
            )
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: counts as nested lists of Python ints.

        ``scores`` is written only when there are score tables, so statistics
        of a spec without a score column read as before.
        """
        doc: dict[str, Any] = {
            "spec_digest": self.spec_digest,
            "rows": self.rows,
            "outcome_missing": self.outcome_missing,
            "features": {k: _feature_doc(v) for k, v in self.features.items()},
            "outcomes": {
                k: {"groups": list(v.groups), "counts": v.counts.tolist()}
                | ({"suppressed": v.suppressed} if v.suppressed else {})
                for k, v in self.outcomes.items()
            },
            "privacy": self.privacy.to_dict(),
        }
        if self.scores:
            doc["scores"] = {
                k: {"groups": list(v.groups), "counts": v.counts.tolist()}
                | ({"suppressed": v.suppressed} if v.suppressed else {})
                for k, v in self.scores.items()
            }
        return doc

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> WindowStats:
        """Inverse of :meth:`to_dict`; ValueError on a malformed document.

        Fields added after the first release (fine counts, suppressed,
        privacy, scores) are optional, so documents written before them still load.
        """
        try:
            privacy = d.get("privacy") or {}
            return cls(
                spec_digest=str(d["spec_digest"]),
                rows=_int(d["rows"], "rows"),
                outcome_missing=_int(d["outcome_missing"], "outcome_missing"),
                features={
                    str(k): FeatureCounts(
                        str(k),
                        str(v["kind"]),
                        _ints(v["counts"], k),
                        _ints(v.get("fine", []), f"{k}.fine"),
                        _int(v.get("suppressed", 0), f"{k}.suppressed"),
                        _int(v.get("fine_suppressed", 0), f"{k}.fine_suppressed"),
                    )
                    for k, v in d["features"].items()
                },
                outcomes={
                    str(k): OutcomeCounts(
                        str(k),
                        tuple(str(g) for g in v["groups"]),
                        _ints(v["counts"], k),
                        _int(v.get("suppressed", 0), f"{k}.suppressed"),
                    )
                    for k, v in d["outcomes"].items()
                },
                privacy=Privacy.from_dict(privacy),
                scores={
                    str(k): ScoreCounts(
                        str(k),
                        tuple(str(g) for g in v["groups"]),
                        _ints(v["counts"], f"scores.{k}"),
                        _int(v.get("suppressed", 0), f"scores.{k}.suppressed"),
                    )
                    for k, v in (d.get("scores") or {}).items()
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
            and self.privacy == other.privacy
            and dict(self.scores) == dict(other.scores)
        )


def _feature_doc(v: FeatureCounts) -> dict[str, Any]:
    doc: dict[str, Any] = {"kind": v.kind, "counts": v.counts.tolist()}
    if v.fine.size:
        doc["fine"] = v.fine.tolist()
    if v.suppressed or v.fine_suppressed:
        doc.update(suppressed=v.suppressed, fine_suppressed=v.fine_suppressed)
    return doc


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"malformed window statistics: {where} must be an integer")
    return int(value)


def _ints(value: Any, where: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.size and arr.dtype.kind not in "iu":
        raise ValueError(f"malformed window statistics: {where}: counts must be integers")
    return arr.astype(np.int64)
