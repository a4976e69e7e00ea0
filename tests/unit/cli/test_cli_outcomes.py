"""`fedgov stats` on windows with undeclared outcome values, and on hostile spec files:
exit code and message, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli import no_traceback
from support.cli import run_fedgov as run

from fedgov.synthetic import credit_data, write_table


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("spec")
    reference = write_table(credit_data(2000, seed=2), d / "reference.csv")
    out = d / "spec.json"
    p = run(
        "spec", "--reference", str(reference), "--model", "credit-risk", "--model-version", "1",
        "--label", "repaid", "--prediction", "approved", "--sensitive", "sex",
        "--categorical", "purpose,employment", "-o", str(out),
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    return out


@pytest.mark.parametrize(("value", "shown"), [("yes", "'yes'"), ("2", "2"), ("1 ", "'1 '")])
def test_stats_refuses_an_undeclared_value(
    tmp_path: Path, spec: Path, value: str, shown: str
) -> None:
    cols = credit_data(500, seed=4)
    approved = cols["approved"].astype(str).astype(object)
    approved[::50] = value  # 10 rows
    window = write_table(cols | {"approved": approved}, tmp_path / "window.csv")
    p = run("stats", str(window), "--spec", str(spec))
    assert p.returncode == 3, p.stderr
    assert p.stderr.strip() == (
        f"fedgov: error: {window}: column 'approved': value {shown} (10 rows) is not a "
        "declared prediction value; the spec declares 0, 1. Fix the data, or re-derive the "
        "spec (`fedgov spec --reference FILE`) if the values changed."
    )
    no_traceback(p)


def test_stats_with_a_deeply_nested_spec_file(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000)
    window = write_table(credit_data(50, seed=4), tmp_path / "window.csv")
    p = run("stats", str(window), "--spec", str(deep))
    assert p.returncode == 2, p.stderr
    assert f"{deep}:1: nested more than 64 levels deep" in p.stderr
    no_traceback(p)


def test_stats_with_an_unknown_spec_key(tmp_path: Path, spec: Path) -> None:
    doc = json.loads(spec.read_text())
    doc["features"][0]["edgs"] = doc["features"][0].pop("edges")
    bad = tmp_path / "spec.json"
    bad.write_text(json.dumps(doc))
    p = run("stats", str(spec.parent / "reference.csv"), "--spec", str(bad))
    assert p.returncode == 2, p.stderr
    assert f"{bad}: features[0].edgs: unknown key (did you mean 'edges'?)" in p.stderr
    no_traceback(p)
