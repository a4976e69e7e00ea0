"""Fine counts: derived edges, one-pass folding, merging and serialising."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from support.specs import derive_toy_spec

from fedgov.spec import MonitoringSpec, NumericFeature, coarse_from_fine
from fedgov.stats import (
    FeatureCounts,
    OutcomeCounts,
    Privacy,
    WindowStats,
    encode_columns,
    numeric_cells,
)


def columns(n: int, seed: int, shift: float = 0.0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    x = rng.normal(loc=shift, size=n)
    x[rng.random(n) < 0.02] = np.nan
    x[rng.random(n) < 0.005] = np.inf
    return {
        "x": x,
        "k": rng.poisson(2, n).astype(float),  # integers: atoms
        "z": np.where(rng.random(n) < 0.3, 0.0, rng.exponential(size=n)),  # zero-inflated
        "sex": rng.choice(["F", "M"], n),
        "y": rng.integers(0, 2, n),
        "p": rng.integers(0, 2, n),
    }


def derive(cols: dict[str, Any], **kw: Any) -> MonitoringSpec:
    return derive_toy_spec(cols, sensitive=["sex"], **kw)


SPEC = derive(columns(20_000, seed=0))


def stats_of(cols: dict[str, Any]) -> WindowStats:
    return WindowStats.zero(SPEC).fold(SPEC, encode_columns(SPEC, cols))


def numeric(name: str) -> NumericFeature:
    f = SPEC.feature(name)
    assert isinstance(f, NumericFeature)
    return f


def test_derived_fine_edges_hold_the_coarse_ones_and_isolate_atoms() -> None:
    x = numeric("x")
    assert set(x.edges) <= set(x.fine_edges)
    assert (x.fine_edges[0], x.fine_edges[-1]) == (x.edges[0], x.edges[-1])
    assert 500 <= len(x.fine_edges) - 1 <= 512 + len(x.edges)
    k = numeric("k")
    # every integer below the maximum gets a one-value cell [v, nextafter(v))
    for v in range(int(k.edges[-1])):
        i = k.fine_edges.index(float(v))
        assert k.fine_edges[i + 1] == np.nextafter(float(v), np.inf)
    # the zero of the zero-inflated column (30% of rows) is the minimum: its cell is
    # [0, nextafter(0)), after the empty cell from the rounded outer edge up to it
    z = numeric("z")
    assert z.fine_edges[:3] == (z.edges[0], 0.0, float(np.nextafter(0.0, np.inf)))
    assert z.edges[0] < 0.0


def test_fine_bins_zero_and_the_reference_profiles() -> None:
    assert all(not f.fine_edges for f in derive(columns(500, 1), fine_bins=0).features)  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="fine_bins"):
        derive(columns(50, 1), fine_bins=-1)
    cols = columns(20_000, seed=0)
    stats = stats_of(cols)
    for f in SPEC.features:
        fc = stats.features[f.name]
        assert tuple(fc.fine.tolist()) == SPEC.reference_fine[f.name]
        assert tuple(fc.counts.tolist()) == SPEC.reference[f.name]


@pytest.mark.parametrize("name", ["x", "k", "z"])
def test_one_pass_gives_both_layouts_exactly(name: str) -> None:
    cols = columns(30_000, seed=5, shift=0.7)
    fc = stats_of(cols).features[name]
    f = numeric(name)
    x = np.asarray(cols[name], dtype=np.float64)
    fine = np.bincount(numeric_cells(x, f.fine_edges), minlength=f.n_fine_cells)
    coarse = np.bincount(numeric_cells(x, f.edges), minlength=f.n_cells)
    np.testing.assert_array_equal(fc.fine, fine)
    np.testing.assert_array_equal(fc.counts, coarse)
    assert coarse_from_fine(f, fc.fine.tolist()) == fc.counts.tolist()
    assert fc.fine.sum() == fc.counts.sum() == 30_000


def test_merge_adds_fine_and_suppressed_counts() -> None:
    one, two = columns(3000, seed=1), columns(2000, seed=2, shift=1.0)
    pooled = stats_of({k: np.concatenate([one[k], two[k]]) for k in one})
    assert stats_of(one).merge(stats_of(two)) == pooled
    fa = FeatureCounts("x", "numeric", [1, 2, 3], [1, 1, 1, 3], suppressed=2, fine_suppressed=1)
    merged = fa.merge(fa)
    assert merged.fine.tolist() == [2, 2, 2, 6] and merged.suppressed == 4
    assert merged.fine_suppressed == 2 and merged.total == 16
    with pytest.raises(ValueError, match="layouts differ"):
        fa.merge(FeatureCounts("x", "numeric", [1, 2, 3]))
    o = OutcomeCounts("sex", ("F",), np.ones((1, 2, 2)), suppressed=3)
    assert o.merge(o).suppressed == 6


def test_fine_counts_are_for_numeric_features_only() -> None:
    with pytest.raises(ValueError, match="fine counts"):
        FeatureCounts("c", "categorical", [1, 2, 3], [1, 2, 3])
    with pytest.raises(ValueError, match="fine counts"):
        FeatureCounts("x", "numeric", [1, 2, 3], [1, 2])


def test_privacy_merges_to_the_weakest_accuracy() -> None:
    assert Privacy(10, None).merge(Privacy(5, 2.0)) == Privacy(10, 2.0)
    assert Privacy(None, 1.0).merge(Privacy(None, 0.5)) == Privacy(None, 0.5)
    assert Privacy().merge(Privacy(3, 1.0)) == Privacy(3, 1.0)  # None is the identity
    for bad in ({"k": 0}, {"epsilon": 0.0}, {"epsilon": float("inf")}, {"k": True}):
        with pytest.raises(ValueError, match="privacy"):
            Privacy(**bad)


def test_dict_round_trip_keeps_fine_suppressed_and_privacy() -> None:
    s = stats_of(columns(500, seed=3))
    fc = s.features["x"]
    changed = WindowStats(
        spec_digest=s.spec_digest,
        rows=s.rows,
        features={**s.features, "x": FeatureCounts("x", "numeric", fc.counts, fc.fine, 4, 7)},
        outcomes={
            k: OutcomeCounts(k, v.groups, v.counts, suppressed=2) for k, v in s.outcomes.items()
        },
        outcome_missing=s.outcome_missing,
        privacy=Privacy(10, 1.5),
    )
    doc = json.loads(json.dumps(changed.to_dict()))
    assert doc["privacy"] == {"k": 10, "epsilon": 1.5}
    again = WindowStats.from_dict(doc)
    assert again == changed and again != s
    assert again.features["x"].fine_suppressed == 7


def test_documents_from_before_fine_counts_still_load() -> None:
    s = stats_of(columns(200, seed=4))
    doc = s.to_dict()
    del doc["privacy"]
    for v in doc["features"].values():
        v.pop("fine", None)
    old = WindowStats.from_dict(doc)
    assert old.privacy == Privacy() and old.features["x"].fine.size == 0
    assert old.features["x"].counts.tolist() == s.features["x"].counts.tolist()
