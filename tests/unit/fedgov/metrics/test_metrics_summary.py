"""compute_metrics: the policy input, federated equal to pooled, no NaN."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.specs import derive_toy_spec, toy_spec

from fedgov.metrics import compute_metrics
from fedgov.spec import CategoricalFeature, MonitoringSpec, NumericFeature
from fedgov.stats import WindowStats, encode_columns

FAIRNESS_KEYS = {
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "equal_opportunity_difference",
    "groups",
}
DRIFT_KEYS = {
    "psi",
    "psi_pvalue",
    "jensen_shannon",
    "chi2",
    "chi2_pvalue",
    "missing_rate",
    "reference_missing_rate",
}
NUMERIC_KEYS = DRIFT_KEYS | {"ks", "ks_bound", "wasserstein", "wasserstein_bound"}


def silo_data(n: int, seed: int, shift: float = 0.0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    x = rng.normal(loc=shift, size=n)
    x[rng.random(n) < 0.03] = np.nan
    x[rng.random(n) < 0.01] = np.inf
    city = rng.choice(["paris", "lyon", "nice", "brest"], n, p=[0.4, 0.3, 0.2, 0.1]).astype(object)
    city[rng.random(n) < 0.05] = None
    sex = rng.choice(["F", "M", "X"], n, p=[0.48, 0.48, 0.04]).astype(object)
    y = rng.integers(0, 2, n).astype(object)
    y[rng.random(n) < 0.02] = None
    return {
        "x": x,
        "city": city,
        "sex": sex,
        "race": rng.choice(["w", "b"], n),
        "y": y,
        "p": (rng.random(n) < 0.3 + 0.2 * (sex == "F")).astype(int),
    }


def reference_spec() -> MonitoringSpec:
    ref = silo_data(3000, seed=0)
    ref["city"] = np.array([c for c in ref["city"]], dtype=object)
    ref["city"][ref["city"] == "brest"] = "paris"  # brest will be unseen later
    return derive_toy_spec(
        ref,
        sensitive=["sex", "race"],
        intersections=[("sex", "race")],
        bins=6,
    )


SPEC = reference_spec()


def stats_of(spec: MonitoringSpec, cols: dict[str, Any]) -> WindowStats:
    return WindowStats.zero(spec).fold(spec, encode_columns(spec, cols))


def concat(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {k: np.concatenate([np.asarray(p[k], dtype=object) for p in parts]) for k in parts[0]}


def walk(value: Any) -> None:
    """Only plain JSON types, and no NaN or infinity."""
    if isinstance(value, dict):
        for k, v in value.items():
            assert type(k) is str
            walk(v)
    elif isinstance(value, list):
        for v in value:
            walk(v)
    else:
        assert value is None or type(value) in (int, float, str, bool), type(value)
        if type(value) is float:
            assert math.isfinite(value)


def assert_metrics_close(a: Any, b: Any, path: str = "") -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            assert_metrics_close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), path
    else:
        assert a == b, path


def test_shape_and_types() -> None:
    m = compute_metrics(SPEC, stats_of(SPEC, silo_data(1000, seed=1, shift=0.3)))
    walk(m)
    json.dumps(m, allow_nan=False)
    assert m["sample_size"] == 1000
    assert set(m["drift"]["features"]) == {"x", "city"}
    assert set(m["drift"]["features"]["x"]) == NUMERIC_KEYS
    assert set(m["drift"]["features"]["city"]) == DRIFT_KEYS
    assert set(m["fairness"]) == {"sex", "race", "sex*race"}
    for section in m["fairness"].values():
        assert set(section) == FAIRNESS_KEYS
    assert set(m["fairness"]["sex"]["groups"]) == {"F", "M", "X", "__other__", "__missing__"}
    assert m["fairness"]["sex"]["groups"]["__missing__"]["count"] == 0


def test_drift_reacts_to_a_shift_and_an_unseen_category() -> None:
    same = compute_metrics(SPEC, stats_of(SPEC, silo_data(3000, seed=5)))["drift"]["features"]
    moved = compute_metrics(SPEC, stats_of(SPEC, silo_data(3000, seed=5, shift=0.5)))["drift"][
        "features"
    ]
    assert moved["x"]["psi"] > 5 * same["x"]["psi"]
    assert moved["x"]["psi_pvalue"] < 1e-6 < same["x"]["psi_pvalue"]
    # brest is unseen by the reference: its rows land in the unseen cell
    assert same["city"]["psi"] > 0.1 and same["city"]["chi2_pvalue"] < 1e-6
    assert same["x"]["reference_missing_rate"] == pytest.approx(
        SPEC.reference["x"][-1] / sum(SPEC.reference["x"])
    )


@settings(max_examples=25, deadline=None, database=None)
@given(st.lists(st.integers(0, 400), min_size=1, max_size=5), st.integers(0, 10**6))
def test_metrics_of_merged_stats_equal_metrics_of_pooled_data(sizes: list[int], seed: int) -> None:
    parts = [silo_data(n, seed=seed + i, shift=0.2 * i) for i, n in enumerate(sizes)]
    merged = WindowStats.zero(SPEC)
    for part in parts:
        merged = merged.merge(stats_of(SPEC, part))
    pooled = stats_of(SPEC, concat(parts))
    assert merged == pooled
    assert_metrics_close(compute_metrics(SPEC, merged), compute_metrics(SPEC, pooled))


def test_zero_row_window_is_all_none() -> None:
    m = compute_metrics(SPEC, WindowStats.zero(SPEC))
    walk(m)
    assert m["sample_size"] == 0
    for name, entry in m["drift"]["features"].items():
        assert entry["reference_missing_rate"] is not None, name
        assert all(v is None for k, v in entry.items() if k != "reference_missing_rate")
    for section in m["fairness"].values():
        assert all(v is None for k, v in section.items() if k != "groups")
        assert all(g["count"] == 0 for g in section["groups"].values())


def test_all_missing_column_and_missing_labels_are_defined() -> None:
    cols = silo_data(200, seed=9)
    cols["x"] = np.full(200, np.nan)
    cols["y"] = np.array([None] * 200, dtype=object)
    m = compute_metrics(SPEC, stats_of(SPEC, cols))
    walk(m)
    x = m["drift"]["features"]["x"]
    assert x["missing_rate"] == 1.0
    assert x["psi"] is None and x["jensen_shannon"] is None and x["chi2"] is None
    assert m["fairness"]["sex"]["demographic_parity_difference"] is None  # no labelled rows


def test_features_without_reference_get_missing_rate_only() -> None:
    spec = toy_spec(
        features=(NumericFeature("x", (0.0, 1.0)), CategoricalFeature("c", ("a",))),
        reference={"c": (3, 1, 0)},
    )
    cols = {"x": [0.5, np.nan, np.inf], "c": ["a", "b", None], "y": [1, 0, 1], "p": [1, 1, 0]}
    m = compute_metrics(spec, stats_of(spec, cols))
    assert m["drift"]["features"]["x"] == {"missing_rate": pytest.approx(1 / 3)}
    assert set(m["drift"]["features"]["c"]) == DRIFT_KEYS
    assert m["fairness"] == {}


def test_refuses_statistics_of_another_spec() -> None:
    other = toy_spec(model_version="2", features=SPEC.features)
    with pytest.raises(ValueError, match="not counted under this spec"):
        compute_metrics(SPEC, WindowStats.zero(other))
