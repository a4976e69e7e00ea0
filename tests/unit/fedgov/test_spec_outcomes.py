"""MonitoringSpec: declared label and prediction values (derived, serialised, digest-stable)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from support.specs import derive_toy_spec, toy_spec

from fedgov.errors import DataError, SpecError
from fedgov.spec import (
    CategoricalFeature,
    MonitoringSpec,
    default_outcome_values,
    load_spec,
    save_spec,
)

C = CategoricalFeature("c", ("a", "b"))


def spec(**kw: object) -> MonitoringSpec:
    return toy_spec(**({"features": (C,)} | kw))


def derived(y: list[object], p: list[object], positive: str = "1") -> MonitoringSpec:
    n = len(y)
    cols = {
        "c": np.array(["a", "b"] * (n // 2) + ["a"] * (n % 2), dtype=object),
        "g": np.array(["F", "M"] * (n // 2) + ["F"] * (n % 2), dtype=object),
        "y": np.array(y, dtype=object),
        "p": np.array(p, dtype=object),
    }
    return derive_toy_spec(
        cols,
        sensitive=["g"],
        positive_label=positive,
    )


def test_derivation_records_the_observed_values_and_the_positive_label() -> None:
    s = derived(["no", "yes", "maybe", None], ["no", "no", "no", "no"], positive="yes")
    assert s.label_values == ("maybe", "no", "yes")
    # the reference never predicted the positive label: it is declared all the same
    assert s.prediction_values == ("no", "yes")
    doc = s.to_dict()
    assert doc["label_values"] == ["maybe", "no", "yes"]
    assert doc["prediction_values"] == ["no", "yes"]


def test_numbers_are_declared_as_their_keys_in_numeric_order() -> None:
    s = derived([0.0, 1.0, 2.0, 10.0, float("nan"), 1.0], [1, 0, 1, 0, 1, 0])
    assert s.label_values == ("0", "1", "2", "10")
    assert s.prediction_values == ("0", "1")
    # 0/1 is the default for a 0/1 positive label: not written, digest unchanged
    doc = s.to_dict()
    assert "prediction_values" not in doc and doc["label_values"] == ["0", "1", "2", "10"]


def test_round_trip(tmp_path: Path) -> None:
    s = spec(positive_label="yes", label_values=("no", "yes"), prediction_values=("no", "yes"))
    path = tmp_path / "spec.json"
    save_spec(s, path)
    again = load_spec(path)
    assert again == s and again.digest == s.digest
    assert again.label_values == ("no", "yes")
    yaml = tmp_path / "spec.yaml"
    yaml.write_text(json.dumps(s.to_dict()))  # JSON is YAML
    assert load_spec(yaml) == s


def test_a_spec_without_declared_values_keeps_its_digest() -> None:
    """Specs written before values were declared load with the default, same identity."""
    old = {
        "format": "fedgov.spec/v1",
        "model": {"id": "m", "version": "1"},
        "label": "y",
        "prediction": "p",
        "score": None,
        "positive_label": "1",
        "features": [{"name": "c", "kind": "categorical", "categories": ["a", "b"]}],
        "sensitive": [],
        "intersections": [],
        "reference": {},
    }
    s = MonitoringSpec.from_dict(old)
    assert s.label_values == s.prediction_values == ("0", "1")
    assert s.to_dict() == old
    canonical = json.dumps(old, sort_keys=True, separators=(",", ":"))
    assert s.digest == hashlib.sha256(canonical.encode()).hexdigest()
    # declaring the default explicitly is the same spec
    explicit = MonitoringSpec.from_dict(dict(old, label_values=[0, 1], prediction_values=["0", 1]))
    assert explicit == s and explicit.digest == s.digest
    # other values enter the digest
    assert MonitoringSpec.from_dict(dict(old, label_values=[0, 1, 2])).digest != s.digest


def test_default_values() -> None:
    assert default_outcome_values("1") == ("0", "1")
    assert default_outcome_values("0") == ("0", "1")
    assert default_outcome_values("1.0") == ("0", "1")
    # anything else: not checked, as before values were declared
    assert default_outcome_values("yes") == ()
    assert default_outcome_values("2") == ()
    assert spec(positive_label="yes").label_values == ()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"label_values": ["0", "2"]}, "label_values: .* lacks the positive label '1'"),
        ({"prediction_values": ["no", "yes"]}, "prediction_values: .* lacks the positive label"),
        ({"label_values": [0, 1, "1.0"]}, "label_values: \\['1', '1.0'\\] listed more than once"),
        ({"label_values": []}, "label_values: empty"),
        ({"label_values": "0,1"}, "label_values: expected a list"),
        ({"label_values": [0, None, 1]}, "label_values\\[1\\]: None is not a value"),
        ({"label_values": [0, [1]]}, "label_values\\[1\\]"),
    ],
)
def test_bad_declared_values_are_named(override: dict[str, object], message: str) -> None:
    doc = spec().to_dict()
    doc.update(override)
    with pytest.raises(SpecError, match=f"s.json: {message}"):
        MonitoringSpec.from_dict(doc, source="s.json")


def test_too_many_distinct_outcome_values_is_a_data_error() -> None:
    scores = [i / 200 for i in range(200)]
    with pytest.raises(DataError, match="column 'p' has 200 distinct values.*score column"):
        derived([0, 1] * 100, scores)
