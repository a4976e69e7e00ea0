"""Encoding raw columns into a Batch, and numeric binning."""

from __future__ import annotations

import numpy as np
import pytest
from support.specs import toy_spec

from fedgov.errors import DataError, SpecError
from fedgov.spec import CategoricalFeature, MonitoringSpec, NumericFeature, SensitiveAttribute
from fedgov.stats import Batch, encode_columns, numeric_cells
from fedgov.stats._batch import value_key


def make_spec(**kw: object) -> MonitoringSpec:
    base: dict[str, object] = dict(
        features=(
            NumericFeature("x", (0.0, 1.0, 2.0, 3.0)),
            CategoricalFeature("c", ("a", "b", "1")),
        ),
        sensitive=(SensitiveAttribute("sex", ("F", "M")),),
    )
    return toy_spec(**(base | kw))


def naive_cell(x: float, edges: list[float]) -> int:
    k = len(edges) - 1
    if np.isnan(x):
        return k + 2
    if x < edges[0]:
        return 0
    if x > edges[-1]:
        return k + 1
    if x == edges[-1]:
        return k
    for i in range(k):
        if edges[i] <= x < edges[i + 1]:
            return i + 1
    raise AssertionError(x)


def test_numeric_cells_boundaries() -> None:
    edges = [0.0, 1.0, 2.0, 3.0]  # 3 bins, 6 cells
    x = np.array([-np.inf, -1.0, 0.0, 0.5, 1.0, 2.999, 3.0, 3.0001, np.inf, np.nan])
    assert numeric_cells(x, edges).tolist() == [0, 0, 1, 1, 2, 3, 3, 4, 4, 5]


def test_numeric_cells_match_a_naive_rule_on_random_data() -> None:
    rng = np.random.default_rng(0)
    edges = sorted(set(np.round(rng.normal(size=8), 1).tolist()))
    x = np.round(rng.normal(scale=1.5, size=2000), 1)  # rounding hits edges exactly
    x[rng.random(2000) < 0.05] = np.nan
    got = numeric_cells(x, edges)
    assert got.tolist() == [naive_cell(v, edges) for v in x]


def test_encode_categorical_unseen_missing_and_integral_floats() -> None:
    spec = make_spec()
    cols = {
        "x": [0.5, None, "2.5", np.inf, -np.inf, np.nan],
        "c": ["a", "b", "zzz", None, float("nan"), 1.0],  # 1.0 is keyed "1"
        "sex": np.array(["F", "M", "X", "F", "M", "F"]),
        "y": [1, 0, 1, 0, 1, 0],
        "p": [1, 1, 1, 0, 0, 0],
    }
    b = encode_columns(spec, cols)
    assert b.n_rows == 6
    assert b.codes["c"].tolist() == [0, 1, 3, 4, 4, 2]
    assert b.codes["sex"].tolist() == [0, 1, 2, 0, 1, 0]
    np.testing.assert_array_equal(b.numeric["x"], [0.5, np.nan, 2.5, np.inf, -np.inf, np.nan])
    assert b.numeric["x"].dtype == np.float64


def test_batch_holds_no_raw_strings() -> None:
    spec = make_spec()
    cols = {"x": [1.0], "c": ["secret"], "sex": ["F"], "y": [1], "p": [0]}
    b = encode_columns(spec, cols)
    for arr in [*b.numeric.values(), *b.codes.values(), b.y_true, b.y_pred]:
        assert arr.dtype.kind in "iuf"


