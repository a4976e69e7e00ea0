"""encode_arrow gives the Batch encode_columns gives, whatever Arrow type holds a column."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from support.specs import toy_spec

from fedgov.data import encode_arrow
from fedgov.errors import DataError
from fedgov.spec import CategoricalFeature, MonitoringSpec, NumericFeature, SensitiveAttribute
from fedgov.stats import Batch, encode_columns


def spec_for(positive: str = "1", values: tuple[str, ...] = ()) -> MonitoringSpec:
    return toy_spec(
        features=(
            NumericFeature("x", (0.0, 1.0, 2.0, 3.0)),
            CategoricalFeature("c", ("1", "2", "a")),
        ),
        sensitive=(SensitiveAttribute("g", ("F", "M")),),
        positive_label=positive,
        label_values=values,
        prediction_values=values,
    )


def assert_same(a: Batch, b: Batch) -> None:
    assert a.n_rows == b.n_rows
    assert a.numeric.keys() == b.numeric.keys() and a.codes.keys() == b.codes.keys()
    for k in a.numeric:
        np.testing.assert_array_equal(a.numeric[k], b.numeric[k])
    for k in a.codes:
        np.testing.assert_array_equal(a.codes[k], b.codes[k], err_msg=k)
    np.testing.assert_array_equal(a.y_true, b.y_true)
    np.testing.assert_array_equal(a.y_pred, b.y_pred)


COLUMNS: dict[str, list[Any]] = {
    "x": [0.5, None, 2.5, 3.0, -1.0, 7.0],
    "c": ["1", "2", "a", None, "zz", "2"],
    "g": ["F", "M", None, "X", "F", "M"],
    "y": [1, 0, None, 1, 0, 1],
    "p": [1, 1, 0, None, 0, 0],
}


def raw(columns: dict[str, list[Any]]) -> dict[str, np.ndarray]:
    return {k: np.array(v, dtype=object) for k, v in columns.items()}


def test_plain_arrow_columns() -> None:
    spec = spec_for()
    table = pa.table(COLUMNS)
    assert_same(encode_arrow(spec, table), encode_columns(spec, raw(COLUMNS)))


def test_dictionary_and_chunked_columns() -> None:
    spec = spec_for()
    table = pa.table(COLUMNS)
    enc = table.set_column(1, "c", table.column("c").dictionary_encode())
    enc = enc.set_column(2, "g", enc.column("g").dictionary_encode())
    chunked = pa.concat_tables([enc.slice(0, 2), enc.slice(2)])
    assert chunked.column("c").num_chunks == 2
    assert_same(encode_arrow(spec, chunked), encode_columns(spec, raw(COLUMNS)))
    assert_same(encode_arrow(spec, enc.to_batches()[0]), encode_columns(spec, raw(COLUMNS)))


def test_numbers_as_categories_and_nan_as_missing() -> None:
    spec = spec_for()
    cols = dict(COLUMNS, c=[1.0, 2.0, float("nan"), None, 3.5, 2.0])
    table = pa.table(cols)
    assert table.column("c").type == pa.float64()
    expected = encode_columns(spec, raw(cols))
    assert expected.codes["c"].tolist() == [0, 1, 4, 4, 3, 1]
    assert_same(encode_arrow(spec, table), expected)


@pytest.mark.parametrize(
    "positive, declared, values",
    [
        ("1", (), [True, False, None, True, False, True]),
        ("yes", (), ["yes", "no", None, "yes", "YES", "no"]),
        ("1", ("0", "1", "x"), ["1", "0", None, "1.0", "x", "0"]),
        ("1", (), [1.0, 0.0, float("nan"), 1.0, 0.0, None]),
    ],
)
def test_labels_follow_the_encode_columns_rule(
    positive: str, declared: tuple[str, ...], values: list[Any]
) -> None:
    spec = spec_for(positive, declared)
    cols = dict(COLUMNS, y=values, p=values)
    assert_same(encode_arrow(spec, pa.table(cols)), encode_columns(spec, raw(cols)))


def test_numeric_float64_without_nulls_is_not_copied() -> None:
    spec = spec_for()
    cols = dict(COLUMNS, x=[0.5, 1.0, 2.5, 3.0, -1.0, 7.0])
    table = pa.table(cols)
    batch = encode_arrow(spec, table)
    buffer = table.column("x").chunk(0).buffers()[1]
    assert batch.numeric["x"].ctypes.data == buffer.address


def test_text_in_a_numeric_column_is_a_data_error() -> None:
    cols = dict(COLUMNS, x=["0.5", "a", "1", "2", "3", "4"])
    with pytest.raises(DataError, match="'x' should be numeric"):
        encode_arrow(spec_for(), pa.table(cols))


def test_missing_column_is_named() -> None:
    cols = {k: v for k, v in COLUMNS.items() if k != "g"}
    with pytest.raises(DataError, match="'g'"):
        encode_arrow(spec_for(), pa.table(cols))


@pytest.mark.parametrize("kind", [pa.int64(), pa.uint64()])
def test_an_integer_beyond_float_precision_is_binned_not_refused(kind: pa.DataType) -> None:
    """2**53 + 1 has no exact float64 (Arrow's safe cast raised ArrowInvalid, a traceback):
    it is read as its nearest float, which is what a comparison with float edges needs."""
    big = 2**53 + 1
    table = pa.table({**COLUMNS, "x": pa.array([1, 2, big, 0, 3, 2], type=kind)})
    batch = encode_arrow(spec_for(), table)
    assert batch.numeric["x"].dtype == np.float64 and batch.numeric["x"][2] == float(big)
    assert list(batch.numeric["x"][[0, 1, 3, 4, 5]]) == [1.0, 2.0, 0.0, 3.0, 2.0]
