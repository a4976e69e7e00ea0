"""A label or prediction value the spec does not declare is refused, counted, never a negative."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support.specs import derive_toy_spec

from fedgov.data import fold_file, iter_batches
from fedgov.errors import DataError
from fedgov.spec import MonitoringSpec
from fedgov.stats import encode_columns
from fedgov.synthetic import credit_data

N = 3000
CHUNK = 700  # bad rows fall in several chunks: their count is the whole file's
BAD_ROWS = np.arange(5, N, 250)  # 12 rows, in chunks 0..4


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    return credit_data(N, seed=11)


def with_values(
    data: dict[str, np.ndarray], column: str, rows: np.ndarray, value: Any
) -> dict[str, np.ndarray]:
    out = dict(data)
    col = np.array([str(v) for v in data[column]], dtype=object)
    col[rows] = value
    out[column] = col
    return out


def write_csv(columns: dict[str, np.ndarray], path: Path) -> Path:
    """Written by hand, unquoted, so a value is in the file exactly as given ("1 ")."""
    names = list(columns)
    lines = [",".join(names)]
    for i in range(len(columns[names[0]])):
        lines.append(",".join("" if columns[n][i] is None else str(columns[n][i]) for n in names))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_parquet(columns: dict[str, np.ndarray], path: Path) -> Path:
    table = pa.table(
        {k: pa.array(v.tolist() if v.dtype == object else v) for k, v in columns.items()}
    )
    pq.write_table(table, path, row_group_size=1000)
    return path


WRITERS = {"csv": write_csv, "parquet": write_parquet}


def refused(path: Path, spec: MonitoringSpec, **kw: Any) -> str:
    with pytest.raises(DataError) as info:
        fold_file(path, spec, chunk_rows=CHUNK, **kw)
    return str(info.value)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
@pytest.mark.parametrize(
    ("value", "shown"), [("yes", "'yes'"), ("2", "2"), ("1 ", "'1 '"), (" 1", "' 1'")]
)
def test_an_undeclared_prediction_is_refused_with_column_value_and_count(
    tmp_path: Path,
    credit_spec: MonitoringSpec,
    data: dict[str, np.ndarray],
    kind: str,
    value: str,
    shown: str,
) -> None:
    path = WRITERS[kind](with_values(data, "approved", BAD_ROWS, value), tmp_path / f"w.{kind}")
    message = refused(path, credit_spec)
    assert message == (
        f"{path}: column 'approved': value {shown} (12 rows) is not a declared prediction "
        "value; the spec declares 0, 1. Fix the data, or re-derive the spec "
        "(`fedgov spec --reference FILE`) if the values changed."
    )


def test_label_and_prediction_are_reported_together_over_the_whole_file(
    tmp_path: Path, credit_spec: MonitoringSpec, data: dict[str, np.ndarray]
) -> None:
    cols = with_values(data, "approved", BAD_ROWS[:3], "yes")  # chunk 0 and 1
    cols = with_values(cols, "approved", BAD_ROWS[3:5], "Y")
    cols = with_values(cols, "repaid", np.array([2950, 2960]), "-1")  # the last chunk only
    path = write_csv(cols, tmp_path / "w.csv")
    for read_ahead in (False, True):
        message = refused(path, credit_spec, read_ahead=read_ahead)
        assert "column 'approved': values 'yes' (3 rows), 'Y' (2 rows) are not declared " in message
        assert "prediction values; the spec declares 0, 1" in message
        assert "column 'repaid': value -1 (2 rows) is not a declared label value" in message


def test_undeclared_numbers_are_refused_on_the_numeric_path(
    tmp_path: Path, credit_spec: MonitoringSpec, data: dict[str, np.ndarray]
) -> None:
    ints = dict(data, repaid=data["repaid"].copy())
    ints["repaid"][BAD_ROWS] = 2
    assert "(12 rows)" in refused(write_parquet(ints, tmp_path / "i.parquet"), credit_spec)
    floats = dict(data, repaid=data["repaid"].astype(np.float64))
    floats["repaid"][BAD_ROWS[:4]] = 0.5
    floats["repaid"][BAD_ROWS[4:]] = np.nan  # missing: not refused
    message = refused(write_parquet(floats, tmp_path / "f.parquet"), credit_spec)
    assert "column 'repaid': value 0.5 (4 rows) is not a declared label value" in message


def test_many_values_are_summarised(
    tmp_path: Path, credit_spec: MonitoringSpec, data: dict[str, np.ndarray]
) -> None:
    cols = with_values(data, "approved", BAD_ROWS, None)
    for i, row in enumerate(BAD_ROWS):
        cols["approved"][row] = f"v{i:02d}"
    message = refused(write_parquet(cols, tmp_path / "w.parquet"), credit_spec)
    listed = "'v00' (1 row), 'v01' (1 row), 'v02' (1 row), 'v03' (1 row), 'v04' (1 row)"
    assert f"column 'approved': values {listed} and 7 more are not" in message
    assert "and 7 more are not declared prediction values; " in message


def test_encode_columns_refuses_the_same_values(
    credit_spec: MonitoringSpec, data: dict[str, np.ndarray]
) -> None:
    cols = with_values(data, "approved", BAD_ROWS, "yes")
    with pytest.raises(DataError, match=r"^column 'approved': value 'yes' \(12 rows\) is not"):
        encode_columns(credit_spec, cols)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_declared_values_count_as_before(
    tmp_path: Path, credit_spec: MonitoringSpec, data: dict[str, np.ndarray], kind: str
) -> None:
    """Only declared values (written 0/1/1.0, some missing): the confusion counts are the
    raw cross-tabulation, and missing labels are counted missing, not negative."""
    cols = dict(data, repaid=data["repaid"].astype(object), approved=data["approved"].copy())
    cols["repaid"][BAD_ROWS] = None
    if kind == "csv":
        cols["approved"] = cols["approved"].astype(object)
        cols["approved"][BAD_ROWS[:4]] = "1.0"  # the number 1, written otherwise
    path = WRITERS[kind](cols, tmp_path / f"w.{kind}")
    stats = fold_file(path, credit_spec, chunk_rows=CHUNK)
    assert stats.outcome_missing == len(BAD_ROWS)
    known = np.ones(N, bool)
    known[BAD_ROWS] = False
    y = data["repaid"][known].astype(int)
    p = data["approved"][known].astype(int)
    sex = data["sex"][known]
    table = stats.outcomes["sex"]
    for g, name in enumerate(table.groups):
        mine = sex == name
        expected = [[int(np.sum(mine & (y == t) & (p == q))) for q in (0, 1)] for t in (0, 1)]
        assert table.counts[g].tolist() == expected, name
    assert int(table.counts.sum()) == N - len(BAD_ROWS)


def test_a_spec_with_word_labels_refuses_other_spellings(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    words = np.where(rng.random(400) < 0.5, "yes", "no").astype(object)
    ref = {"x": rng.random(400), "g": words.copy(), "y": words.copy(), "p": words.copy()}
    spec = derive_toy_spec(
        ref,
        sensitive=["g"],
        positive_label="yes",
    )
    assert spec.label_values == spec.prediction_values == ("no", "yes")
    window = dict(ref, y=ref["y"].copy())
    window["y"][:3] = "YES"
    path = write_parquet(window, tmp_path / "w.parquet")
    with pytest.raises(DataError, match=re.escape("value 'YES' (3 rows) is not a declared label")):
        list(iter_batches(path, spec))
    with pytest.raises(DataError, match="the spec declares 'no', 'yes'"):
        list(iter_batches(path, spec))


def test_a_spec_that_declares_nothing_is_not_checked(tmp_path: Path) -> None:
    """Positive label other than 0/1 and no declared values (an older spec): as before."""
    spec = derive_toy_spec(
        {"x": np.arange(4.0), "g": np.array(list("abab"), dtype=object)}
        | {"y": np.array(["2", "3", "2", "3"], dtype=object)}
        | {"p": np.array(["2", "3", "2", "3"], dtype=object)},
        sensitive=["g"],
        positive_label="2",
    )
    old = MonitoringSpec.from_dict(
        {k: v for k, v in spec.to_dict().items() if not k.endswith("_values")}
    )
    assert old.label_values == ()
    batch = encode_columns(
        old, {"x": [1.0, 2.0], "g": ["a", "b"], "y": ["2", "yes"], "p": ["7", "2"]}
    )
    assert batch.y_true.tolist() == [1, 0] and batch.y_pred.tolist() == [0, 1]


@pytest.mark.parametrize("positive", ["1", "true", "True"])
def test_true_false_in_csv_count_as_before(tmp_path: Path, positive: str) -> None:
    """Declared words keep Arrow's reading of a CSV column: true/false are booleans, so
    ``true`` is the positive label 1 (or true, True), as it was before values were declared."""
    from fedgov.data import read_columns

    rng = np.random.default_rng(5)
    y = rng.random(300) < 0.4
    p = rng.random(300) < 0.5
    lines = ["x,g,y,p"] + [
        f"{rng.random():.3f},{'ab'[i % 2]},{str(y[i]).lower()},{str(p[i]).lower()}"
        for i in range(300)
    ]
    path = tmp_path / "w.csv"
    path.write_text("\n".join(lines) + "\n")
    spec = derive_toy_spec(
        read_columns(path, string_columns=["g"]),
        sensitive=["g"],
        positive_label=positive,
    )
    assert {"false", "true"} <= set(spec.label_values)
    counts = fold_file(path, spec).outcomes["g"].counts.sum(axis=0)
    expected = [[int(np.sum((y == t) & (p == q))) for q in (False, True)] for t in (False, True)]
    assert counts.tolist() == expected
    # a 0/1 spec (the default of older specs) refuses the words instead of guessing
    zero_one = MonitoringSpec.from_dict(
        {k: v for k, v in spec.to_dict().items() if not k.endswith("_values")}
        | {"positive_label": "1"}
    )
    with pytest.raises(DataError, match=r"column 'y': values 'false' \(\d+ rows\), 'true' "):
        fold_file(path, zero_one)
