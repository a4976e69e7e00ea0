"""derive_spec: edges, categories and the reference profile from reference data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fedgov.errors import DataError
from fedgov.spec import CategoricalFeature, MonitoringSpec, NumericFeature, load_spec, save_spec
from fedgov.stats import DEFAULT_REFERENCE_RHO, WindowStats, derive_spec, encode_columns


def reference_columns(n: int = 1000, seed: int = 0) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    x[:10] = np.nan
    x[10] = np.inf
    return {
        "x": x,
        "k": rng.integers(0, 4, n),  # small ints: numeric unless forced categorical
        "city": rng.choice(["paris", "lyon", "nice"], n).astype(object),
        "const": np.full(n, 7.0),
        "sex": rng.choice(["F", "M"], n),
        "race": rng.choice(["w", "b"], n),
        "y": rng.integers(0, 2, n),
        "p": rng.integers(0, 2, n),
        "s": rng.random(n),
    }


def derive(cols: dict[str, object], **kw: object) -> MonitoringSpec:
    args: dict[str, object] = dict(
        model_id="m", model_version="1", label="y", prediction="p", sensitive=["sex", "race"]
    )
    args.update(kw)
    return derive_spec(cols, **args)  # type: ignore[arg-type]


def test_features_kinds_edges_and_categories() -> None:
    cols = reference_columns()
    spec = derive(cols, score="s", categorical=["k"], bins=8, intersections=[("sex", "race")])
    assert [f.name for f in spec.features] == ["x", "k", "city", "const"]
    x = spec.feature("x")
    assert isinstance(x, NumericFeature)
    finite = cols["x"][np.isfinite(cols["x"])]  # type: ignore[index]
    expected = np.unique(np.quantile(finite, np.linspace(0, 1, 9)))
    # inner edges are the quantiles; the outer ones are rounded outward (see below)
    np.testing.assert_array_equal(x.edges[1:-1], expected[1:-1])
    assert x.edges[0] < finite.min() and finite.max() < x.edges[-1]
    assert list(x.edges) == sorted(set(x.edges))
    assert spec.feature("k") == CategoricalFeature("k", ("0", "1", "2", "3"))
    assert spec.feature("city") == CategoricalFeature("city", ("lyon", "nice", "paris"))
    const = spec.feature("const")
    assert isinstance(const, NumericFeature) and const.edges == (6.5, 7.5)
    # 7.0 is an atom: it gets a one-value cell [7, nextafter(7)).
    assert const.fine_edges == (6.5, 7.0, float(np.nextafter(7.0, np.inf)), 7.5)
    assert [(a.name, a.groups) for a in spec.sensitive] == [
        ("sex", ("F", "M")),
        ("race", ("b", "w")),
    ]
    assert spec.intersections == (("sex", "race"),)
    assert spec.score == "s"


def test_reference_counts_sum_to_rows_and_equal_a_fold() -> None:
    cols = reference_columns(n=777)
    spec = derive(cols, score="s", reference_rho=None)  # exact counts, to compare with a fold
    assert spec.reference_privacy == {}
    for f in spec.features:
        assert sum(spec.reference[f.name]) == 777
        assert len(spec.reference[f.name]) == f.n_cells
    x = spec.reference["x"]
    assert x[-1] == 10  # NaN -> missing cell
    assert x[-2] == 1  # +inf -> overflow
    assert x[0] == 0  # nothing below the minimum quantile
    # the reference profile is what a window over the same data counts
    stats = WindowStats.zero(spec).fold(spec, encode_columns(spec, cols))
    assert {k: tuple(v.counts.tolist()) for k, v in stats.features.items()} == dict(spec.reference)


def test_small_int_column_is_numeric_by_default() -> None:
    spec = derive(reference_columns())
    assert isinstance(spec.feature("k"), NumericFeature)
    # values 0..3: inner edges at the values, outer ones a grid step (0.1) beyond
    assert spec.feature("k").edges == (-0.1, 1.0, 2.0, 3.1)  # type: ignore[union-attr]


def test_numbers_with_none_gaps_are_numeric() -> None:
    cols = {"x": [1, None, 2.5, 4], "sex": ["F", "M", "F", "M"], "y": [1, 0, 1, 0], "p": [1] * 4}
    spec = derive(cols, sensitive=["sex"], bins=2, reference_rho=None)
    assert spec.feature("x").edges == (0.9, 2.5, 4.1)  # type: ignore[union-attr]
    assert spec.reference["x"] == (0, 1, 2, 0, 1)


def test_huge_constant_gets_a_valid_bin() -> None:
    cols = {"x": [1e20] * 3, "sex": ["F"] * 3, "y": [1, 0, 1], "p": [1, 1, 1]}
    spec = derive(cols, sensitive=["sex"], reference_rho=None)
    lo, hi = spec.feature("x").edges  # type: ignore[union-attr]
    assert lo < 1e20 < hi
    assert spec.reference["x"] == (0, 3, 0, 0)


@pytest.mark.parametrize(
    "bad", [[np.nan, np.nan, np.nan], [None, None, None], [np.inf, -np.inf, np.nan]]
)
def test_all_missing_column_is_a_clear_data_error(bad: list[object]) -> None:
    cols = {"x": bad, "sex": ["F", "M", "F"], "y": [1, 0, 1], "p": [1, 0, 1]}
    with pytest.raises(DataError, match="'x'"):
        derive(cols, sensitive=["sex"])


def test_too_many_categories_suggests_binning() -> None:
    cols = {
        "id": [f"u{i}" for i in range(20)],
        "sex": ["F", "M"] * 10,
        "y": [1, 0] * 10,
        "p": [0, 1] * 10,
    }
    with pytest.raises(DataError, match="max_categories=5.*bin"):
        derive(cols, sensitive=["sex"], max_categories=5)
    spec = derive(cols, sensitive=["sex"], max_categories=20)
    assert len(spec.feature("id").categories) == 20  # type: ignore[union-attr]


def test_absent_columns_are_named() -> None:
    cols = reference_columns(n=50)
    with pytest.raises(DataError, match="'gender'"):
        derive(cols, sensitive=["gender"])
    with pytest.raises(DataError, match="'nope'"):
        derive(cols, categorical=["nope"])


def test_derived_spec_round_trips_and_has_a_stable_digest(tmp_path: Path) -> None:
    """The reference noise is drawn once, at derivation: the saved spec, and its
    digest, stay what they are through every save and load."""
    spec = derive(reference_columns(n=200))
    assert spec.reference_privacy["rho"] == DEFAULT_REFERENCE_RHO
    again = MonitoringSpec.from_dict(spec.to_dict())
    assert again == spec and again.digest == spec.digest
    save_spec(spec, tmp_path / "spec.json")
    loaded = load_spec(tmp_path / "spec.json")
    assert loaded == spec and loaded.digest == spec.digest
    assert loaded.reference_privacy == spec.reference_privacy
    # a second derivation draws fresh noise (its digest differs); without noise the
    # derivation is a function of the data
    assert derive(reference_columns(n=200)).digest != spec.digest
    exact = derive(reference_columns(n=200), reference_rho=None)
    assert derive(reference_columns(n=200), reference_rho=None).digest == exact.digest
