"""Reading a spec document: the keys of ``fedgov.spec/v1`` and their strict checks.

A spec file is a JSON or YAML object; this module turns it into the arguments
of a :class:`~fedgov.spec.MonitoringSpec`, refusing a key the format does not
have (naming its path, with a suggestion for a typo), a missing required
field, or a value of the wrong kind. Errors are :class:`~fedgov.errors.SpecError`
and name the source. Writing a spec is :meth:`~fedgov.spec.MonitoringSpec.to_dict`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from fedgov.documents import did_you_mean
from fedgov.errors import SpecError
from fedgov.spec._features import CategoricalFeature, Feature, NumericFeature, SensitiveAttribute
from fedgov.spec._outcomes import outcome_values

__all__ = ["SPEC_FORMAT", "spec_from_document"]

SPEC_FORMAT = "fedgov.spec/v1"

T = TypeVar("T")

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
        "reference_privacy",
        "score_edges",
    ),
    "model": ("id", "version"),
    "numeric": ("name", "kind", "edges", "fine_edges"),
    "categorical": ("name", "kind", "categories"),
    "sensitive": ("name", "groups"),
}


def _req(doc: Mapping[str, Any], key: str, where: str, source: str) -> Any:
    if not isinstance(doc, Mapping) or key not in doc:
        raise SpecError(f"{source}: {where}: missing required field '{key}'")
    return doc[key]


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


def spec_from_document(doc: Mapping[str, Any], source: str, build: Callable[..., T]) -> T:
    """``build(model_id=..., ...)`` with the fields of ``doc``; a
    :class:`SpecError` raised by ``build`` names ``source`` instead of ``<spec>``."""
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
        return build(
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
            reference_privacy={
                str(k): float(v) for k, v in (doc.get("reference_privacy") or {}).items()
            },
            score_edges=tuple(float(e) for e in doc.get("score_edges") or ()),
            label_values=outcome_values(doc, "label_values", source),
            prediction_values=outcome_values(doc, "prediction_values", source),
        )
    except SpecError as exc:
        # __post_init__ validates without knowing the file; name it here.
        raise SpecError(str(exc).replace("<spec>", source, 1)) from None


def _counts_map(doc: Any) -> dict[str, tuple[int, ...]]:
    return {str(k): tuple(int(c) for c in v) for k, v in (doc or {}).items()}
