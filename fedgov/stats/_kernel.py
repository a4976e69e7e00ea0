"""The compiled fold: each column of a block counted in one pass (numba).

The numpy engine (:mod:`fedgov.stats._fold`) makes several passes over a
column per block: grid map, mask, tally, compare, ``bincount``. Here one
compiled loop per column reads each value once and increments its cell:

* :func:`numeric_counts`: the numeric cell layout of a feature over its
  (fine) edges, NaN in the missing cell;
* :func:`code_counts`: a categorical feature's codes;
* :func:`outcome_tables`: confusion counts of every attribute and
  intersection, and the score histograms, in one pass over the rows.

Exactness: see :mod:`fedgov.stats._jitted`, where the loops are.

Parallelism: the kernels release the GIL (``nogil``) and are called from
the fold threads of :mod:`fedgov.stats._parallel`, one column per task.
They do not use ``prange``: a parallel kernel inside that thread pool would
be nested parallelism (numba's default workqueue layer aborts on concurrent
launches; the others oversubscribe the cores), and the pool already spreads
the columns, and the encoding before them, over every core.

Compilation is cached on disk (``cache=True``): where ``NUMBA_CACHE_DIR``
points, else beside ``_jitted.py``, else in the user's cache folder
(``~/.cache/numba``). For an install where none is writable (a read-only
container image), set ``NUMBA_CACHE_DIR`` to a writable folder, or every
process compiles again (about 5 s; see :func:`warm_up`); the kernels still
run, compiled in memory.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from fedgov.stats import _jitted as jit
from fedgov.stats._binning import NO_GRID, Binner

__all__ = ["JOINT_CELLS", "code_counts", "numeric_counts", "outcome_tables", "warm_up"]

_MAX_CALL = 1 << 30
"""Most values per kernel call: its int32 tally cannot overflow."""


def _readonly(values: Any, dtype: type) -> np.ndarray:
    """A C-contiguous array of ``dtype`` as a read-only view (one compiled signature,
    whether the caller's array was writable or an Arrow buffer)."""
    arr: np.ndarray = np.ascontiguousarray(values, dtype=dtype).reshape(-1).view()
    arr.flags.writeable = False
    return arr


def _stacked(codes: list[Any], n: int) -> np.ndarray:
    """The attributes' codes as one ``(attributes, rows)`` int64 array: a tuple of arrays
    would cost the kernel a reference count per access."""
    out = np.empty((len(codes), n), dtype=np.int64)
    for a, c in enumerate(codes):
        out[a] = c
    return out


def numeric_counts(b: Binner, values: Any) -> np.ndarray:
    """``b.counts(values)``, in one compiled pass."""
    out = np.zeros(b.k + 3, dtype=np.int64)
    x = _readonly(values, np.float64)
    for start in range(0, x.size, _MAX_CALL):  # the kernel tallies in int32
        part = x[start : start + _MAX_CALL]
        jit.numeric_counts(part, b.edges_cmp, b.table, b.grid_params, out)
    return out


def code_counts(codes: Any, n_cells: int, where: str) -> np.ndarray:
    """``np.bincount(codes, minlength=n_cells)``; ValueError for a code outside the cells."""
    out = np.zeros(n_cells, dtype=np.int64)
    if jit.code_counts(_readonly(codes, np.int64), out):
        raise ValueError(f"batch codes of '{where}' fall outside its {n_cells} cells")
    return out


JOINT_CELLS = 1 << 18
"""Largest joint table (groups of every attribute at once x outcome and score cells)
counted per batch; beyond it, each layout's table is counted in the pass instead."""


def outcome_tables(
    yt: Any,
    yp: Any,
    codes: list[Any],
    radix: np.ndarray,
    members: np.ndarray,
    n_groups: list[int],
    score: Any | None,
    score_binner: Binner | None,
) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """Confusion counts ``(groups, 2, 2)`` and score cells ``(groups, 2, k + 3)`` of every
    layout (``members[j]``: its attributes, first varying slowest, ``-1`` padded), and
    the rows with label and prediction known. ValueError on a code outside its slots or
    an outcome other than -1, 0, 1.

    Usually one table over every attribute at once is counted (one increment a row)
    and each layout is a sum over it (integer sums of a few hundred cells: exact)."""
    if score is not None and score_binner is not None:
        b = score_binner
        n_cells = b.k + 3
        x = _readonly(score, np.float64)
        cmp, lo, grid = b.edges_cmp, b.table, b.grid_params
    else:
        n_cells, x = 0, np.zeros(0, dtype=np.float64)
        cmp, lo, grid = np.zeros(1), np.zeros(1, np.int32), NO_GRID
    n_joint = int(np.prod(radix))
    joint = n_joint * (4 + 2 * n_cells) <= JOINT_CELLS
    counted = [n_joint] if joint else n_groups
    conf_at = np.cumsum([0, *(4 * g for g in counted)])
    score_at = np.cumsum([0, *(2 * n_cells * g for g in counted)])
    conf = np.zeros(int(conf_at[-1]), dtype=np.int64)
    scores = np.zeros(int(score_at[-1]), dtype=np.int64)
    y_true, y_pred, stacked = (
        _readonly(yt, np.int8),
        _readonly(yp, np.int8),
        _stacked(codes, len(yt)),
    )
    if joint:
        known, bad = jit.joint_tables(
            y_true, y_pred, stacked, radix, x, cmp, lo, grid, n_cells, conf, scores
        )
    else:
        known, bad = jit.layout_tables(
            y_true,
            y_pred,
            stacked,
            radix,
            members,
            conf_at,
            x,
            cmp,
            lo,
            grid,
            score_at,
            n_cells,
            conf,
            scores,
        )
    if bad:
        raise ValueError(
            f"{bad} rows of the batch have a group code outside its attribute's slots or an "
            "outcome other than -1, 0, 1; encode the batch with encode_columns(spec, ...)"
        )
    if joint:
        shape = tuple(radix.tolist())
        tables = [_marginal(conf.reshape(*shape, 2, 2), m) for m in members]
        hists = [_marginal(scores.reshape(*shape, 2, n_cells), m) for m in members]
        return tables, hists, int(known)
    tables = [conf[conf_at[j] : conf_at[j + 1]].reshape(g, 2, 2) for j, g in enumerate(n_groups)]
    hists = [
        scores[score_at[j] : score_at[j + 1]].reshape(g, 2, n_cells) for j, g in enumerate(n_groups)
    ]
    return tables, hists, int(known)


def _marginal(joint: np.ndarray, members: np.ndarray) -> np.ndarray:
    """A layout's ``(groups, 2, cells)`` table from the joint ``(*slots, 2, cells)`` one:
    summed over the other attributes, its own in its order (first varying slowest)."""
    own = [int(a) for a in members if a >= 0]
    n_attrs = joint.ndim - 2
    others = tuple(a for a in range(n_attrs) if a not in own)
    summed = joint.sum(axis=others) if others else joint
    # After the sum the remaining attribute axes are in ascending order.
    order = sorted(own)
    arranged = np.transpose(
        summed, [order.index(a) for a in own] + [n_attrs - len(others), n_attrs - len(others) + 1]
    )
    n_groups = int(np.prod([joint.shape[a] for a in own]))
    return np.ascontiguousarray(arranged).reshape(n_groups, 2, joint.shape[-1])


def warm_up() -> float:
    """Compile (or load from the disk cache) every kernel signature the fold uses;
    seconds taken. Called before the first fold of a process, or by a benchmark."""
    t = time.perf_counter()
    b = Binner((0.0, 1.0, 2.0))
    x = np.array([0.5, np.nan])
    numeric_counts(b, x)
    code_counts(np.zeros(2, np.int64), 3, "warm-up")
    for n_attrs in (1, 2, 3):
        codes = [np.zeros(2, np.int64)] * n_attrs
        radix = np.full(n_attrs, 2, dtype=np.int64)
        members = np.arange(n_attrs, dtype=np.int64).reshape(-1, 1)
        y = np.zeros(2, np.int8)
        outcome_tables(y, y, codes, radix, members, [2] * n_attrs, None, None)
        outcome_tables(y, y, codes, radix, members, [2] * n_attrs, x, b)
    return time.perf_counter() - t
