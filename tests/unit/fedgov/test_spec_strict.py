"""Spec files are read strictly: unknown keys at any level, and hostile nesting, are refused."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from support.specs import toy_spec

from fedgov.documents import MAX_DEPTH
from fedgov.errors import SpecError
from fedgov.spec import (
    CategoricalFeature,
    MonitoringSpec,
    NumericFeature,
    SensitiveAttribute,
    load_spec,
)

SPEC = toy_spec(
    features=(NumericFeature("x", (0.0, 1.0, 2.0)), CategoricalFeature("c", ("a", "b"))),
    sensitive=(SensitiveAttribute("g", ("F", "M")),),
)


def doc() -> dict[str, Any]:
    return json.loads(json.dumps(SPEC.to_dict()))


def test_every_written_key_is_read_back() -> None:
    assert MonitoringSpec.from_dict(doc()) == SPEC


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(labels="y"), "labels: unknown key \\(did you mean 'label'\\?\\)"),
        (
            lambda d: d.update(positive_lable="1"),
            "positive_lable: unknown key \\(did you mean 'positive_label'\\?\\)",
        ),
        (lambda d: d.update(owner="me"), "owner: unknown key; expected one of format, model"),
        (
            lambda d: d["model"].update(verison="2"),
            "model.verison: unknown key \\(did you mean 'version'\\?\\)",
        ),
        (
            lambda d: d["features"][0].update(edgez=[0, 1]),
            "features\\[0\\].edgez: unknown key \\(did you mean 'edges'\\?\\)",
        ),
        (
            # categories belong to categorical features only
            lambda d: d["features"][0].update(categories=["a"]),
            "features\\[0\\].categories: unknown key; expected one of name, kind, edges",
        ),
        (
            lambda d: d["features"][1].update(category=["a"]),
            "features\\[1\\].category: unknown key \\(did you mean 'categories'\\?\\)",
        ),
        (
            lambda d: d["sensitive"][0].update(group=["F"]),
            "sensitive\\[0\\].group: unknown key \\(did you mean 'groups'\\?\\)",
        ),
        (
            lambda d: d.update(reference={"xx": [0, 0, 0, 0, 0]}),
            "reference.xx: no feature of that name \\(did you mean 'x'\\?\\)",
        ),
    ],
)
def test_unknown_keys_are_named_with_their_path(edit: Any, message: str) -> None:
    d = doc()
    edit(d)
    with pytest.raises(SpecError, match=f"^s.json: {message}"):
        MonitoringSpec.from_dict(d, source="s.json")


def test_deeply_nested_spec_file_is_a_spec_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(SpecError, match=f"deep.json:1: nested more than {MAX_DEPTH} levels"):
        load_spec(path)
    yaml = tmp_path / "deep.yaml"
    yaml.write_text("a: " + "[" * 100_000)
    with pytest.raises(SpecError, match="deep.yaml:1: nested more than"):
        load_spec(yaml)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"model": ', "s.json:1:11: not valid JSON"),
        ('{"x": NaN}', "s.json: not valid JSON: NaN is not a JSON number"),
        ("[1, 2]", "s.json: a spec must be a JSON/YAML object, got list"),
    ],
)
def test_unreadable_spec_files_are_located(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "s.json"
    path.write_text(text)
    with pytest.raises(SpecError, match=re.escape(message.replace("s.json", f"{path}", 1))):
        load_spec(path)


def test_missing_spec_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="nope.json: spec file not found"):
        load_spec(tmp_path / "nope.json")
