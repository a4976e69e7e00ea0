"""Folding on several threads: same counts, results in order, no deadlock, clear errors."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from support.specs import toy_spec

from fedgov.errors import ConfigError
from fedgov.spec import CategoricalFeature, NumericFeature, SensitiveAttribute
from fedgov.stats import WindowStats, encode_columns
from fedgov.stats._parallel import MIN_PARALLEL_VALUES, run_all, threads

_FINE = np.linspace(-2.0, 2.0, 65)
SPEC = toy_spec(
    features=(
        NumericFeature("x0", tuple(_FINE[::8])),  # coarse cells only
        *(
            NumericFeature(f"x{i}", tuple(_FINE[::step]), tuple(_FINE))
            for i, step in ((1, 4), (2, 16), (3, 32))
        ),
        CategoricalFeature("c", ("a", "b", "c")),
    ),
    sensitive=(SensitiveAttribute("sex", ("F", "M")), SensitiveAttribute("race", ("w", "b"))),
    intersections=(("sex", "race"),),
)


def _columns(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {f"x{i}": rng.standard_normal(n) * (1 + i / 2) for i in range(4)}
    cols["x0"][rng.random(n) < 0.01] = np.nan
    cols["c"] = np.array(["a", "b", "c", "z"], dtype=object)[rng.integers(0, 4, n)]
    cols["sex"] = np.array(["F", "M", None], dtype=object)[rng.integers(0, 3, n)]
    cols["race"] = np.array(["w", "b", "x"], dtype=object)[rng.integers(0, 3, n)]
    cols["y"] = rng.integers(0, 2, n)
    cols["p"] = rng.integers(0, 2, n)
    return cols


@pytest.mark.parametrize("n_threads", ["2", "3", "8"])
def test_threaded_fold_counts_equal_single_thread(monkeypatch, n_threads):
    n = MIN_PARALLEL_VALUES // 3  # x 6 tasks: above the threshold, so threads are used
    batch = encode_columns(SPEC, _columns(n, seed=7))
    monkeypatch.setenv("FEDGOV_STATS_THREADS", "1")
    serial = WindowStats.zero(SPEC).fold(SPEC, batch)
    monkeypatch.setenv("FEDGOV_STATS_THREADS", n_threads)
    seen: set[str] = set()
    original = run_all
    both = threading.Barrier(2, timeout=30)  # the first two tasks run at the same time

    def spy(tasks, *, values):
        def noting(i, task):
            seen.add(threading.current_thread().name)
            if i < 2:
                both.wait()
            return task()

        return original([lambda i=i, t=t: noting(i, t) for i, t in enumerate(tasks)], values=values)

    monkeypatch.setattr("fedgov.stats._fold.run_all", spy)
    threaded = WindowStats.zero(SPEC).fold(SPEC, batch)
    assert threaded == serial
    assert serial.rows == n and sum(serial.features["x0"].counts) == n
    assert any(name.startswith("fedgov-fold") for name in seen), seen  # really threaded


def test_results_keep_task_order(monkeypatch):
    monkeypatch.setenv("FEDGOV_STATS_THREADS", "3")
    tasks = [lambda i=i: i * i for i in range(10)]
    assert run_all(tasks, values=MIN_PARALLEL_VALUES) == [i * i for i in range(10)]


def test_a_busy_thread_does_not_hold_back_the_other_tasks(monkeypatch):
    """Tasks are handed out one at a time: while one thread is stuck in a slow task,
    the other takes every task left."""
    monkeypatch.setenv("FEDGOV_STATS_THREADS", "2")
    started = threading.Event()
    release = threading.Event()
    ran_on: dict[int, str] = {}

    def task(i: int) -> int:
        ran_on[i] = threading.current_thread().name
        if i == 0:
            started.set()
            assert release.wait(30)
        elif i == 9:
            release.set()  # the last one: by now one thread has taken 1..9 alone
        else:
            assert started.wait(30)
        return i

    assert run_all([lambda i=i: task(i) for i in range(10)], values=MIN_PARALLEL_VALUES) == list(
        range(10)
    )
    assert len({ran_on[i] for i in range(1, 10)}) == 1  # all on the thread not stuck
    assert ran_on[0] != ran_on[1]


def test_small_batches_stay_on_the_calling_thread(monkeypatch):
    monkeypatch.setenv("FEDGOV_STATS_THREADS", "4")
    names = run_all([lambda: threading.current_thread().name] * 4, values=MIN_PARALLEL_VALUES - 1)
    assert set(names) == {threading.current_thread().name}


def test_nested_calls_from_every_worker_do_not_deadlock(monkeypatch):
    """Every pool worker busy with a fold that itself fans out: still finishes."""
    monkeypatch.setenv("FEDGOV_STATS_THREADS", "2")
    inner = [lambda i=i: i for i in range(6)]

    def outer() -> list[int]:
        return run_all(inner, values=MIN_PARALLEL_VALUES)

    result: list[list[list[int]]] = []
    t = threading.Thread(
        target=lambda: result.append(run_all([outer] * 6, values=MIN_PARALLEL_VALUES)),
        daemon=True,
    )
    t.start()
    t.join(timeout=30)
    assert not t.is_alive(), "run_all deadlocked when called from inside its own pool"
    assert result == [[list(range(6))] * 6]


def test_a_failing_task_raises_to_the_caller(monkeypatch):
    monkeypatch.setenv("FEDGOV_STATS_THREADS", "2")

    def boom() -> int:
        raise ValueError("batch codes fall outside")

    with pytest.raises(ValueError, match="outside"):
        run_all([lambda: 1, boom, lambda: 3], values=MIN_PARALLEL_VALUES)


@pytest.mark.parametrize("raw", ["two", "1.5", ""])
def test_thread_setting(monkeypatch, raw):
    monkeypatch.setenv("FEDGOV_STATS_THREADS", raw)
    if raw == "":
        assert 1 <= threads() <= 4
    else:
        with pytest.raises(ConfigError, match="FEDGOV_STATS_THREADS.*whole number"):
            threads()


def test_thread_setting_zero_means_one(monkeypatch):
    monkeypatch.setenv("FEDGOV_STATS_THREADS", "0")
    assert threads() == 1


@pytest.mark.parametrize("n_threads", ["1", "2", "4"])
def test_threaded_encoding_reports_the_first_bad_column_in_spec_order(monkeypatch, n_threads):
    import pyarrow as pa

    from fedgov.data import encode_arrow
    from fedgov.errors import DataError

    monkeypatch.setenv("FEDGOV_STATS_THREADS", n_threads)
    cols = _columns(MIN_PARALLEL_VALUES // 4, seed=3)
    table = pa.table({k: v for k, v in cols.items() if k not in ("x1", "race")})
    with pytest.raises(DataError, match="missing column 'x1'"):
        encode_arrow(SPEC, table)
    full = pa.table(cols)
    monkeypatch.setenv("FEDGOV_STATS_THREADS", "1")
    serial = encode_arrow(SPEC, full)
    monkeypatch.setenv("FEDGOV_STATS_THREADS", n_threads)
    threaded = encode_arrow(SPEC, full)
    assert threaded.numeric.keys() == serial.numeric.keys()
    assert all(np.array_equal(threaded.codes[k], serial.codes[k]) for k in serial.codes)
    assert np.array_equal(threaded.y_true, serial.y_true)
