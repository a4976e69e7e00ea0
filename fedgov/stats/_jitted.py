"""The compiled loops of the fold (numba), every one of them in this one file.

One file, because numba's disk cache checks only the source file of the
function it loads: a cached kernel that called a changed function in another
file would run the old code. :mod:`fedgov.stats._kernel` wraps these.

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

No ``fastmath``, no ``prange``; ``nogil`` so the fold threads run them at once.
"""

from __future__ import annotations

import warnings
from typing import Any

import numba
import numpy as np

__all__ = ["code_counts", "joint_tables", "layout_tables", "numeric_counts", "value_cells"]

_LOW63 = 0x7FFF_FFFF_FFFF_FFFF  # an int64 to numba


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
def value_cells(x: Any, cmp: Any, lo: Any, grid: Any, out: Any) -> None:
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
def numeric_counts(x: Any, cmp: Any, lo: Any, grid: Any, out: Any) -> None:
    """Counts over the ``k + 3`` cells. The linear grid (the common case) is counted
    directly; the others through a block of cells."""
    kind, origin, scale, d, shift, offset, top = grid
    if kind == 0:
        # Two loops a block: the grid cells (vectorised: no branch, NaN -> cell 0),
        # then the table; a marked cell (cell 0 always is: NaN, -inf) is compared.
        grid_cells = np.empty(_BLOCK, np.int32)
        ftop = float(top)
        nan_cell = cmp.size + 1
        tally = np.zeros(out.size, np.int32)  # half the stores' width; x.size < 2**31
        for start in range(0, x.size, _BLOCK):
            m = min(_BLOCK, x.size - start)
            for j in range(m):
                t = (x[start + j] - origin) * scale
                t = t if t > 0.0 else 0.0
                t = t if t < ftop else ftop
                grid_cells[j] = np.int32(t)
            for j in range(m):
                idx = lo[grid_cells[j]]
                if idx < 0:
                    v = x[start + j]
                    idx = nan_cell if v != v else _walk(v, -idx - 1, cmp)
                tally[idx] += 1
        for c in range(out.size):
            out[c] += tally[c]
        return
    block_cells = np.empty(_BLOCK, np.int64)
    for start in range(0, x.size, _BLOCK):
        block = x[start : start + _BLOCK]
        value_cells(block, cmp, lo, grid, block_cells)
        for j in range(block.size):
            out[block_cells[j]] += 1


@_jit
def code_counts(codes: Any, out: Any) -> int:
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
def layout_tables(
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
    block_cells = np.empty(_BLOCK, np.int64)  # score cells of the rows i // _BLOCK
    for i in range(yt.size):
        if score.size and i % _BLOCK == 0:  # before any row is skipped
            value_cells(score[i : i + _BLOCK], cmp, lo, grid, block_cells)
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
        cell = block_cells[i % _BLOCK] if score.size else -1
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
def joint_tables(
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
    """:func:`layout_tables` for the one layout of every attribute in spec order (the
    joint table): half the work a row."""
    n_attrs = radix.size
    known = 0
    bad = 0
    block_cells = np.empty(_BLOCK, np.int64)
    for i in range(yt.size):
        if score.size and i % _BLOCK == 0:
            value_cells(score[i : i + _BLOCK], cmp, lo, grid, block_cells)
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
            scores[((g << 1) | t) * n_cells + block_cells[i % _BLOCK]] += 1
    return known, bad
