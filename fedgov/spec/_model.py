"""The monitoring spec itself: :class:`MonitoringSpec`, its checks, digest and files.

A spec names the model version, its outcome columns, features and sensitive
attributes (the format is described in :mod:`fedgov.spec`). Building one
validates it as a whole (edges, categories, groups, intersections, reference
counts against the cell layouts); :meth:`MonitoringSpec.to_dict` writes the
canonical document whose sha256 is the spec's :attr:`~MonitoringSpec.digest`,
its identity on the wire; :func:`load_spec` and :func:`save_spec` read and write
spec files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from fedgov.documents import did_you_mean, load_document
from fedgov.errors import SpecError
from fedgov.spec._document import SPEC_FORMAT, spec_from_document
from fedgov.spec._features import (
    Feature,
    NumericFeature,
    SensitiveAttribute,
    check_edges,
    check_fine_edges,
    coarse_from_fine,
)
from fedgov.spec._outcomes import check_outcome_values, default_outcome_values

__all__ = [
    "DEFAULT_SCORE_BINS",
    "DEFAULT_SCORE_EDGES",
    "MonitoringSpec",
    "load_spec",
    "save_spec",
]

DEFAULT_SCORE_BINS = 20
DEFAULT_SCORE_EDGES: tuple[float, ...] = tuple(
    i / DEFAULT_SCORE_BINS for i in range(DEFAULT_SCORE_BINS + 1)
)
"""Score edges of a spec that names a score column but no edges: 20 bins of
width 0.05 over ``[0, 1]``. Twenty is a compromise: the calibration error
read from bin midpoints is off by at most half a bin width (0.025), and
each group's histogram has ``2 * 23`` cells, few enough that small-cell
suppression keeps most of them in windows of a few thousand rows. Written
as ``i / 20`` so every edge is the float nearest its decimal value."""


@dataclass(frozen=True)
class MonitoringSpec:
    model_id: str
    model_version: str
    label: str
    prediction: str
    features: tuple[Feature, ...]
    sensitive: tuple[SensitiveAttribute, ...] = ()
    intersections: tuple[tuple[str, ...], ...] = ()
    score: str | None = None
    positive_label: str = "1"
    # feature name -> reference counts in the feature's cell layout
    reference: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    # numeric feature name -> reference counts in its fine layout
    reference_fine: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    # how the reference counts were protected: {"rho": zCDP, "sigma": discrete Gaussian
    # standard deviation of each count}; empty when they are exact
    reference_privacy: Mapping[str, float] = field(default_factory=dict)
    # bin edges of the score histograms; () without a score column, and
    # DEFAULT_SCORE_EDGES when a score column is named without edges
    score_edges: tuple[float, ...] = ()
    # every value the label / prediction column may hold; () stands for
    # default_outcome_values(positive_label), which may itself be () (not checked)
    label_values: tuple[str, ...] = ()
    prediction_values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        edges = tuple(float(e) for e in self.score_edges)
        if self.score and not edges:
            edges = DEFAULT_SCORE_EDGES
        object.__setattr__(self, "score_edges", edges)
        default = default_outcome_values(self.positive_label)
        for name in ("label_values", "prediction_values"):
            values = tuple(str(v) for v in getattr(self, name))
            object.__setattr__(self, name, values or default)
        _validate(self, source="<spec>")

    @property
    def n_score_cells(self) -> int:
        """Cells of the score layout (numeric, ``k + 3``); 0 without a score column."""
        return len(self.score_edges) + 2 if self.score else 0

    @cached_property
    def digest(self) -> str:
        """sha256 of the canonical JSON form; the identity of a spec on the wire.

        Cached: a spec with fine edges is a few hundred kB of JSON, and every
        fold checks the digest.
        """
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    def columns(self) -> list[str]:
        """Every data column the spec reads, in a stable order."""
        cols = [f.name for f in self.features] + [self.label, self.prediction]
        if self.score:
            cols.append(self.score)
        cols += [a.name for a in self.sensitive]
        return list(dict.fromkeys(cols))  # first occurrence of each, in order

    def to_dict(self) -> dict[str, Any]:
        feats: list[dict[str, Any]] = []
        for f in self.features:
            if isinstance(f, NumericFeature):
                doc: dict[str, Any] = {"name": f.name, "kind": "numeric", "edges": list(f.edges)}
                if f.fine_edges:
                    doc["fine_edges"] = list(f.fine_edges)
                feats.append(doc)
            else:
                feats.append(
                    {"name": f.name, "kind": "categorical", "categories": list(f.categories)}
                )
        out: dict[str, Any] = {
            "format": SPEC_FORMAT,
            "model": {"id": self.model_id, "version": self.model_version},
            "label": self.label,
            "prediction": self.prediction,
            "score": self.score,
            "positive_label": self.positive_label,
            "features": feats,
            "sensitive": [{"name": a.name, "groups": list(a.groups)} for a in self.sensitive],
            "intersections": [list(i) for i in self.intersections],
            "reference": {k: list(v) for k, v in sorted(self.reference.items())},
        }
        if self.score and self.score_edges != DEFAULT_SCORE_EDGES:
            out["score_edges"] = list(self.score_edges)
        default = default_outcome_values(self.positive_label)
        if self.label_values != default:
            out["label_values"] = list(self.label_values)
        if self.prediction_values != default:
            out["prediction_values"] = list(self.prediction_values)
        if self.reference_fine:
            out["reference_fine"] = {k: list(v) for k, v in sorted(self.reference_fine.items())}
        if self.reference_privacy:
            out["reference_privacy"] = dict(sorted(self.reference_privacy.items()))
        return out

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, source: str = "<spec>") -> MonitoringSpec:
        try:
            return spec_from_document(doc, source, cls)
        except SpecError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SpecError(
                f"{source}: malformed spec ({type(exc).__name__}: {exc}); "
                "derive one with `fedgov spec --reference FILE ...`"
            ) from None


def _validate(spec: MonitoringSpec, *, source: str) -> None:
    if spec.score:
        check_edges(spec.score_edges, f"{source}: score ({spec.score})", "score_edges")
    elif spec.score_edges:
        raise SpecError(
            f"{source}: score_edges: given, but the spec names no score column; "
            "set 'score' or drop 'score_edges'"
        )
    for what in ("label", "prediction"):
        values: tuple[str, ...] = getattr(spec, f"{what}_values")
        check_outcome_values(values, spec.positive_label, f"{source}: {what}_values")
    names: set[str] = set()
    for i, f in enumerate(spec.features):
        where = f"{source}: features[{i}] ({f.name})"
        if f.name in names:
            raise SpecError(f"{where}: duplicate feature name; each feature appears once")
        names.add(f.name)
        if isinstance(f, NumericFeature):
            check_edges(f.edges, where)
            if f.fine_edges:
                check_fine_edges(f, where)
        else:
            if not f.categories:
                raise SpecError(f"{where}: a categorical feature needs at least one category")
            if len(set(f.categories)) != len(f.categories):
                dup = sorted({c for c in f.categories if f.categories.count(c) > 1})
                raise SpecError(f"{where}: duplicate categories {dup}; list each once")
    attrs = {a.name for a in spec.sensitive}
    for i, a in enumerate(spec.sensitive):
        if not a.groups:
            raise SpecError(f"{source}: sensitive[{i}] ({a.name}): needs at least one group")
        if len(set(a.groups)) != len(a.groups):
            raise SpecError(f"{source}: sensitive[{i}] ({a.name}): duplicate groups")
    for i, inter in enumerate(spec.intersections):
        unknown = [a for a in inter if a not in attrs]
        if len(inter) < 2 or unknown:
            raise SpecError(
                f"{source}: intersections[{i}]: needs two or more declared sensitive "
                f"attributes; unknown: {unknown}"
            )
    for name, counts in spec.reference.items():
        if name not in names:
            raise SpecError(
                f"{source}: reference.{name}: no feature of that name{did_you_mean(name, names)}"
            )
        want = spec.feature(name).n_cells
        if len(counts) != want:
            raise SpecError(
                f"{source}: reference.{name}: expected {want} counts (cell layout), "
                f"got {len(counts)}"
            )
        if any(c < 0 for c in counts):
            raise SpecError(f"{source}: reference.{name}: counts must be >= 0")
    for name, counts in spec.reference_fine.items():
        where = f"{source}: reference_fine.{name}"
        nf = spec.feature(name) if name in names else None
        if not isinstance(nf, NumericFeature) or not nf.fine_edges:
            raise SpecError(f"{where}: no numeric feature of that name with fine_edges")
        if len(counts) != nf.n_fine_cells:
            raise SpecError(
                f"{where}: expected {nf.n_fine_cells} counts (fine cell layout), got {len(counts)}"
            )
        if any(c < 0 for c in counts):
            raise SpecError(f"{where}: counts must be >= 0")
        coarse = spec.reference.get(name)
        if coarse is not None and tuple(coarse_from_fine(nf, counts)) != tuple(coarse):
            raise SpecError(
                f"{where}: does not add up to reference.{name} over the coarse bins; "
                "re-derive the spec so both come from the same data"
            )


def load_spec(path: str | Path) -> MonitoringSpec:
    """Read a spec file (JSON, or YAML by extension); errors name the file and line
    (see :func:`fedgov.documents.load_document`), or the key path."""
    doc = load_document(path, what="spec file", error=SpecError)
    return MonitoringSpec.from_dict(doc, source=str(path))


def save_spec(spec: MonitoringSpec, path: str | Path) -> None:
    Path(path).write_text(json.dumps(spec.to_dict(), indent=2) + "\n", encoding="utf-8")
