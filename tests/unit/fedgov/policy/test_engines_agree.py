"""Every shipped policy pack decides the same on every engine.

Engines: regopy (rego-cpp), OPA's Go evaluator in-process (opa-go), and the
OPA REST backend against the test server that evaluates with OPA's Go
evaluator. Packs: deploy/policies/* and fedgov/policy/bundles/*. Inputs: a
report with groups, and variations that reach each rule (missing and mistyped
fields, null metrics, whole-number floats, small samples, several
jurisdictions). A decision that differs between engines, down to a reason's
wording, fails. The known divergences of rego-cpp that the packs work around
are pinned at the end, so that a regopy that fixes one makes its test fail
and the workaround can go.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.policy_input import DROP, attribute, changed, feature, group, policy_input
from test_conformance import BACKENDS, Factory, backend

from fedgov.policy import Decision, default_bundle_path

ROOT = Path(__file__).resolve().parents[4]
PACKS = {
    **{
        p.name: p for p in sorted((ROOT / "deploy" / "policies").iterdir()) if any(p.glob("*.rego"))
    },
    **{
        f"bundles/{p.name}": p for p in sorted(default_bundle_path().parent.iterdir()) if p.is_dir()
    },
}


def _fresh(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


BASE = policy_input(
    silo="bank-de",
    jurisdiction="EU-DE",
    window={"start": _fresh(30), "end": _fresh(1)},
    features={"age": feature(0.35, 0.001), "income": feature(0.05, 0.4, 0.2)},
    fairness={
        "sex": attribute(
            0.3,
            0.6,
            0.3,
            {"F": group(480, 0.3), "M": group(500, 0.5), "__missing__": group(20, 0.4)},
        ),
        "sex*race": attribute(
            0.1, 0.85, 0.1, {"F|A": group(240, 0.45), "M|B": group(250, 0.5), "X|A": group(10, 0.1)}
        ),
    },
)


def _with(path: str, value: Any) -> dict[str, Any]:
    return changed(BASE, {path: value})


INPUTS: dict[str, Any] = {
    "report": BASE,
    "no_sample_size": _with("sample_size", DROP),
    "sample_size_string": _with("sample_size", "1000"),
    "sample_size_null": _with("sample_size", None),
    "small_sample": _with("sample_size", 10),
    "whole_number_metrics": _with("drift.features.age", feature(1.0, 0.0, 1.0)),
    "ratio_of_one_and_zero": _with(
        "fairness.sex.groups", {"F": group(500, 0.0), "M": group(500, 1.0)}
    ),
    "null_metrics": _with(
        "fairness.sex",
        attribute(None, None, None, {"F": group(0, None), "M": group(500, None)}),
    ),
    "null_psi": _with("drift.features.age", feature(None, None, None)),
    "no_fairness": _with("fairness", DROP),
    "fairness_not_an_object": _with("fairness", [1, 2]),
    "no_drift": _with("drift", DROP),
    "no_window": _with("window", DROP),
    "window_end_garbage": _with("window.end", "last tuesday"),
    "window_end_offset": _with("window.end", _fresh(2).replace("Z", "+00:00")),
    "us_ny": _with("jurisdiction", "US-NY"),
    "ch": _with("jurisdiction", "CH"),
    "unknown_jurisdiction": _with("jurisdiction", "XX-YY"),
    "jurisdiction_missing": _with("jurisdiction", DROP),
    "candidate_stage": {**BASE, "stage": "candidate"},
    "numpy_values": _with("sample_size", np.int64(1000)),
    "empty": {},
}


@pytest.fixture(scope="module")
def decisions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, dict]]]:
    """backend -> pack -> input name -> Decision."""
    out: dict[str, dict[str, dict[str, Decision]]] = {}
    for name in BACKENDS:
        with backend(name) as make:
            out[name] = {pack: _decide(make, path) for pack, path in PACKS.items()}
    yield out


def _decide(make: Factory, path: Path) -> dict[str, Decision]:
    engine = make(path)
    return {label: engine.evaluate(inp) for label, inp in INPUTS.items()}


def test_every_pack_is_covered() -> None:
    assert {"eu", "nyc-ll144", "us-four-fifths", "bundles/default"} <= set(PACKS)


@pytest.mark.parametrize("pack", sorted(PACKS))
@pytest.mark.parametrize("engine", [b for b in BACKENDS if b != "regopy"])
def test_pack_decides_as_on_regopy(
    pack: str, engine: str, decisions: dict[str, dict[str, dict[str, Decision]]]
) -> None:
    reference, other = decisions["regopy"][pack], decisions[engine][pack]
    differ = {k: (reference[k], other[k]) for k in INPUTS if reference[k] != other[k]}
    assert differ == {}


@pytest.mark.parametrize("pack", sorted(PACKS))
def test_no_pack_fails_open_or_errors(
    pack: str, decisions: dict[str, dict[str, dict[str, Decision]]]
) -> None:
    """Missing or mistyped evidence denies, by a rule of the pack, never by an engine error."""
    for engine in BACKENDS:
        got = decisions[engine][pack]
        for label in ("no_sample_size", "sample_size_string", "sample_size_null", "empty"):
            assert got[label].allow is False, (engine, label)
        assert not any(d.failed_closed for d in got.values()), engine


# --- rego-cpp's known divergences, pinned --------------------------------------------

V1 = "package fedgov\n\nimport rego.v1\n\n"


def _one_rule_decision(tmp_path: Path, make: Factory, rule: str, inp: dict[str, Any]) -> Decision:
    root = tmp_path / "b"
    root.mkdir(exist_ok=True)
    (root / "policy.rego").write_text(
        V1
        + rule
        + '\ndecision := {"allow": count(deny) == 0, "deny": deny, "warn": [], "actions": []}\n',
        encoding="utf-8",
    )
    return make(root).evaluate(inp)


def test_null_compares_greater_than_a_number_on_regopy_only(tmp_path: Path) -> None:
    """Why the packs guard every comparison with is_number(): rego-cpp 1.5.2 says null > 0.2."""
    rule = 'deny contains "big" if input.x > 0.2\n'
    got = {}
    for name in ("regopy", "opa-go"):
        with backend(name) as make:
            got[name] = _one_rule_decision(tmp_path, make, rule, {"x": None}).allow
    assert got == {"regopy": False, "opa-go": True}


def test_not_over_an_undefined_argument_is_undefined_on_opa_only(tmp_path: Path) -> None:
    """Why the packs read optional input with object.get(): OPA's `not f(input.missing)` is
    undefined (so a deny rule written that way never fires), rego-cpp's is true."""
    rule = 'deny contains "no n" if not is_number(input.n)\n'
    got = {}
    for name in ("regopy", "opa-go"):
        with backend(name) as make:
            got[name] = _one_rule_decision(tmp_path, make, rule, {}).allow
    assert got == {"regopy": False, "opa-go": True}
