"""The spec attack (e) on specs as ``derive_spec`` makes them: rounded outer edges and
noised reference counts are not recovered; exact counts and raw extremes are."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from fedgov.privacy.audit import spec_extremes
from fedgov.spec import MonitoringSpec, NumericFeature
from fedgov.stats import derive_spec


def _derive(n: int = 3000, **kw):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    income = np.round(rng.lognormal(10.5, 0.4, n), 2)
    income[7] = 10.0 * income.max()  # one person holds the maximum
    cols = {
        "income": income,
        "age": rng.integers(18, 90, n).astype(float),
        "sex": rng.choice(["F", "M"], n),
        "y": rng.integers(0, 2, n),
        "p": rng.integers(0, 2, n),
    }
    spec = derive_spec(
        cols, model_id="m", model_version="1", label="y", prediction="p", sensitive=["sex"], **kw
    )
    extremes = {"income": (float(income.min()), float(income.max())), "age": (18.0, 89.0)}
    return spec, extremes


def _income(spec: MonitoringSpec) -> NumericFeature:
    f = next(f for f in spec.features if f.name == "income")
    assert isinstance(f, NumericFeature)
    return f


@pytest.mark.parametrize("truth", [False, True])
def test_noised_derived_spec_recovers_nothing(truth: bool) -> None:
    spec, extremes = _derive()
    sigma = spec.reference_privacy["sigma"]
    found = spec_extremes.attack(spec, 10, extremes if truth else None)
    assert not [f for f in found if f.recovered]
    small = [f for f in found if f.attack == "spec-small-cell"]
    assert small  # the tails' fine cells are small, noised
    assert all(f.error_kind == "sd" and f.error == f.protection == sigma for f in small)


def test_exact_reference_counts_are_small_cells_recovered() -> None:
    spec, _ = _derive(reference_rho=None)
    found = spec_extremes.attack(spec, 10)
    small = [f for f in found if f.attack == "spec-small-cell"]
    assert small and all(f.recovered and f.error_kind == "exact" for f in small)
    assert not [f for f in found if f.attack == "spec-extreme"]  # edges still rounded


def test_raw_extreme_edges_are_flagged() -> None:
    spec, extremes = _derive()
    f = _income(spec)
    lo, hi = extremes["income"]
    raw = replace(
        spec,
        features=tuple(
            replace(
                g,
                edges=(lo, *g.edges[1:-1], hi),
                fine_edges=(lo, *g.fine_edges[1:-1], hi),
            )
            if g.name == "income"
            else g
            for g in spec.features
        ),
    )
    assert f.edges[-1] > hi  # derive rounded it outward
    for given in (extremes, None):
        hits = {x.cell for x in spec_extremes.attack(raw, 10, given) if x.recovered}
        assert "income max edge" in hits, given
    with_truth = spec_extremes.attack(raw, 10, extremes)
    top = next(x for x in with_truth if x.cell == "income max edge")
    assert top.estimate == top.truth == hi
