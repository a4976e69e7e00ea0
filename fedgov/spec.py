"""The monitoring spec: what a model version is watched on.

A spec is shared by every silo that serves a model version, so that their
statistics are counted over the same cells and can be summed:

* numeric features with sorted bin edges ``e0 < e1 < ... < ek``;
* categorical features with a list of known categories;
* the label, prediction and optional score columns; with a score column,
  *score edges* over which per-group score histograms are counted (for AUC
  and calibration error, :mod:`fedgov.metrics.scores`);
* sensitive attributes with their groups, and declared intersections;
* optionally, per numeric feature, *fine edges*: a few hundred reference
  quantiles from which KS and Wasserstein-1 are computed with a small,
  documented error bound (see :mod:`fedgov.metrics.drift`). The fine edges
  contain every coarse edge, including the first and the last, so a coarse
  count is a sum of fine counts and one pass over the rows gives both;
* an optional *reference profile*: the counts of the reference data over
  the same cells (``reference``, and ``reference_fine`` over the fine
  edges), from which drift is measured. It holds counts only.

Cell layouts, used everywhere (statistics, wire, reference profile):

* numeric: ``[underflow, bin_0, ..., bin_{k-1}, overflow, missing]``
  (``k + 3`` cells). Bin ``i`` is ``[e_i, e_{i+1})``, the last bin is closed.
  The fine layout is the same over the fine edges.
* categorical: ``[cat_0, ..., cat_{m-1}, unseen, missing]`` (``m + 2`` cells).

Fine edges and fine references are optional and written only when present,
so a spec without them keeps its digest.

*Declared outcome values* (``label_values``, ``prediction_values``): every value
the label and prediction columns may hold, as strings (``"0"``, ``"1"``, ``"yes"``),
derived from the reference data with the positive label among them. A window
holding any other value is refused (:class:`~fedgov.errors.DataError`) instead of
counting it as a negative. A spec that declares none (written before these
fields existed, or built without them) means :func:`default_outcome_values`:
``0, 1`` when the positive label is the number 0 or 1, otherwise *not checked*
(any non-positive value counts as a negative, as before). ``to_dict`` leaves
out values equal to that default, so such specs keep their digest.

Score edges use the numeric layout too. A spec with a score column and no
``score_edges`` gets :data:`DEFAULT_SCORE_EDGES` (20 equal-width bins over
``[0, 1]``); ``to_dict`` leaves out score edges equal to that default, so a
spec written before score edges existed keeps its digest, and the default is
part of the format: it must not change within ``fedgov.spec/v1``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from fedgov.documents import did_you_mean, load_document
from fedgov.errors import SpecError

__all__ = [
    "DEFAULT_SCORE_EDGES",
    "CategoricalFeature",
    "coarse_from_fine",
    "coarse_groups",
    "default_outcome_values",
    "MonitoringSpec",
    "NumericFeature",
    "SensitiveAttribute",
    "load_spec",
    "outcome_value_matches",
    "plain_number",
    "save_spec",
]

SPEC_FORMAT = "fedgov.spec/v1"

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

_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")


def plain_number(text: str) -> float | None:
    """The value of ``text`` if it is written as a plain decimal number (no blanks,
    no ``inf``/``nan``, no underscores), else None: how declared outcome values
    that are numbers are recognised, and why ``"1 "`` is not the value 1."""
    return float(text) if _PLAIN_NUMBER.match(text) else None


def default_outcome_values(positive_label: str) -> tuple[str, ...]:
    """The outcome values a spec that declares none stands for.

    ``("0", "1")`` when the positive label is the number 0 or 1 (binary labels,
    the common case); otherwise ``()``: the values are *not checked*, and every
    value but the positive one counts as a negative (the behaviour of specs
    written before outcome values were declared). Part of the format.
    """
    return ("0", "1") if plain_number(positive_label) in (0.0, 1.0) else ()


def outcome_value_matches(value: str, declared: str) -> bool:
    """Whether two outcome values written in a spec are the same value: equal
    text, or plain numbers that are equal (``"1"`` and ``"1.0"``)."""
    if value == declared:
        return True
    a, b = plain_number(value), plain_number(declared)
    return a is not None and a == b


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
        return out

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


_KEYS = {
    "spec": (
        "format",
        "model",
        "label",
        "prediction",
        "score",
        "positive_label",
        "label_values",
        "prediction_values",
        "features",
        "sensitive",
        "intersections",
        "reference",
        "reference_fine",
        "score_edges",
    ),
    "model": ("id", "version"),
    "numeric": ("name", "kind", "edges", "fine_edges"),
    "categorical": ("name", "kind", "categories"),
    "sensitive": ("name", "groups"),
}


def _known_keys(doc: Any, allowed: Sequence[str], path: str, source: str) -> None:
    """Refuse a key the format does not have, naming its path (a typo would
    otherwise be ignored silently, and a default used instead)."""
    if not isinstance(doc, Mapping):
        return  # _req names a value of the wrong type
    for key in doc:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            raise SpecError(
                f"{source}: {where}: unknown key{did_you_mean(str(key), allowed)}; "
                f"expected one of {', '.join(allowed)}"
            )


def _outcome_values(doc: Mapping[str, Any], key: str, source: str) -> tuple[str, ...]:
    """Declared outcome values as strings, as the encoders key raw values
    (``1``, ``1.0`` and ``"1"`` are all ``"1"``)."""
    values = doc.get(key)
    if values is None:
        return ()
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise SpecError(f"{source}: {key}: expected a list of values, got {values!r}")
    out = []
    for i, v in enumerate(values):
        k = _outcome_key(v)
        if k is None:
            raise SpecError(f"{source}: {key}[{i}]: {v!r} is not a value; list strings or numbers")
        out.append(k)
    if not out:
        raise SpecError(
            f"{source}: {key}: empty; list the values, or leave the key out for the default"
        )
    return tuple(out)


def _outcome_key(value: Any) -> str | None:
    """A value as the encoders key it (:func:`fedgov.stats.value_key`), None if it is none."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else str(value)
    return None


