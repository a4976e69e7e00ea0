"""The compiled fold: each column of a block counted in one pass (numba).

The numpy engine (:mod:`fedgov.stats._fold`) makes several passes over a
column per block: grid map, mask, tally, compare, ``bincount``. Here one
compiled loop per column reads each value once and increments its cell:

* :func:`numeric_counts`: the numeric cell layout of a feature over its
  (fine) edges, NaN in the missing cell;
* :func:`code_counts`: a categorical feature's codes;
* :func:`outcome_tables`: confusion counts of every attribute and
  intersection, and the score histograms, in one pass over the rows.

Exact as the numpy engine is, by the same argument (see
:mod:`fedgov.stats._binning`): the kernel applies the binner's grid map with
the same IEEE operations (no ``fastmath``, so no fused or reordered
arithmetic, and NaN is tested first: it compares False with everything), so a
value in a grid cell that holds no edge lies in the bin the binner's table
gives. In a cell that holds an edge the value is compared: from the table's
start, walk up while ``x >= cmp[idx]`` and down while ``x < cmp[idx - 1]``
(``cmp``: the edges, the last nudged one float up so the last bin is closed),
which ends on the number of edges at or below ``x`` whatever the start.
``-inf`` lands in underflow and ``+inf`` in overflow like any other value.
Where the binner found no grid (edges too crowded), a binary search.

Parallelism: the kernels release the GIL (``nogil``) and are called from
the fold threads of :mod:`fedgov.stats._parallel`, one column per task.
They do not use ``prange``: a parallel kernel inside that thread pool would
be nested parallelism (numba's default workqueue layer aborts on concurrent
launches; the others oversubscribe the cores), and the pool already spreads
the columns, and the encoding before them, over every core.

Compilation is cached on disk (``cache=True``) beside this module, or where
``NUMBA_CACHE_DIR`` points: set it to a writable folder when fedgov is
installed read-only, or every process compiles again (about 2-5 s; see
:func:`warm_up`). If no cache location is writable, the kernels still run,
compiled in memory.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numba
import numpy as np

from fedgov.stats._binning import Binner

__all__ = ["code_counts", "numeric_counts", "outcome_tables", "warm_up"]

_LOW63 = np.int64(0x7FFF_FFFF_FFFF_FFFF)


def _jit(fn: Any) -> Any:
    """``njit(nogil, cache)``; without the disk cache where no location is writable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", numba.NumbaWarning)
            return numba.njit(nogil=True, cache=True)(fn)
    except RuntimeError:  # "cannot cache ... no locator available": read-only install
        return numba.njit(nogil=True)(fn)


_BLOCK = 2048  # values whose bit patterns are read at once on the logarithmic grid


@numba.njit(nogil=True)
def _walk(v: float, idx: int, cmp: Any) -> int:
    """From a starting cell to the exact one: the number of edges ``<= v``."""
    n = cmp.size
    while idx < n and v >= cmp[idx]:
        idx += 1
    while idx > 0 and v < cmp[idx - 1]:
        idx -= 1
    return idx


@numba.njit(nogil=True)
def _start(v: float, start: int, cmp: Any) -> int:
    """The bin of a grid cell without an edge; walked to from a marked one."""
    return start if start >= 0 else _walk(v, -start - 1, cmp)


@numba.njit(nogil=True)
def _linear_cell(v: float, cmp: Any, lo: Any, origin: float, scale: float, top: float) -> int:
    t = (v - origin) * scale
    if not t > 0.0:  # also NaN (inf * 0)
        t = 0.0
    if t > top:
        t = top
    return _start(v, lo[int(t)], cmp)


@numba.njit(nogil=True)
def _log_cell(
    v: float, b: int, cmp: Any, lo: Any, d: int, shift: int, offset: int, top: int
) -> int:
    """``b``: the bit pattern of ``v - centre``."""
    key = b ^ ((b >> 63) & _LOW63)
    f = key - min(max(key, -d), d)
    f = (f >> shift) + offset
    return _start(v, lo[min(max(f, 0), top)], cmp)


@numba.njit(nogil=True)
def _search_cell(v: float, cmp: Any) -> int:
    a, z = 0, cmp.size
    while a < z:
        m = (a + z) >> 1
        if v >= cmp[m]:
            a = m + 1
        else:
            z = m
    return a


@numba.njit(nogil=True)
def _cells(x: Any, cmp: Any, lo: Any, grid: Any, out: Any) -> None:
    """Cell of every value, ``0 .. k + 2`` (NaN in ``k + 2``), into ``out`` (int64)."""
    kind, origin, scale, d, shift, offset, top = grid
    nan_cell = cmp.size + 1
    if kind == 0:
        ftop = float(top)
        for i in range(x.size):
            v = x[i]
            out[i] = nan_cell if v != v else _linear_cell(v, cmp, lo, origin, scale, ftop)
    elif kind == 1:
        diff = np.empty(_BLOCK, np.float64)
        bits = diff.view(np.int64)
        for start in range(0, x.size, _BLOCK):
            m = min(_BLOCK, x.size - start)
            for j in range(m):
                diff[j] = x[start + j] - origin
            for j in range(m):
                v = x[start + j]
                out[start + j] = (
                    nan_cell if v != v else _log_cell(v, bits[j], cmp, lo, d, shift, offset, top)
                )
    else:
        for i in range(x.size):
            v = x[i]
            out[i] = nan_cell if v != v else _search_cell(v, cmp)


