"""fedgov.schema: pydantic errors become one ConfigError, a line per problem, by key path."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import Field

from fedgov.errors import ConfigError, SpecError
from fedgov.schema import StrictModel, describe, validate


class Leaf(StrictModel):
    name: str
    weight: float = 1.0


class Doc(StrictModel):
    leaves: Annotated[list[Leaf], Field(min_length=1)]
    extra: Leaf | None = None
    flag: bool = False
    count: Annotated[int, Field(ge=1)] = 1


def _lines(doc: object, error: type[ConfigError] = ConfigError) -> list[str]:
    with pytest.raises(error) as info:
        validate(Doc, doc, source="doc.yaml", error=error)
    return str(info.value).splitlines()


def test_valid_document_is_a_frozen_model() -> None:
    doc = validate(Doc, {"leaves": [{"name": "a", "weight": 2}]}, source="d")
    assert doc.leaves[0].weight == 2.0 and doc.flag is False
    with pytest.raises(ValueError):
        doc.flag = True  # type: ignore[misc]


def test_unknown_keys_are_found_through_lists_and_optional_sections() -> None:
    lines = _lines({"leaves": [{"name": "a"}, {"nmae": "b"}], "extra": {"wieght": 2, "name": "x"}})
    assert lines == [
        "doc.yaml: leaves[1].name: required key is missing",
        "doc.yaml: leaves[1].nmae: unknown key (did you mean 'name'?); allowed: name, weight",
        "doc.yaml: extra.wieght: unknown key (did you mean 'weight'?); allowed: name, weight",
    ]


def test_no_coercion_and_no_raw_pydantic_text() -> None:
    lines = _lines({"leaves": [{"name": 1, "weight": "2"}], "flag": "on", "count": 0})
    assert lines == [
        "doc.yaml: leaves[0].name: must be a string, got the number 1 (quote it)",
        "doc.yaml: leaves[0].weight: must be a number, got the string '2' "
        "(write the number unquoted)",
        "doc.yaml: flag: must be true or false (a YAML boolean, unquoted), got the string 'on'",
        "doc.yaml: count: must be 1 or more, got 0",
    ]


def test_the_error_class_is_the_callers() -> None:
    (line,) = _lines({"leaves": []}, error=SpecError)
    assert line == "doc.yaml: leaves: must not be empty"


@pytest.mark.parametrize(
    "value, text",
    [
        (None, "null (an empty value)"),
        (False, "the boolean false"),
        (2.5, "the number 2.5"),
        ("x" * 50, "the string '" + "x" * 37 + "...'"),
        ({}, "a mapping"),
        ([], "a list"),
    ],
)
def test_describe(value: object, text: str) -> None:
    assert describe(value) == text