def _from_dict(doc: Mapping[str, Any], source: str) -> MonitoringSpec:
    if not isinstance(doc, Mapping):
        raise SpecError(f"{source}: a spec must be a JSON/YAML object, got {type(doc).__name__}")
    _known_keys(doc, _KEYS["spec"], "", source)
    fmt = doc.get("format", SPEC_FORMAT)
    if fmt != SPEC_FORMAT:
        raise SpecError(f"{source}: format: expected '{SPEC_FORMAT}', got {fmt!r}")
    model = _req(doc, "model", "spec", source)
    _known_keys(model, _KEYS["model"], "model", source)
    features: list[Feature] = []
    for i, f in enumerate(_req(doc, "features", "spec", source)):
        where = f"features[{i}]"
        name = str(_req(f, "name", where, source))
        kind = _req(f, "kind", f"{where} ({name})", source)
        if kind in ("numeric", "categorical"):
            _known_keys(f, _KEYS[kind], where, source)
        if kind == "numeric":
            edges = _req(f, "edges", f"{where} ({name})", source)
            fine = f.get("fine_edges") or ()
            features.append(
                NumericFeature(name, tuple(float(e) for e in edges), tuple(float(e) for e in fine))
            )
        elif kind == "categorical":
            cats = _req(f, "categories", f"{where} ({name})", source)
            features.append(CategoricalFeature(name, tuple(str(c) for c in cats)))
        else:
            raise SpecError(
                f"{source}: {where} ({name}): kind must be 'numeric' or 'categorical', got {kind!r}"
            )
    sensitive_docs = doc.get("sensitive") or []
    for i, a in enumerate(sensitive_docs):
        _known_keys(a, _KEYS["sensitive"], f"sensitive[{i}]", source)
    sensitive = tuple(
        SensitiveAttribute(
            str(_req(a, "name", f"sensitive[{i}]", source)),
            tuple(str(g) for g in _req(a, "groups", f"sensitive[{i}]", source)),
        )
        for i, a in enumerate(sensitive_docs)
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
            reference=_counts_map(doc.get("reference")),
            reference_fine=_counts_map(doc.get("reference_fine")),
            score_edges=tuple(float(e) for e in doc.get("score_edges") or ()),
            label_values=_outcome_values(doc, "label_values", source),
            prediction_values=_outcome_values(doc, "prediction_values", source),
        )
    except SpecError as exc:
        # __post_init__ validates without knowing the file; name it here.
        raise SpecError(str(exc).replace("<spec>", source, 1)) from None


def _counts_map(doc: Any) -> dict[str, tuple[int, ...]]:
    return {str(k): tuple(int(c) for c in v) for k, v in (doc or {}).items()}


def _validate(spec: MonitoringSpec, *, source: str) -> None:
    if spec.score:
        _check_edges(spec.score_edges, f"{source}: score ({spec.score})", "score_edges")
    elif spec.score_edges:
        raise SpecError(
            f"{source}: score_edges: given, but the spec names no score column; "
            "set 'score' or drop 'score_edges'"
        )
    for what in ("label", "prediction"):
        _check_outcome_values(spec, what, source)
    names: set[str] = set()
    for i, f in enumerate(spec.features):
        where = f"{source}: features[{i}] ({f.name})"
        if f.name in names:
            raise SpecError(f"{where}: duplicate feature name; each feature appears once")
        names.add(f.name)
        if isinstance(f, NumericFeature):
            _check_edges(f.edges, where)
            if f.fine_edges:
                _check_fine_edges(f, where)
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


def _check_outcome_values(spec: MonitoringSpec, what: str, source: str) -> None:
    values: tuple[str, ...] = getattr(spec, f"{what}_values")
    if not values:
        return  # not checked (see default_outcome_values)
    key = f"{source}: {what}_values"
    dup = sorted({v for v in values if sum(outcome_value_matches(v, w) for w in values) > 1})
    if dup:
        raise SpecError(f"{key}: {dup} listed more than once; list each value once")
    if not any(outcome_value_matches(spec.positive_label, v) for v in values):
        raise SpecError(
            f"{key}: {list(values)} lacks the positive label {spec.positive_label!r}; "
            "add it, or re-derive the spec with `fedgov spec --reference FILE`"
        )


def _check_edges(edges: Sequence[float], where: str, name: str = "edges") -> None:
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


def _check_fine_edges(f: NumericFeature, where: str) -> None:
    _check_edges(f.fine_edges, where, "fine_edges")
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


def load_spec(path: str | Path) -> MonitoringSpec:
    """Read a spec file (JSON, or YAML by extension); errors name the file and line
    (see :func:`fedgov.documents.load_document`), or the key path."""
    doc = load_document(path, what="spec file", error=SpecError)
    return MonitoringSpec.from_dict(doc, source=str(path))


def save_spec(spec: MonitoringSpec, path: str | Path) -> None:
    Path(path).write_text(json.dumps(spec.to_dict(), indent=2) + "\n", encoding="utf-8")
