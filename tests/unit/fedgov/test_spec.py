"""MonitoringSpec: fine edges and fine reference counts, validation, digest stability."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.specs import toy_spec

from fedgov.errors import SpecError
from fedgov.spec import (
    CategoricalFeature,
    MonitoringSpec,
    NumericFeature,
    coarse_from_fine,
    coarse_groups,
    load_spec,
    save_spec,
)

X = NumericFeature("x", (0.0, 1.0, 2.0), (0.0, 0.5, 1.0, 1.5, 2.0))


def spec_doc(**override: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "model": {"id": "m", "version": "1"},
        "label": "y",
        "prediction": "p",
        "features": [
            {"name": "x", "kind": "numeric", "edges": [0, 1, 2], "fine_edges": [0, 0.5, 1, 1.5, 2]},
            {"name": "c", "kind": "categorical", "categories": ["a", "b"]},
        ],
        # fine layout: under, 4 fine bins, over, missing
        "reference": {"x": [1, 5, 9, 6, 7], "c": [3, 4, 0, 1]},
        "reference_fine": {"x": [1, 2, 3, 4, 5, 6, 7]},
    }
    doc.update(override)
    return doc


def test_coarse_cells_are_runs_of_fine_cells() -> None:
    assert coarse_groups(X) == (0, 1, 3, 5, 6)
    assert coarse_from_fine(X, [1, 2, 3, 4, 5, 6, 7]) == [1, 5, 9, 6, 7]
    assert X.n_cells == 5 and X.n_fine_cells == 7
    assert NumericFeature("x", (0.0, 1.0)).n_fine_cells == 0


def test_fine_edges_and_reference_round_trip(tmp_path: Path) -> None:
    spec = MonitoringSpec.from_dict(spec_doc())
    assert spec.feature("x") == X
    assert spec.reference_fine == {"x": (1, 2, 3, 4, 5, 6, 7)}
    path = tmp_path / "spec.json"
    save_spec(spec, path)
    again = load_spec(path)
    assert again == spec and again.digest == spec.digest


def test_fine_edges_enter_the_digest() -> None:
    base = MonitoringSpec.from_dict(spec_doc())
    doc = spec_doc()
    doc["features"][0]["fine_edges"] = [0, 0.25, 0.5, 1, 1.5, 2]
    doc["reference_fine"] = {"x": [1, 1, 1, 3, 4, 5, 6, 7]}
    assert MonitoringSpec.from_dict(doc).digest != base.digest


def test_a_spec_without_fine_edges_keeps_its_digest() -> None:
    """Specs written before fine edges existed load unchanged, with the same identity."""
    doc = spec_doc()
    del doc["features"][0]["fine_edges"]
    del doc["reference_fine"]
    spec = MonitoringSpec.from_dict(doc)
    assert spec.feature("x") == NumericFeature("x", (0.0, 1.0, 2.0))
    written = spec.to_dict()
    assert "fine_edges" not in written["features"][0] and "reference_fine" not in written
    # the digest is that of the old canonical form, computed by hand
    import hashlib

    old = json.dumps(written, sort_keys=True, separators=(",", ":"))
    assert spec.digest == hashlib.sha256(old.encode()).hexdigest()


@pytest.mark.parametrize(
    ("fine", "message"),
    [
        ([0, 1, 0.5, 2], "fine_edges must be strictly increasing.*unsorted"),
        ([0, 0.5, 0.5, 1, 2], "duplicate"),
        ([0, 0.5, 1, float("inf")], "not a finite number"),
        ([0, 0.5, 2], "contain every coarse edge.*missing \\[1.0\\]"),
        ([-1, 0, 1, 2], "start and end with the same edges"),
        ([0, 1, 2, 3], "start and end with the same edges"),
        ([1], "need at least two edges"),
    ],
)
def test_bad_fine_edges_are_named(fine: list[float], message: str) -> None:
    doc = spec_doc()
    doc["features"][0]["fine_edges"] = fine
    doc.pop("reference_fine")
    with pytest.raises(SpecError, match=f"features\\[0\\] \\(x\\).*{message}"):
        MonitoringSpec.from_dict(doc, source="s.json")


@pytest.mark.parametrize(
    ("reference_fine", "message"),
    [
        ({"x": [1, 2, 3]}, "expected 7 counts"),
        ({"x": [1, 2, 3, 4, 5, 6, -7]}, ">= 0"),
        ({"c": [1, 2, 3, 4]}, "no numeric feature of that name with fine_edges"),
        ({"nope": [1, 2, 3, 4]}, "no numeric feature"),
        ({"x": [1, 2, 3, 4, 5, 6, 8]}, "does not add up to reference.x"),
    ],
)
def test_bad_reference_fine_is_named(reference_fine: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=f"s.json: reference_fine.*{message}"):
        MonitoringSpec.from_dict(spec_doc(reference_fine=reference_fine), source="s.json")


def test_reference_fine_needs_fine_edges() -> None:
    with pytest.raises(SpecError, match="with fine_edges"):
        toy_spec(
            features=(NumericFeature("x", (0.0, 1.0)), CategoricalFeature("c", ("a",))),
            reference_fine={"x": (0, 1, 0, 0)},
        )
