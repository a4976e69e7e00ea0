"""The compiled fold (numba) counts exactly what the numpy engine counts.

The numpy engine (``FEDGOV_STATS_ENGINE=numpy``) is the reference: every cell of
every table must be equal, on values where binning goes wrong if it goes wrong
(NaN, infinities, values on and beside edges, the closed last bin), on every
grid the binner picks, for missing and unseen categories, empty batches, score
histograms, intersections, and every column type the readers hand over.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any
from unittest import mock

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.specs import toy_spec
from test_stats_binning import DISTRIBUTIONS, probe_values, quantile_case, reference_counts

from fedgov.data import encode_arrow
from fedgov.errors import ConfigError
from fedgov.spec import CategoricalFeature, MonitoringSpec, NumericFeature, SensitiveAttribute
from fedgov.stats import Batch, WindowStats, _fold, _kernel, encode_columns
from fedgov.stats._binning import Binner


@contextmanager
def engine(name: str) -> Iterator[None]:
    """Fold with one engine (an env setting: hypothesis tests take no monkeypatch)."""
    with mock.patch.dict(os.environ, {"FEDGOV_STATS_ENGINE": name}):
        assert _fold.engine() == name
        yield


def both(spec: MonitoringSpec, batch: Batch) -> tuple[WindowStats, WindowStats]:
    out = []
    for name in ("numpy", "numba"):
        with engine(name):
            out.append(WindowStats.zero(spec).fold(spec, batch))
    return out[0], out[1]


def assert_same(spec: MonitoringSpec, batch: Batch) -> WindowStats:
    reference, compiled = both(spec, batch)
    assert compiled == reference
    assert compiled.to_dict() == reference.to_dict()  # the same cells, written the same
    return compiled


# -- one numeric column -----------------------------------------------------------------
@pytest.mark.parametrize("bins", [1, 10, 512])
@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_numeric_counts_equal_the_numpy_binner(name: str, bins: int) -> None:
    edges, x = quantile_case(name, bins, seed=11)
    b = Binner(edges)
    got = _kernel.numeric_counts(b, x)
    np.testing.assert_array_equal(got, b.counts(x))
    np.testing.assert_array_equal(got, reference_counts(x, edges))


def test_every_grid_kind_is_exercised() -> None:
    """Linear grid (smooth data), logarithmic (heavy tails), none (binary search)."""
    rng = np.random.default_rng(0)
    kinds = set()
    for name in ("normal", "cauchy", "far-bimodal"):
        data = DISTRIBUTIONS[name](rng, 50_000)
        edges = np.unique(np.quantile(data, np.linspace(0, 1, 513)))
        b = Binner(edges)
        kinds.add(b.grid_params[0])
        x = probe_values(edges, rng)
        np.testing.assert_array_equal(_kernel.numeric_counts(b, x), reference_counts(x, edges))
    assert kinds == {0, 1, 2}


def test_long_columns_are_counted_in_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel tallies in int32, so a column is handed over in parts: the same counts."""
    rng = np.random.default_rng(4)
    edges = np.linspace(-2, 2, 9)
    b = Binner(edges)
    x = probe_values(edges, rng, n=1000)
    whole = _kernel.numeric_counts(b, x)
    monkeypatch.setattr(_kernel, "_MAX_CALL", 7)
    np.testing.assert_array_equal(_kernel.numeric_counts(b, x), whole)
    np.testing.assert_array_equal(whole, reference_counts(x, edges))


def test_closed_last_bin_and_special_values() -> None:
    b = Binner((0.0, 1.0, 2.0))
    x = np.array(
        [
            2.0,
            np.nextafter(2.0, 3.0),
            0.0,
            -0.0,
            np.nextafter(0.0, -1.0),
            np.nan,
            np.inf,
            -np.inf,
            1.0,
            np.nextafter(1.0, 0.0),
        ]
    )
    # [underflow, [0, 1), [1, 2], overflow, missing]
    assert _kernel.numeric_counts(b, x).tolist() == [2, 3, 2, 2, 1]


# -- whole batches ----------------------------------------------------------------------
S_VALUES = [-0.5, 0.0, 0.1, 0.25, 0.6, 0.75, 0.99, 1.0, 1.5, np.nan, np.inf, -np.inf]


