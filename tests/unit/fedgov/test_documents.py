"""fedgov.documents: every way a YAML/JSON file can be wrong gives a located ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedgov.documents import MAX_DEPTH, check_depth, did_you_mean, load_document, nested_too_deep
from fedgov.errors import ConfigError, SpecError


def _write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return p


def test_reads_yaml_and_json(tmp_path: Path) -> None:
    assert load_document(_write(tmp_path, "a.yaml", "a: [1, 2]\nb: {c: true}\n")) == {
        "a": [1, 2],
        "b": {"c": True},
    }
    assert load_document(_write(tmp_path, "a.json", '{"a": [1, 2.5, null]}')) == {
        "a": [1, 2.5, None]
    }


def test_not_utf8_names_line_and_offset(tmp_path: Path) -> None:
    p = _write(tmp_path, "silo.yaml", b"a: 1\nb: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"silo\.yaml:2: not UTF-8 \(byte 0xe9 at offset 11\)"):
        load_document(p, what="config file")


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    assert load_document(_write(tmp_path, "a.yaml", "\ufeffa: 1\n")) == {"a": 1}


@pytest.mark.parametrize("text", ["[" * 100_000, '{"a":' * 5_000, "a: " + "[" * 10_000])
def test_deep_nesting_is_refused_before_parsing(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match=f"nested more than {MAX_DEPTH} levels"):
        load_document(_write(tmp_path, "deep.yaml", text))


def test_brackets_inside_strings_do_not_count(tmp_path: Path) -> None:
    text = '{"a": "' + "[" * 1000 + '"}'
    assert load_document(_write(tmp_path, "a.json", text)) == {"a": "[" * 1000}


def test_syntax_errors_have_line_and_column(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"a\.yaml:2:2: not valid YAML"):
        load_document(_write(tmp_path, "a.yaml", "a: [1, 2\nb: 3"))
    with pytest.raises(ConfigError, match=r"a\.json:2:1: not valid JSON"):
        load_document(_write(tmp_path, "a.json", '{"a": 1,\n}'))


def test_nan_is_not_json(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="NaN is not a JSON number"):
        load_document(_write(tmp_path, "a.json", '{"a": NaN}'))


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"a\.yaml:3:3: .*key 'k' appears twice"):
        load_document(_write(tmp_path, "a.yaml", "p:\n  k: 10\n  k: 0\n"))
    with pytest.raises(ConfigError, match="key 'k' appears twice"):
        load_document(_write(tmp_path, "a.json", '{"p": {"k": 10, "k": 0}}'))


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="spec file not found"):
        load_document(tmp_path / "nope.json", what="spec file")
    with pytest.raises(ConfigError, match="is a directory"):
        load_document(tmp_path)


def test_error_class_is_the_callers(tmp_path: Path) -> None:
    with pytest.raises(SpecError):
        load_document(_write(tmp_path, "s.json", "{"), error=SpecError)


def test_did_you_mean() -> None:
    assert did_you_mean("min_cel_count", ["epsilon", "min_cell_count"]) == (
        " (did you mean 'min_cell_count'?)"
    )
    assert did_you_mean("zzz", ["epsilon"]) == ""


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


def test_nested_too_deep_ignores_brackets_in_strings() -> None:
    assert not nested_too_deep('{"a": "' + "[" * 1000 + '"}')
    assert nested_too_deep("[" * (MAX_DEPTH + 1))
    assert not nested_too_deep("[" * MAX_DEPTH + "]" * MAX_DEPTH)


def test_check_depth_names_the_line() -> None:
    with pytest.raises(ConfigError, match=r"^in\.json:3: nested more than 64"):
        check_depth("{\n\n" + "[" * 100, source="in.json")
