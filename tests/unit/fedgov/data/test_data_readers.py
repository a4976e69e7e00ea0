"""Streaming readers: CSV and Parquet agree with each other and with encode_columns."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fedgov.data import (
    file_digest,
    fold_file,
    iter_batches,
    iter_record_batches,
    read_columns,
)
from fedgov.errors import DataError
from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats, encode_columns
from fedgov.synthetic import credit_data, write_table


def pooled(spec: MonitoringSpec, columns: dict[str, np.ndarray]) -> WindowStats:
    return WindowStats.zero(spec).fold(spec, encode_columns(spec, columns))


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    return credit_data(5000, seed=3, drift=0.5)


def with_gaps(columns: dict[str, np.ndarray], seed: int = 9) -> dict[str, np.ndarray]:
    """Missing values in a numeric, a categorical, a sensitive and the label column."""
    rng = np.random.default_rng(seed)
    out = {k: v.copy() for k, v in columns.items()}
    n = len(out["repaid"])
    out["income"][rng.random(n) < 0.05] = np.nan
    for name in ("purpose", "sex", "repaid"):
        col = out[name].astype(object)
        col[rng.random(n) < 0.05] = None
        out[name] = col
    out["employment"][rng.random(n) < 0.05] = "retired"  # unseen category
    return out


@pytest.mark.parametrize("read_ahead", [True, False])
def test_csv_and_parquet_give_identical_stats(
    tmp_path: Path, credit_spec: MonitoringSpec, data: dict[str, np.ndarray], read_ahead: bool
) -> None:
    csv = write_table(data, tmp_path / "w.csv")
    parquet = write_table(data, tmp_path / "w.parquet")
    from_csv = fold_file(csv, credit_spec, read_ahead=read_ahead)
    from_parquet = fold_file(parquet, credit_spec, read_ahead=read_ahead)
    assert from_csv.rows == from_parquet.rows == 5000
    assert from_csv == from_parquet == pooled(credit_spec, data)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_missing_values_count_the_same_as_encode_columns(
    tmp_path: Path, credit_spec: MonitoringSpec, data: dict[str, np.ndarray], suffix: str
) -> None:
    gappy = with_gaps(data)
    path = write_table(gappy, tmp_path / f"gaps{suffix}")
    stats = fold_file(path, credit_spec, chunk_rows=700)
    expected = pooled(credit_spec, gappy)
    assert stats == expected
    assert stats.features["income"].counts[-1] > 0  # the missing cell was used
    assert stats.outcome_missing > 0


@pytest.mark.parametrize("chunk_rows", [333, 1000, 2500, 4999])
@pytest.mark.parametrize("read_ahead", [True, False])
def test_chunked_read_equals_one_shot_encode(
    tmp_path: Path,
    credit_spec: MonitoringSpec,
    data: dict[str, np.ndarray],
    chunk_rows: int,
    read_ahead: bool,
) -> None:
    # Row groups of 1000: a chunk of 333 streams inside a row group, 2500 packs two.
    path = tmp_path / "w.parquet"
    table = pa.table({k: pa.array(v.tolist() if v.dtype == object else v) for k, v in data.items()})
    pq.write_table(table, path, row_group_size=1000)
    csv = write_table(data, tmp_path / "w.csv")
    batches = list(iter_batches(path, credit_spec, chunk_rows=chunk_rows, read_ahead=read_ahead))
    assert len(batches) > 1 and max(b.n_rows for b in batches) <= chunk_rows
    assert sum(b.n_rows for b in batches) == 5000
    expected = pooled(credit_spec, data)
    stats = WindowStats.zero(credit_spec)
    for b in batches:
        stats = stats.fold(credit_spec, b)
    assert stats == expected
    assert fold_file(csv, credit_spec, chunk_rows=chunk_rows, read_ahead=read_ahead) == expected


def test_csv_without_a_final_newline(tmp_path: Path, credit_spec: MonitoringSpec) -> None:
    data = credit_data(300, seed=4)
    path = write_table(data, tmp_path / "w.csv")
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    assert fold_file(path, credit_spec, chunk_rows=7) == pooled(credit_spec, data)


def test_missing_file_names_the_path(tmp_path: Path, credit_spec: MonitoringSpec) -> None:
    path = tmp_path / "nope.parquet"
    with pytest.raises(DataError, match=r"nope\.parquet.*not found"):
        fold_file(path, credit_spec)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_missing_column_names_path_and_column(
    tmp_path: Path, credit_spec: MonitoringSpec, data: dict[str, np.ndarray], suffix: str
) -> None:
    partial = {k: v for k, v in data.items() if k != "income"}
    path = write_table(partial, tmp_path / f"partial{suffix}")
    with pytest.raises(DataError) as info:
        fold_file(path, credit_spec)
    assert f"partial{suffix}" in str(info.value)
    assert "missing column" in str(info.value) and "'income'" in str(info.value)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_garbage_bytes_are_a_data_error(
    tmp_path: Path, credit_spec: MonitoringSpec, suffix: str
) -> None:
    path = tmp_path / f"garbage{suffix}"
    path.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(DataError, match=f"garbage\\{suffix}"):
        fold_file(path, credit_spec)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_text_in_a_numeric_column_names_the_column(
    tmp_path: Path, credit_spec: MonitoringSpec, suffix: str
) -> None:
    data = credit_data(50, seed=5)
    bad = data["income"].astype(object)
    bad[7] = "n/a, see notes"
    data["income"] = np.array([str(v) for v in bad], dtype=object)
    path = write_table(data, tmp_path / f"text{suffix}")
    with pytest.raises(DataError) as info:
        fold_file(path, credit_spec)
    assert f"text{suffix}" in str(info.value) and "income" in str(info.value)


def test_unsupported_suffix(tmp_path: Path, credit_spec: MonitoringSpec) -> None:
    path = tmp_path / "w.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(DataError, match=r"w\.xlsx.*unsupported file type"):
        fold_file(path, credit_spec)


def test_closing_early_stops_the_read_ahead_thread(
    tmp_path: Path, credit_spec: MonitoringSpec, data: dict[str, np.ndarray]
) -> None:
    path = write_table(data, tmp_path / "w.parquet")
    batches = iter_batches(path, credit_spec, chunk_rows=100, read_ahead=True)
    first = next(batches)
    assert first.n_rows == 100
    batches.close()  # type: ignore[attr-defined]
    assert not [t for t in threading.enumerate() if t.name == "fedgov-read-ahead"]


def test_read_columns_agree_between_formats(tmp_path: Path, data: dict[str, np.ndarray]) -> None:
    csv = read_columns(write_table(data, tmp_path / "r.csv"), string_columns=["sex"])
    parquet = read_columns(write_table(data, tmp_path / "r.parquet"), string_columns=["sex"])
    assert list(csv) == list(parquet) == list(data)
    for name in data:
        if data[name].dtype == object or name == "sex":
            assert csv[name].tolist() == parquet[name].tolist() == [str(v) for v in data[name]]
        else:
            np.testing.assert_array_equal(csv[name], parquet[name])
            np.testing.assert_array_equal(csv[name], data[name].astype(np.float64))


def test_iter_record_batches_coerces_types(tmp_path: Path, data: dict[str, np.ndarray]) -> None:
    path = write_table(data, tmp_path / "w.parquet")
    batches = list(
        iter_record_batches(
            path,
            ["age", "sex", "repaid"],
            string_columns=["sex"],
            float_columns=["repaid"],
            chunk_rows=1500,
        )
    )
    assert sum(b.num_rows for b in batches) == 5000 and max(b.num_rows for b in batches) <= 1500
    assert batches[0].schema.field("sex").type == pa.string()
    assert batches[0].schema.field("repaid").type == pa.float64()


def test_file_digest_is_sha256_of_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "w.bin"
    payload = bytes(range(256)) * 50_000  # crosses read-buffer boundaries
    path.write_bytes(payload)
    assert file_digest(path) == hashlib.sha256(payload).hexdigest()
    with pytest.raises(DataError, match="missing.bin"):
        file_digest(tmp_path / "missing.bin")


def test_csv_column_empty_in_the_first_piece_takes_its_later_type(tmp_path: Path) -> None:
    # The first 64 kB piece has only empty "b" values (Arrow infers null type);
    # later pieces hold numbers: the pieces must still join into one table.
    path = tmp_path / "late.csv"
    lines = ["a,b"] + [f"{i}," for i in range(20_000)] + [f"{i},{i % 3}" for i in range(5_000)]
    path.write_text("\n".join(lines) + "\n")
    cols = read_columns(path)
    assert np.isnan(cols["b"][:20_000]).all()
    assert cols["b"][20_000:].tolist() == [float(i % 3) for i in range(5_000)]
    batches = list(iter_record_batches(path, ["a", "b"], chunk_rows=4096))
    assert sum(b.num_rows for b in batches) == 25_000
    assert max(b.num_rows for b in batches) <= 4096