def mixed_spec(n_attrs: int, score: bool, fine: bool) -> MonitoringSpec:
    attrs = (
        SensitiveAttribute("sex", ("F", "M")),
        SensitiveAttribute("race", ("w", "b", "a")),
        SensitiveAttribute("age", ("young", "old")),
    )[:n_attrs]
    fields: dict[str, Any] = {}
    if score:
        fields |= {"score": "s", "score_edges": (0.0, 0.25, 0.5, 0.75, 1.0)}
    fine_edges = (-1.0, -0.5, 0.0, 0.5, 1.0) if fine else ()
    return toy_spec(
        features=(
            NumericFeature("x", (-1.0, 0.0, 1.0), fine_edges),
            CategoricalFeature("c", ("u", "v")),
        ),
        sensitive=attrs,
        intersections=(("race", "sex"),) if n_attrs >= 2 else (),
        **fields,
    )


row_values = {
    "x": [-2.0, -1.0, -0.5, 0.0, 0.25, 1.0, 1.5, np.nan, np.inf, -np.inf],
    "c": ["u", "v", "w", None],
    "sex": ["F", "M", "X", None],
    "race": ["w", "b", "a", "z", None],
    "age": ["young", "old", None],
    "y": [0, 1, None],
    "p": [0, 1, None],
    "s": S_VALUES,
}


@settings(max_examples=120, deadline=None, database=None)
@given(
    st.integers(1, 3),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.lists(st.integers(0, 2**31), min_size=0, max_size=80),
)
def test_folds_equal_the_numpy_engine(
    n_attrs: int, score: bool, fine: bool, joint: bool, picks: list[int]
) -> None:
    """Missing and unseen categories and groups, missing outcomes, NaN and infinite
    scores; the joint outcome table and the per-layout one (a joint table too large)."""
    spec = mixed_spec(n_attrs, score, fine)
    cols = {
        name: [values[(p * (7 + i)) % len(values)] for p in picks]
        for i, (name, values) in enumerate(row_values.items())
        if name in spec.columns()
    }
    batch = encode_columns(spec, cols)
    with mock.patch.object(_kernel, "JOINT_CELLS", _kernel.JOINT_CELLS if joint else 0):
        stats = assert_same(spec, batch)
    assert stats.rows == len(picks)


def test_empty_batch_folds_to_zero() -> None:
    spec = mixed_spec(3, True, True)
    batch = encode_columns(spec, {name: [] for name in spec.columns()})
    assert assert_same(spec, batch) == WindowStats.zero(spec)


def test_large_batch_with_blocks_of_scores() -> None:
    """Rows past the kernel's score block (2048) and skipped rows at block starts."""
    spec = mixed_spec(2, True, True)
    rng = np.random.default_rng(5)
    n = 10_000
    cols = {
        name: [values[i] for i in rng.integers(0, len(values), n)]
        for name, values in row_values.items()
        if name in spec.columns()
    }
    cols["y"][0] = cols["y"][2048] = None
    assert_same(spec, encode_columns(spec, cols))


def test_batches_of_other_dtypes() -> None:
    """A batch made by hand: float32 values, int32 codes, int64 outcomes, non-contiguous."""
    spec = mixed_spec(2, True, False)
    rng = np.random.default_rng(3)
    n = 3000
    batch = Batch(
        n_rows=n,
        numeric={"x": rng.normal(size=2 * n).astype(np.float32)[::2]},
        codes={
            "c": rng.integers(0, 4, n).astype(np.int32),
            "sex": rng.integers(0, 4, n).astype(np.int16),
            "race": rng.integers(0, 5, n),
        },
        y_true=rng.integers(-1, 2, n),
        y_pred=rng.integers(-1, 2, n).astype(np.int8),
        score=rng.random(n).astype(np.float32),
    )
    assert_same(spec, batch)


ARROW_NUMBERS = [
    pa.array([1, -3, None, 7, 0], pa.int8()),
    pa.array([1, 300, None, -7, 0], pa.int16()),
    pa.array([1, 2, 3, None, 2**31 - 1], pa.int32()),
    pa.array([1, 2, 3, None, 2**53], pa.int64()),
    pa.array([1, 2, 3, None, 255], pa.uint8()),
    pa.array([1, 2, 3, None, 2**53], pa.uint64()),
    pa.array([0.5, -1.0, None, np.nan, 1.0], pa.float16()),
    pa.array([0.5, -1.0, None, np.nan, np.inf], pa.float32()),
    pa.array([0.5, -1.0, None, np.nan, -np.inf], pa.float64()),
    pa.array([True, False, None, True, True], pa.bool_()),
    pa.array(
        [Decimal("0.5"), Decimal("-1"), None, Decimal("1"), Decimal("2")], pa.decimal128(5, 2)
    ),
    pa.array([None] * 5, pa.null()),
]


