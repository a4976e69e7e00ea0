"""The Spark engine: its counts equal the local engine's bit for bit on the same Parquet
data, its window identity follows the files, and its errors are ours (no traceback)."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support.specs import derive_credit_spec

from fedgov.cli.main import main as fedgov_main
from fedgov.data import (
    SparkInput,
    fold_file,
    fold_spark,
    open_spark_window,
    spark_session,
)
from fedgov.errors import ConfigError, DataError
from fedgov.spec import MonitoringSpec, save_spec
from fedgov.stats import WindowStats
from fedgov.synthetic import credit_data

ROWS = 6000


@pytest.fixture(scope="module")
def spec() -> MonitoringSpec:
    return derive_credit_spec(with_score=True, score="score")


def with_gaps(columns: dict[str, np.ndarray], seed: int = 9) -> dict[str, np.ndarray]:
    """NaN in a number and the score, None in a category, a group and the label, and a
    category the spec never saw: every kind of cell the fold has."""
    rng = np.random.default_rng(seed)
    out = {k: v.copy() for k, v in columns.items()}
    n = len(out["repaid"])
    out["income"][rng.random(n) < 0.05] = np.nan
    out["score"][rng.random(n) < 0.03] = np.nan
    for name in ("purpose", "sex", "repaid"):
        col = out[name].astype(object)
        col[rng.random(n) < 0.05] = None
        out[name] = col
    out["employment"][rng.random(n) < 0.05] = "retired"
    return out


def write_parts(columns: dict[str, np.ndarray], folder: Path, parts: int = 3) -> list[Path]:
    """The rows as ``parts`` Parquet files of several row groups each."""
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {k: pa.array(v.tolist() if v.dtype == object else v) for k, v in columns.items()}
    )
    n = table.num_rows
    paths = []
    for i in range(parts):
        lo, hi = i * n // parts, (i + 1) * n // parts
        path = folder / f"part-{i}.parquet"
        pq.write_table(table.slice(lo, hi - lo), path, row_group_size=700)
        paths.append(path)
    return paths


def local_fold(paths: list[Path], spec: MonitoringSpec) -> WindowStats:
    stats = WindowStats.zero(spec)
    for path in paths:
        stats = stats.merge(fold_file(path, spec, chunk_rows=1000))
    return stats


@pytest.fixture(scope="module")
def window_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    columns = with_gaps(credit_data(ROWS, seed=3, drift=0.5, with_score=True))
    return write_parts(columns, tmp_path_factory.mktemp("window"))


def test_counts_equal_the_local_engines_bit_for_bit(
    spark: Any, spec: MonitoringSpec, window_files: list[Path]
) -> None:
    expected = local_fold(window_files, spec)
    assert expected.rows == ROWS and expected.outcome_missing > 0  # the gaps are there
    found = open_spark_window(SparkInput(path=str(window_files[0].parent), master="local[2]"))
    assert len(found.files) == 3
    assert fold_spark(found, spec) == expected
    # Several partitions (a shuffle), and chunks smaller than a partition: same counts.
    shuffled = dataclasses.replace(found, frame=found.frame.repartition(7))
    assert shuffled.frame.rdd.getNumPartitions() == 7
    assert fold_spark(shuffled, spec, chunk_rows=300) == expected


def test_a_catalog_table_folds_like_its_files(
    spark: Any, spec: MonitoringSpec, window_files: list[Path]
) -> None:
    spark.read.parquet(str(window_files[0].parent)).write.mode("overwrite").saveAsTable(
        "scored_window"
    )
    found = open_spark_window(SparkInput(table="scored_window"))
    assert found.name == "table scored_window" and found.files
    assert fold_spark(found, spec) == local_fold(window_files, spec)


def test_window_identity_changes_with_a_file_and_not_otherwise(spark: Any, tmp_path: Path) -> None:
    paths = write_parts(credit_data(600, seed=4), tmp_path / "w")
    source = SparkInput(path=str(tmp_path / "w"))
    first = open_spark_window(source)
    assert first.identity.startswith("files:")
    assert open_spark_window(source).identity == first.identity  # read again: same
    st = paths[1].stat()
    os.utime(paths[1], ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # touched
    touched = open_spark_window(source).identity
    assert touched != first.identity
    write_parts(credit_data(600, seed=5), tmp_path / "w", parts=3)  # rewritten
    rewritten = open_spark_window(source).identity
    assert rewritten not in (first.identity, touched)
    write_parts(credit_data(300, seed=6), tmp_path / "extra", parts=1)[0].rename(
        tmp_path / "w" / "part-9.parquet"
    )
    added = open_spark_window(source)
    assert len(added.files) == 4 and added.identity != rewritten


def test_undeclared_outcomes_are_counted_over_the_whole_window(
    spark: Any, spec: MonitoringSpec, tmp_path: Path
) -> None:
    columns = credit_data(900, seed=7, with_score=True)
    approved = columns["approved"].astype(str).astype(object)
    approved[::50] = "yes"  # 18 rows, in every file
    path = write_parts(columns | {"approved": approved}, tmp_path / "bad")
    with pytest.raises(DataError) as info:
        fold_spark(open_spark_window(SparkInput(path=str(tmp_path / "bad"))), spec)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'bad'}: column 'approved': value 'yes' (18 rows)")
    assert len(path) == 3


def test_missing_data_and_columns_are_data_errors(
    spark: Any, spec: MonitoringSpec, tmp_path: Path
) -> None:
    with pytest.raises(DataError, match="Spark cannot read it"):
        open_spark_window(SparkInput(path=str(tmp_path / "nowhere")))
    with pytest.raises(DataError, match="table no_such_table: Spark cannot read it"):
        open_spark_window(SparkInput(table="no_such_table"))
    cols = credit_data(100, seed=1, with_score=True)
    del cols["income"]
    write_parts(cols, tmp_path / "short", parts=1)
    found = open_spark_window(SparkInput(path=str(tmp_path / "short")))
    with pytest.raises(DataError, match=r"missing column\(s\) \['income'\]"):
        fold_spark(found, spec)
    spark.createDataFrame([(1,)], "a int").createOrReplaceTempView("no_files")
    with pytest.raises(DataError, match="reads it from no file"):
        open_spark_window(SparkInput(table="no_files"))


def test_without_pyspark_the_engine_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, spec: MonitoringSpec
) -> None:
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # import fails as if not installed
    with pytest.raises(ConfigError, match=r"pip install 'fedgov\[spark\]'") as info:
        spark_session(SparkInput(table="t"))
    assert info.value.exit_code == 2
    save_spec(spec, tmp_path / "spec.json")
    argv = ["stats", "--engine", "spark", "--table", "t", "--spec", str(tmp_path / "spec.json")]
    assert fedgov_main(argv) == 2


def test_cli_stats_on_spark_prints_the_local_counts(
    spark: Any,
    spec: MonitoringSpec,
    window_files: list[Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    save_spec(spec, tmp_path / "spec.json")
    folder = str(window_files[0].parent)
    args = ["stats", "--spec", str(tmp_path / "spec.json"), "--json", "--no-progress"]
    assert fedgov_main([*args, "--engine", "spark", "--master", "local[2]", folder]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert WindowStats.from_dict(doc["stats"]) == local_fold(window_files, spec)
    assert doc["window"]["engine"] == "spark" and doc["window"]["files"] == 3
    assert doc["window"]["id"] == open_spark_window(SparkInput(path=folder)).identity
    assert fedgov_main([*args, str(window_files[0])]) == 0  # local engine: unchanged
    assert json.loads(capsys.readouterr().out)["window"] == {"engine": "local"}


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--table", "t"], "--table and --master need --engine spark"),
        (["--engine", "spark"], "either FILE (Parquet) or --table NAME"),
        (["--engine", "spark", "--table", "t", "x.parquet"], "either FILE"),
        ([], "FILE is required"),
    ],
)
def test_cli_flags_that_do_not_fit_the_engine(
    flags: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fedgov_main(["stats", "--spec", str(tmp_path / "spec.json"), *flags]) == 2
    assert message in capsys.readouterr().err


def test_fedgov_imports_and_folds_without_pyspark(tmp_path: Path) -> None:
    """Nothing imports pyspark until the engine is asked for: with it unimportable, the
    agent, the CLI and the local engine load and fold as before."""
    from support.cli import python_prints

    path = tmp_path / "w.parquet"
    pq.write_table(pa.table({"x": [1.0, 2.0, float("nan")], "y": [0, 1, 1], "p": [1, 1, 0]}), path)
    code = f"""
import sys
sys.modules["pyspark"] = None
import agent.service, agent.config, fedgov.cli.main, fedgov.data
from fedgov.data import fold_file
from fedgov.spec import MonitoringSpec, NumericFeature
spec = MonitoringSpec(model_id="m", model_version="1", label="y", prediction="p",
                      features=(NumericFeature("x", (0.0, 1.5, 3.0)),))
print(fold_file({str(path)!r}, spec).features["x"].counts.tolist())
"""
    assert python_prints(code) == "[0, 1, 1, 0, 1]"
