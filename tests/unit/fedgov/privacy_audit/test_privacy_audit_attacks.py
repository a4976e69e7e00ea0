"""`fedgov privacy audit` recovers from the pre-issue-14 reports what issue 14 lists."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from fedgov.privacy import suppress_small_cells
from fedgov.privacy.audit import Truth, joint, margins, run_audit
from fedgov.privacy.audit._finding import Finding

T0 = 1_700_000_000_000


@pytest.fixture(scope="module")
def findings(releases_and_spec, truth) -> list[Finding]:  # type: ignore[no-untyped-def]
    releases, spec = releases_and_spec
    t, extremes = truth
    return run_audit(releases, specs=[spec], truth=t, extremes=extremes).findings


def _hit(findings: list[Finding], attack: str, where: str, cell: str) -> Finding:
    found = [f for f in findings if f.attack == attack and f.where.startswith(where) and f.cell == cell]
    assert len(found) == 1, (attack, where, cell, found)
    return found[0]


def test_margin_differencing_gives_the_3_person_subgroup_exactly(findings) -> None:  # type: ignore[no-untyped-def]
    cells = [
        _hit(findings, "margin", f"A [{T0}, {T0 + 200})", f"outcome sex*age_band F|18-29 y={y} pred={p}")
        for y in (0, 1)
        for p in (0, 1)
        if (y, p) in ((0, 1), (1, 1))  # the shown-as-0 cells: FP and TP (TN and FN are true 0)
    ]
    assert [(c.low, c.high, c.truth, c.recovered) for c in cells] == [(1, 1, 1, True), (2, 2, 2, True)]
    tn = _hit(findings, "margin", f"A [{T0}, {T0 + 200})", "outcome sex*age_band F|18-29 y=0 pred=0")
    assert (tn.low, tn.high) == (0, 0) and not tn.recovered  # a true 0 reveals no one


def test_fine_and_score_deficits(findings) -> None:  # type: ignore[no-untyped-def]
    fine = _hit(findings, "deficit", f"A [{T0}, {T0 + 200})", "fine income cell=6")
    assert (fine.low, fine.high, fine.truth, fine.recovered) == (7, 7, 7, True)
    score = _hit(findings, "deficit", f"A [{T0}, {T0 + 200})", "score sex F y=1 cell=2")
    assert score.recovered and score.low <= score.truth <= score.high and score.error < 10


def test_window_differencing_gives_the_new_rows(findings) -> None:  # type: ignore[no-untyped-def]
    piece = [f for f in findings if f.attack == "window" and f.recovered]
    assert all(f.low <= f.truth <= f.high for f in piece)
    exact = [f for f in piece if f.low == f.high]
    assert len(exact) >= 20
    pacific = [f for f in exact if f.cell.startswith("outcome race pacific")]
    assert sum(f.truth for f in pacific) == 2  # the two pacific rows of the later window


def test_spec_extremes_flag_the_max_income(findings, truth) -> None:  # type: ignore[no-untyped-def]
    _, extremes = truth
    top = _hit(findings, "spec-extreme", "spec", "income max edge")
    assert top.estimate == extremes["income"][1] == 483270.0 and top.recovered


def test_joint_system_pins_the_subgroup_despite_complementary_suppression(
    releases_and_spec, true_windows
) -> None:  # type: ignore[no-untyped-def]
    _, spec = releases_and_spec
    raw = true_windows[("A", T0, T0 + 200)]
    from fedgov.privacy.audit import Release

    guarded = suppress_small_cells(raw, 10, complementary=True)
    r = Release("A-comp", "A", ("credit", "v1", spec.digest), T0, T0 + 200, guarded)
    truth = Truth({("A", T0, T0 + 200): raw})
    simple = {f.cell: f for f in margins.attack([r], spec, truth)}
    both = {f.cell: f for f in joint.attack([r], [], spec, truth)}
    tp = "outcome sex*age_band F|18-29 y=1 pred=1"
    assert simple[tp].truth == 2
    assert both[tp].recovered and both[tp].low <= 2 <= both[tp].high and both[tp].error < 10


def test_cli_exit_1_with_json(fixture_dir, capsys) -> None:  # type: ignore[no-untyped-def]
    from fedgov.cli.main import main

    rc = main(["privacy", "audit", str(fixture_dir / "report-A-200.json"), str(fixture_dir / "spec.json"), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 1 and doc["recovered"] > 0
    assert any(f["cell"] == "outcome sex*age_band F|18-29 y=1 pred=1" and f["high"] == 2 for f in doc["findings"])


def test_cli_bad_input_exit_2(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from fedgov.cli.main import main

    bad = tmp_path / "r.json"
    bad.write_text('{"stats": {}}')
    assert main(["privacy", "audit", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "missing key" in err


def test_unguarded_release_has_nothing_protected(releases_and_spec, true_windows) -> None:  # type: ignore[no-untyped-def]
    releases, spec = releases_and_spec
    raw = [replace(r, stats=true_windows[(r.silo, r.start_ms, r.end_ms)]) for r in releases if r.silo != "A"]
    assert run_audit(raw, specs=[]).findings == []
