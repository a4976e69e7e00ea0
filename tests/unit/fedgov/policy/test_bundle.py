"""Loading bundle folders: modules, data.json, digest, and load errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fedgov.errors import PolicyError
from fedgov.policy import default_bundle_path, load_bundle

DEFAULT = default_bundle_path()

MINIMAL = 'package fedgov\n\ndecision := {"allow": true, "deny": [], "warn": [], "actions": []}\n'


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_default_bundle_loads() -> None:
    bundle = load_bundle(DEFAULT)
    assert set(bundle.modules) == {"policy.rego"}
    assert set(bundle.tests) == {"policy_test.rego"}
    assert bundle.data["fedgov"]["thresholds"] == {
        "psi_max": 0.2,
        "psi_pvalue_max": 0.01,
        "dp_ratio_min": 0.8,
        "eo_difference_max": 0.2,
        "min_sample_size": 50,
    }
    assert bundle.digest.startswith("sha256:") and len(bundle.digest) == 7 + 64


def test_digest_depends_on_deciding_files_only(tmp_path: Path) -> None:
    a = shutil.copytree(DEFAULT, tmp_path / "a")
    b = shutil.copytree(DEFAULT, tmp_path / "b")
    assert load_bundle(a).digest == load_bundle(b).digest == load_bundle(DEFAULT).digest

    (b / "policy_test.rego").write_text("package fedgov_test\n", encoding="utf-8")
    assert load_bundle(b).digest == load_bundle(a).digest  # tests do not decide

    (b / "data.json").write_text(
        (b / "data.json").read_text(encoding="utf-8").replace("0.8", "0.75"), encoding="utf-8"
    )
    assert load_bundle(b).digest != load_bundle(a).digest

    (a / "extra.rego").write_text("package fedgov.extra\nx := 1\n", encoding="utf-8")
    assert load_bundle(a).digest != load_bundle(DEFAULT).digest


def test_subfolders_are_read_and_hidden_ones_skipped(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "policy.rego": MINIMAL,
            "lib/util.rego": "package lib\nx := 1\n",
            ".git/junk.rego": "not rego",
        },
    )
    assert set(load_bundle(root).modules) == {"policy.rego", "lib/util.rego"}


def test_invalid_data_json_names_file_and_line(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "policy.rego": MINIMAL,
            "data.json": '{\n  "fedgov": {\n    "thresholds": {"psi_max": 0.2,}\n  }\n}\n',
        },
    )
    with pytest.raises(PolicyError) as info:
        load_bundle(root)
    assert info.value.file == str(root / "data.json")
    assert info.value.line == 3
    assert "data.json:3:" in str(info.value)
    assert "invalid JSON" in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"x": NaN}', "NaN is not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
    ],
)
def test_data_json_must_be_a_json_object(tmp_path: Path, text: str, expected: str) -> None:
    root = write(tmp_path, {"policy.rego": MINIMAL, "data.json": text})
    with pytest.raises(PolicyError, match=expected):
        load_bundle(root)


def test_missing_folder_and_empty_bundle_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not a directory"):
        load_bundle(tmp_path / "nope")
    write(tmp_path, {"only_test.rego": "package t\n"})
    with pytest.raises(PolicyError, match="no Rego modules"):
        load_bundle(tmp_path)


def test_non_utf8_module_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "policy.rego").write_bytes(b"package fedgov\n# caf\xe9\n")
    with pytest.raises(PolicyError, match="not UTF-8") as info:
        load_bundle(tmp_path)
    assert info.value.line == 2


def test_deeply_nested_data_is_rejected_not_a_recursion_error(tmp_path: Path) -> None:
    write(tmp_path, {"policy.rego": "package fedgov\n", "data.json": "[" * 100_000})
    with pytest.raises(PolicyError, match="nested more than 64 levels"):
        load_bundle(tmp_path)