@pytest.mark.parametrize("values", ARROW_NUMBERS, ids=lambda a: str(a.type))
def test_every_arrow_type_the_readers_produce(values: pa.Array) -> None:
    spec = mixed_spec(2, True, True)
    n = len(values)
    table = pa.table(
        {
            "x": values,
            "c": pa.array(["u", "w", None, "v", "u"]).dictionary_encode(),
            "sex": pa.array(["F", "M", "X", None, "F"], pa.large_string()),
            "race": pa.array(["w", "b", "a", "z", None]).dictionary_encode(),
            "y": pa.array([0, 1, None, 1, 0], pa.int64()),
            "p": pa.array(["1", "0", "1", None, "0"]).dictionary_encode(),
            "s": values if not pa.types.is_null(values.type) else pa.array([0.1] * n),
        }
    )
    assert_same(spec, encode_arrow(spec, table))


# -- refusals ---------------------------------------------------------------------------
def test_codes_outside_their_cells_are_refused() -> None:
    spec = mixed_spec(1, False, False)
    ok = encode_columns(spec, {"x": [0.0], "c": ["u"], "sex": ["F"], "y": [1], "p": [1]})
    for codes in (
        {"c": np.array([9]), "sex": ok.codes["sex"]},
        {"c": ok.codes["c"], "sex": np.array([-1])},
    ):
        bad = Batch(1, ok.numeric, codes, ok.y_true, ok.y_pred)
        for name, says in (("numpy", None), ("numba", "outside")):  # numpy: bincount's words
            with engine(name), pytest.raises(ValueError, match=says):
                WindowStats.zero(spec).fold(spec, bad)


def test_an_impossible_outcome_is_refused() -> None:
    """The numpy engine would count a label of 2 into the next group's cells."""
    spec = mixed_spec(1, False, False)
    ok = encode_columns(spec, {"x": [0.0], "c": ["u"], "sex": ["F"], "y": [1], "p": [1]})
    bad = Batch(1, ok.numeric, ok.codes, np.array([2], np.int8), ok.y_pred)
    with engine("numba"), pytest.raises(ValueError, match="outcome other than"):
        WindowStats.zero(spec).fold(spec, bad)


# -- choosing the engine ----------------------------------------------------------------
def test_engine_defaults_to_numba_and_can_be_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _fold.engine() == "numba"
    monkeypatch.setenv("FEDGOV_STATS_ENGINE", " NumPy ")
    assert _fold.engine() == "numpy"
    monkeypatch.setenv("FEDGOV_STATS_ENGINE", "fortran")
    with pytest.raises(ConfigError, match="numba, numpy"):
        _fold.engine()


def test_without_numba_the_fold_falls_back_to_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_fold, "_kernel", lambda: None)
    assert _fold.engine() == "numpy"
    spec = mixed_spec(1, False, False)
    stats = WindowStats.zero(spec).fold(
        spec, encode_columns(spec, {"x": [0.5], "c": ["u"], "sex": ["F"], "y": [1], "p": [0]})
    )
    assert stats.features["x"].counts.tolist() == [0, 0, 1, 0, 0]
    monkeypatch.setenv("FEDGOV_STATS_ENGINE", "numba")
    with pytest.raises(ConfigError, match="does not import"):
        _fold.engine()


def test_compiled_kernels_are_cached_where_numba_cache_dir_points(tmp_path: Any) -> None:
    """A read-only install sets NUMBA_CACHE_DIR; the next process loads, not compiles."""
    code = "from fedgov.stats import _kernel; print(_kernel.warm_up())"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    first = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    )
    cached = sorted(p.suffix for p in tmp_path.rglob("*") if p.is_file())
    assert ".nbi" in cached and ".nbc" in cached, cached
    second = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    )
    assert float(second.stdout) < float(first.stdout)
