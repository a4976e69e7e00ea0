"""The nesting check: as exact as a walk over every character, far faster."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedgov.documents import MAX_DEPTH, check_depth, nested_too_deep
from fedgov.errors import ConfigError


def _depth_by_walk(text: str) -> int:
    """The oracle: one character at a time, brackets inside JSON strings ignored."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


@given(st.text(alphabet='[]{}"\\a\n', max_size=200))
def test_agrees_with_a_walk(text: str) -> None:
    assert nested_too_deep(text) == (_depth_by_walk(text) > MAX_DEPTH)


@given(st.integers(0, 200), st.sampled_from(["[", "{", '"[', '["\\"', "[}"]))
def test_agrees_with_a_walk_on_deep_text(n: int, piece: str) -> None:
    text = piece * n
    assert nested_too_deep(text) == (_depth_by_walk(text) > MAX_DEPTH)


def test_brackets_in_strings_do_not_count() -> None:
    assert not nested_too_deep('{"a": "' + "[" * 1000 + '"}')
    assert nested_too_deep("[" * (MAX_DEPTH + 1))
    assert not nested_too_deep("[" * MAX_DEPTH + "]" * MAX_DEPTH)


def test_check_depth_names_the_line() -> None:
    with pytest.raises(ConfigError, match=r"^in\.json:3: nested more than 64"):
        check_depth("{\n\n" + "[" * 100, source="in.json")