@_jit
def _numeric(x: Any, cmp: Any, lo: Any, grid: Any, out: Any) -> None:
    """Counts over the ``k + 3`` cells. The linear grid (the common case) is counted
    directly; the others through a block of cells."""
    kind, origin, scale, d, shift, offset, top = grid
    if kind == 0:
        ftop = float(top)
        missing = 0
        for i in range(x.size):
            v = x[i]
            if v != v:
                missing += 1
            else:
                out[_linear_cell(v, cmp, lo, origin, scale, ftop)] += 1
        out[cmp.size + 1] += missing
        return
    cells = np.empty(_BLOCK, np.int64)
    for start in range(0, x.size, _BLOCK):
        block = x[start : start + _BLOCK]
        _cells(block, cmp, lo, grid, cells)
        for j in range(block.size):
            out[cells[j]] += 1


@_jit
def _codes(codes: Any, out: Any) -> int:
    n = out.size
    bad = 0
    for i in range(codes.size):
        c = codes[i]
        if 0 <= c < n:
            out[c] += 1
        else:
            bad += 1
    return bad


@_jit
def _outcomes(
    yt: Any,
    yp: Any,
    codes: Any,
    radix: Any,
    members: Any,
    conf_at: Any,
    score: Any,
    cmp: Any,
    lo: Any,
    grid: Any,
    score_at: Any,
    n_cells: int,
    conf: Any,
    scores: Any,
) -> tuple[int, int]:
    """(rows with label and prediction known, rows with an impossible value)."""
    n_layouts, width = members.shape
    n_attrs = radix.size
    known = 0
    bad = 0
    cells = np.empty(_BLOCK, np.int64)  # score cells of the rows i // _BLOCK
    for i in range(yt.size):
        if score.size and i % _BLOCK == 0:  # before any row is skipped
            _cells(score[i : i + _BLOCK], cmp, lo, grid, cells)
        t = np.int64(yt[i])
        p = np.int64(yp[i])
        if t < 0 or p < 0:
            continue
        if t > 1 or p > 1:
            bad += 1
            continue
        ok = True
        for a in range(n_attrs):
            c = codes[a, i]
            if c < 0 or c >= radix[a]:
                ok = False
        if not ok:
            bad += 1
            continue
        known += 1
        outcome = (t << 1) | p
        cell = cells[i % _BLOCK] if score.size else -1
        for j in range(n_layouts):
            g = 0
            for w in range(width):
                a = members[j, w]
                if a >= 0:
                    g = g * radix[a] + codes[a, i]
            conf[conf_at[j] + g * 4 + outcome] += 1
            if cell >= 0:
                scores[score_at[j] + ((g << 1) | t) * n_cells + cell] += 1
    return known, bad


@_jit
def _joint(
    yt: Any,
    yp: Any,
    codes: Any,
    radix: Any,
    score: Any,
    cmp: Any,
    lo: Any,
    grid: Any,
    n_cells: int,
    conf: Any,
    scores: Any,
) -> tuple[int, int]:
    """:func:`_outcomes` for the one layout of every attribute in spec order (the
    joint table): half the work a row."""
    n_attrs = radix.size
    known = 0
    bad = 0
    cells = np.empty(_BLOCK, np.int64)
    for i in range(yt.size):
        if score.size and i % _BLOCK == 0:
            _cells(score[i : i + _BLOCK], cmp, lo, grid, cells)
        t = np.int64(yt[i])
        p = np.int64(yp[i])
        if t < 0 or p < 0:
            continue
        g = 0
        ok = t <= 1 and p <= 1
        for a in range(n_attrs):
            c = codes[a, i]
            ok &= 0 <= c < radix[a]
            g = g * radix[a] + c
        if not ok:
            bad += 1
            continue
        known += 1
        conf[(g << 2) | (t << 1) | p] += 1
        if score.size:
            scores[((g << 1) | t) * n_cells + cells[i % _BLOCK]] += 1
    return known, bad


def _readonly(values: Any, dtype: type) -> np.ndarray:
    """A C-contiguous array of ``dtype`` as a read-only view (one compiled signature,
    whether the caller's array was writable or an Arrow buffer)."""
    arr = np.ascontiguousarray(values, dtype=dtype).reshape(-1).view()
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
    _numeric(_readonly(values, np.float64), b.edges_cmp, b.table, b.grid_params, out)
    return out


def code_counts(codes: Any, n_cells: int, where: str) -> np.ndarray:
    """``np.bincount(codes, minlength=n_cells)``; ValueError for a code outside the cells."""
    out = np.zeros(n_cells, dtype=np.int64)
    if _codes(_readonly(codes, np.int64), out):
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
        cmp, lo, grid = np.zeros(1), np.zeros(1, np.int32), (2, 0.0, 0.0, 0, 0, 0, 0)
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
        known, bad = _joint(y_true, y_pred, stacked, radix, x, cmp, lo, grid, n_cells, conf, scores)
    else:
        known, bad = _outcomes(
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
