"""The spec leaves the silo: attacks on what it says about the reference rows.

An aggregator that stores the spec reads its edges and reference counts. These
tests try what it would: read an extreme value off an edge (the one person with
the top income), and read small cells off the reference counts.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.cli import no_traceback
from support.cli import run_fedgov as run
from support.specs import CREDIT

from fedgov.cli import verbs_spec
from fedgov.spec import MonitoringSpec, NumericFeature
from fedgov.stats import DEFAULT_REFERENCE_RHO, WindowStats, derive_spec, encode_columns
from fedgov.stats._derive import TAIL_ROWS
from fedgov.synthetic import credit_data, write_table


def population(n: int, seed: int = 0) -> dict[str, Any]:
    """Incomes with one outlier (a single person holds a maximum 10x the next), ages,
    and a category only 2 people have."""
    rng = np.random.default_rng(seed)
    income = np.round(rng.lognormal(10.5, 0.4, n), 2)
    income[7] = 10.0 * income.max()
    city = rng.choice(["paris", "lyon", "nice"], n).astype(object)
    city[:2] = "tiny"
    return {
        "income": income,
        "age": rng.integers(18, 90, n).astype(float),
        "city": city,
        "sex": rng.choice(["F", "M"], n),
        "y": rng.integers(0, 2, n),
        "p": rng.integers(0, 2, n),
    }


def derive(cols: dict[str, Any], **kw: Any) -> MonitoringSpec:
    args: dict[str, Any] = dict(
        model_id="m", model_version="1", label="y", prediction="p", sensitive=["sex"]
    )
    return derive_spec(cols, **(args | kw))


def exact_counts(spec: MonitoringSpec, cols: dict[str, Any]) -> WindowStats:
    return WindowStats.zero(spec).fold(spec, encode_columns(spec, cols))


@pytest.mark.parametrize("n", [60, 400, 5000])
def test_no_edge_is_a_reference_extreme(n: int) -> None:
    cols = population(n)
    spec = derive(cols)
    for name in ("income", "age"):
        f = spec.feature(name)
        assert isinstance(f, NumericFeature)
        x = np.sort(np.asarray(cols[name], dtype=float))
        lo, hi = float(x[0]), float(x[-1])
        edges = set(f.edges) | set(f.fine_edges)
        # an extreme is an edge only when it is many people's value (an integer age
        # held by TAIL_ROWS rows or more gets its own fine cell); one person's, never
        for extreme in (lo, hi):
            if np.sum(x == extreme) < TAIL_ROWS:
                assert extreme not in edges, (name, extreme)
        if name == "income":  # the outlier's value is one person's
            assert lo not in edges and hi not in edges
        # outer edges strictly outside the range, on a grid of 2 significant digits of it
        step = 10.0 ** (math.floor(math.log10(hi - lo)) - 1)
        assert f.edges[0] < lo and hi < f.edges[-1], name
        for edge in (f.edges[0], f.edges[-1]):
            assert edge / step == pytest.approx(round(edge / step), abs=1e-6), (name, edge)
        # ... and not far out: within two grid steps of the extreme
        assert lo - 2 * step <= f.edges[0] and f.edges[-1] <= hi + 2 * step, name
        # no fine edge interpolates one of the TAIL_ROWS smallest or largest values
        # (two edges between the same two values would solve for both)
        values, counts = np.unique(x, return_counts=True)
        common = values[counts >= TAIL_ROWS]
        atoms = {*common.tolist(), *np.nextafter(common, np.inf).tolist()}
        inner = sorted(set(f.fine_edges) - set(f.edges) - atoms)
        if inner:
            assert x[TAIL_ROWS] <= inner[0] and inner[-1] <= x[-1 - TAIL_ROWS], name


def test_the_outlying_maximum_is_known_only_to_within_a_grid_step() -> None:
    cols = population(2000)
    top = float(np.max(cols["income"]))
    f = derive(cols).feature("income")
    assert isinstance(f, NumericFeature)
    # the top income is alone in the last coarse cell; its edges are the best bound
    below = max(e for e in (*f.edges, *f.fine_edges) if e < top)
    assert below <= float(np.sort(cols["income"])[-2]) < top < f.edges[-1]
    assert top not in f.edges and top not in f.fine_edges
    # what the spec says of it: somewhere in (below, top edge), a stretch of more than
    # a whole grid step when the top edge is rounded up from a value not on the grid
    step = 10.0 ** (math.floor(math.log10(top - float(np.min(cols["income"])))) - 1)
    assert f.edges[-1] - below > step


def test_reference_counts_are_noised_not_exact() -> None:
    cols = population(20_000)
    spec = derive(cols)
    truth = exact_counts(spec, cols)
    sigma = spec.reference_privacy["sigma"]
    features = len(spec.features)
    assert spec.reference_privacy["rho"] == DEFAULT_REFERENCE_RHO
    assert sigma == pytest.approx(math.sqrt(features / (2 * DEFAULT_REFERENCE_RHO)))
    errors: list[np.ndarray] = []
    for name in ("income", "age"):
        shown = np.asarray(spec.reference_fine[name])
        exact = truth.features[name].fine
        errors.append(shown - exact)
        # coarse counts are the sums of the noised fine ones: they are noised too
        assert not np.array_equal(spec.reference[name], truth.features[name].counts)
    err = np.concatenate(errors)
    # most cells moved; the error has the stated scale (cells here hold ~40 rows: no
    # clipping at 0); a cell shown exactly is chance (P(0) ~ 1 / (sqrt(2 pi) sigma))
    assert np.mean(err == 0) < 0.5
    assert np.var(err) == pytest.approx(sigma**2, rel=0.3)
    assert np.all(np.abs(err) <= 7 * sigma)


def test_a_two_person_category_is_not_shown_exactly() -> None:
    cols = population(300)
    layout_index = None
    shown = []
    for _ in range(30):
        spec = derive(cols)
        f = spec.feature("city")
        layout_index = f.categories.index("tiny")  # type: ignore[union-attr]
        shown.append(spec.reference["city"][layout_index])
    # the attacker's reading of the cell: right only by chance, wrong most times
    assert sum(v == 2 for v in shown) < 20
    assert len(set(shown)) > 1
    exact = derive(cols, reference_rho=None)
    assert exact.reference["city"][layout_index] == 2 and exact.reference_privacy == {}


def test_a_bad_reference_rho_is_refused() -> None:
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="reference_rho"):
            derive(population(50), reference_rho=bad)


def test_cli_default_is_the_library_default() -> None:
    assert verbs_spec.DEFAULT_REFERENCE_RHO == DEFAULT_REFERENCE_RHO


def _cli_spec(tmp_path: Path, *extra: str) -> Any:
    reference = write_table(credit_data(1500, seed=4), tmp_path / "reference.csv")
    out = tmp_path / "spec.json"
    p = run(
        "spec", "--reference", str(reference), "--model", CREDIT["model_id"],
        "--model-version", "1", "--label", CREDIT["label"], "--prediction",
        CREDIT["prediction"], "--sensitive", "sex,age_band", "--categorical",
        "purpose,employment", "-o", str(out), *extra,
    )  # fmt: skip
    no_traceback(p)
    return p, (json.loads(out.read_text()) if p.returncode == 0 else None)


def test_cli_reference_rho(tmp_path: Path) -> None:
    help_text = run("spec", "--help").stdout
    assert "--reference-rho" in help_text and "none" in help_text
    p, doc = _cli_spec(tmp_path)
    assert p.returncode == 0, p.stderr
    assert doc["reference_privacy"]["rho"] == DEFAULT_REFERENCE_RHO
    assert "noised (rho 0.5" in p.stdout
    p, doc = _cli_spec(tmp_path, "--reference-rho", "2")
    assert p.returncode == 0 and doc["reference_privacy"]["rho"] == 2.0
    p, doc = _cli_spec(tmp_path, "--reference-rho", "none")
    assert p.returncode == 0 and "reference_privacy" not in doc
    assert "exact reference counts" in p.stdout
    p, _ = _cli_spec(tmp_path, "--reference-rho", "0")
    assert p.returncode == 2 and "--reference-rho" in p.stderr and "> 0" in p.stderr
