"""The monitoring spec: what a model version is watched on.

A spec is shared by every silo that serves a model version, so that their
statistics are counted over the same cells and can be summed:

* numeric features with sorted bin edges ``e0 < e1 < ... < ek``;
* categorical features with a list of known categories;
* the label, prediction and optional score columns;
* sensitive attributes with their groups, and declared intersections;
* an optional *reference profile*: the counts of the reference data over
  the same cells, from which drift is measured. It holds counts only.

Cell layouts, used everywhere (statistics, wire, reference profile):

* numeric: ``[underflow, bin_0, ..., bin_{k-1}, overflow, missing]``
  (``k + 3`` cells). Bin ``i`` is ``[e_i, e_{i+1})``, the last bin is closed.
* categorical: ``[cat_0, ..., cat_{m-1}, unseen, missing]`` (``m + 2`` cells).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedgov.errors import SpecError

__all__ = [
    "CategoricalFeature",
    "MonitoringSpec",
    "NumericFeature",
    "SensitiveAttribute",
    "load_spec",
    "save_spec",
]

SPEC_FORMAT = "fedgov.spec/v1"


@dataclass(frozen=True)
class NumericFeature:
    name: str
    edges: tuple[float, ...]

    kind = "numeric"

    @property
    def n_cells(self) -> int:
        return len(self.edges) + 2  # k bins + underflow + overflow + missing


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

    def __post_init__(self) -> None:
        _validate(self, source="<spec>")

    @property
    def digest(self) -> str:
        """sha256 of the canonical JSON form; the identity of a spec on the wire."""
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
        seen: set[str] = set()
        return [c for c in cols if not (c in seen or seen.add(c))]

    def to_dict(self) -> dict[str, Any]:
        feats: list[dict[str, Any]] = []
        for f in self.features:
            if isinstance(f, NumericFeature):
                feats.append({"name": f.name, "kind": "numeric", "edges": list(f.edges)})
            else:
                feats.append(
                    {"name": f.name, "kind": "categorical", "categories": list(f.categories)}
                )
        return {
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

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, source: str = "<spec>") -> MonitoringSpec:
        try:
            return _from_dict(doc, source)
        except SpecError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SpecError(
                f"{source}: malformed spec ({type(exc).__name__}: {exc}); "
                "derive one with `fedgov spec --reference FILE ...`"
            ) from None


def _req(doc: Mapping[str, Any], key: str, where: str, source: str) -> Any:
    if not isinstance(doc, Mapping) or key not in doc:
        raise SpecError(f"{source}: {where}: missing required field '{key}'")
    return doc[key]


def _from_dict(doc: Mapping[str, Any], source: str) -> MonitoringSpec:
    if not isinstance(doc, Mapping):
        raise SpecError(f"{source}: a spec must be a JSON/YAML object, got {type(doc).__name__}")
    fmt = doc.get("format", SPEC_FORMAT)
    if fmt != SPEC_FORMAT:
        raise SpecError(f"{source}: format: expected '{SPEC_FORMAT}', got {fmt!r}")
    model = _req(doc, "model", "spec", source)
    features: list[Feature] = []
    for i, f in enumerate(_req(doc, "features", "spec", source)):
        where = f"features[{i}]"
        name = str(_req(f, "name", where, source))
        kind = _req(f, "kind", f"{where} ({name})", source)
        if kind == "numeric":
            edges = _req(f, "edges", f"{where} ({name})", source)
            features.append(NumericFeature(name, tuple(float(e) for e in edges)))
        elif kind == "categorical":
            cats = _req(f, "categories", f"{where} ({name})", source)
            features.append(CategoricalFeature(name, tuple(str(c) for c in cats)))
        else:
            raise SpecError(
                f"{source}: {where} ({name}): kind must be 'numeric' or 'categorical', got {kind!r}"
            )
    sensitive = tuple(
        SensitiveAttribute(
            str(_req(a, "name", f"sensitive[{i}]", source)),
            tuple(str(g) for g in _req(a, "groups", f"sensitive[{i}]", source)),
        )
        for i, a in enumerate(doc.get("sensitive") or [])
    )
    try:
        return MonitoringSpec(
            model_id=str(_req(model, "id", "model", source)),
            model_version=str(_req(model, "version", "model", source)),
            label=str(_req(doc, "label", "spec", source)),
            prediction=str(_req(doc, "prediction", "spec", source)),
            features=tuple(features),
            sensitive=sensitive,
            intersections=tuple(tuple(str(a) for a in i) for i in doc.get("intersections") or []),
            score=None if doc.get("score") in (None, "") else str(doc["score"]),
            positive_label=str(doc.get("positive_label", "1")),
            reference={
                str(k): tuple(int(c) for c in v) for k, v in (doc.get("reference") or {}).items()
            },
        )
    except SpecError as exc:
        # __post_init__ validates without knowing the file; name it here.
        raise SpecError(str(exc).replace("<spec>", source, 1)) from None


def _validate(spec: MonitoringSpec, *, source: str) -> None:
    names: set[str] = set()
    for i, f in enumerate(spec.features):
        where = f"{source}: features[{i}] ({f.name})"
        if f.name in names:
            raise SpecError(f"{where}: duplicate feature name; each feature appears once")
        names.add(f.name)
        if isinstance(f, NumericFeature):
            _check_edges(f.edges, where)
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
            raise SpecError(f"{source}: reference.{name}: no feature of that name")
        want = spec.feature(name).n_cells
        if len(counts) != want:
            raise SpecError(
                f"{source}: reference.{name}: expected {want} counts (cell layout), "
                f"got {len(counts)}"
            )
        if any(c < 0 for c in counts):
            raise SpecError(f"{source}: reference.{name}: counts must be >= 0")


def _check_edges(edges: Sequence[float], where: str) -> None:
    if len(edges) < 2:
        raise SpecError(f"{where}: edges: need at least two edges (one bin), got {len(edges)}")
    for j, e in enumerate(edges):
        if not math.isfinite(e):
            raise SpecError(f"{where}: edges[{j}] = {e} is not a finite number")
        if j and e <= edges[j - 1]:
            what = "duplicate" if e == edges[j - 1] else "unsorted"
            raise SpecError(
                f"{where}: edges must be strictly increasing, but edges[{j}] = {e} "
                f"<= edges[{j - 1}] = {edges[j - 1]} ({what}); fix the list or re-derive "
                "the spec with `fedgov spec --reference FILE`"
            )


def load_spec(path: str | Path) -> MonitoringSpec:
    """Read a spec file (JSON, or YAML by extension); errors name the file and line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{p}: spec file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{p}: cannot read spec file: {exc}") from None
    if p.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            raise SpecError(f"{p}{line}: not valid YAML: {exc}") from None
    else:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(
                f"{p}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}"
            ) from None
    return MonitoringSpec.from_dict(doc, source=str(p))


def save_spec(spec: MonitoringSpec, path: str | Path) -> None:
    Path(path).write_text(json.dumps(spec.to_dict(), indent=2) + "\n", encoding="utf-8")