@pytest.mark.parametrize(
    ("values", "positive", "expected"),
    [
        ([1, 0, None, 1], "1", [1, 0, -1, 1]),
        ([1.0, 0.0, np.nan, 1.0], "1", [1, 0, -1, 1]),
        (["1", "0", None, "1.0"], "1", [1, 0, -1, 1]),
        ([True, False, None, True], "1", [1, 0, -1, 1]),
        (["yes", "no", float("nan"), "maybe"], "yes", [1, 0, -1, 0]),
        (np.array([2, 1, 2]), "2", [1, 0, 1]),
        ([1, 0, 1], "1.0", [1, 0, 1]),
    ],
)
def test_encode_labels(values: list[object], positive: str, expected: list[int]) -> None:
    spec = make_spec(features=(), sensitive=(), positive_label=positive)
    b = encode_columns(spec, {"y": values, "p": values})
    assert b.y_true.dtype == np.int8
    assert b.y_true.tolist() == expected
    assert b.y_pred.tolist() == expected


def test_pandas_nullable_values_are_missing() -> None:
    pd = pytest.importorskip("pandas")
    spec = make_spec()
    df = pd.DataFrame(
        {
            "x": pd.array([1, None, 3], dtype="Int64"),
            "c": pd.array(["a", None, "b"], dtype="string"),
            "sex": ["F", None, "M"],
            "y": pd.array([1, None, 0], dtype="Int64"),
            "p": [1, 0, 0],
        }
    )
    b = encode_columns(spec, {k: df[k] for k in df.columns})
    np.testing.assert_array_equal(b.numeric["x"], [1.0, np.nan, 3.0])
    assert b.codes["c"].tolist() == [0, 4, 1]
    assert b.codes["sex"].tolist() == [0, 3, 1]
    assert b.y_true.tolist() == [1, -1, 0]


def test_missing_column_is_a_data_error_naming_it() -> None:
    spec = make_spec()
    with pytest.raises(DataError, match="'sex'"):
        encode_columns(spec, {"x": [1], "c": ["a"], "y": [1], "p": [1]})


def test_non_numeric_value_in_numeric_feature_is_a_data_error() -> None:
    spec = make_spec()
    cols = {"x": ["abc"], "c": ["a"], "sex": ["F"], "y": [1], "p": [1]}
    with pytest.raises(DataError, match="'x'"):
        encode_columns(spec, cols)


def test_unequal_lengths_are_a_data_error() -> None:
    spec = make_spec()
    cols = {"x": [1, 2], "c": ["a"], "sex": ["F"], "y": [1], "p": [1]}
    with pytest.raises(DataError, match="unequal length"):
        encode_columns(spec, cols)


def test_batch_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="other lengths"):
        Batch(2, {"x": np.zeros(3)}, {}, np.zeros(2, np.int8), np.zeros(2, np.int8))


def test_empty_columns_encode_to_an_empty_batch() -> None:
    spec = make_spec()
    b = encode_columns(spec, {"x": [], "c": [], "sex": [], "y": [], "p": []})
    assert b.n_rows == 0
    assert b.codes["c"].shape == (0,)


def test_equal_values_of_different_types_share_a_code() -> None:
    spec = make_spec()
    c = [1, "1", 1.0, np.int64(1), np.float32(1.0), "a", ["un", "hashable"]]
    n = len(c)
    cols = {"x": [0.0] * n, "c": c, "sex": ["F"] * n, "y": [1] * n, "p": [1] * n}
    assert encode_columns(spec, cols).codes["c"].tolist() == [2, 2, 2, 2, 2, 0, 3]


def test_value_key() -> None:
    assert [value_key(v) for v in (None, float("nan"), np.nan, 2.0, 2.5, -0.0, True, "x")] == [
        None,
        None,
        None,
        "2",
        "2.5",
        "0",
        "True",
        "x",
    ]


def test_column_both_categorical_feature_and_sensitive_attribute() -> None:
    same = make_spec(features=(CategoricalFeature("sex", ("F", "M")),))
    b = encode_columns(same, {"sex": ["F", "M", "X"], "y": [1, 0, 1], "p": [0, 0, 1]})
    assert b.codes["sex"].tolist() == [0, 1, 2]
    clash = make_spec(features=(CategoricalFeature("sex", ("F",)),))
    with pytest.raises(SpecError, match="same categories and groups"):
        encode_columns(clash, {"sex": ["F"], "y": [1], "p": [0]})
