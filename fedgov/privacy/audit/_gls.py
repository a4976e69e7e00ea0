"""Generalized least squares on noised releases, by blocks.

Noisy views ``y = A x + e`` with ``e ~ N(0, diag(sd^2))`` and exact equalities
``C x = d``. The information matrix ``J = A' W A + lambda C' C + ridge`` (``lambda``
large: the exact limit is the constrained estimator) gives the estimate ``J^-1 h`` and
the posterior covariance ``J^-1``; a form's standard deviation is ``sqrt(c' J^-1 c)``.
Directions no view reaches get a variance of about ``1 / ridge`` (not recovered).

``J`` is a sum of rank-one terms ``w a a'``, one per view. Formed densely it does not
fit in memory for a demo-sized store (tens of thousands of cells), and it need not be:
the views are block-structured. Each report links only one silo's window pieces, a
secure sum links one key across the silos of a part, and most equalities are a *cell
line* (a coarse cell with its fine cells, a margin group with its intersection groups,
a score group with its confusion cells). So the terms are split, smallest first, into
*local* ones, merged into independent blocks of at most ``block`` cells (union-find),
and the *coupling* ones that would make a block larger (the totals of a histogram
tie its whole line to ``rows``). Then ``J = B + U L U'`` with ``B`` block-diagonal
and ``U`` the coupling terms' vectors, and by the Woodbury identity

    ``J^-1 = B^-1 - B^-1 U M^-1 U' B^-1``,  ``M = L^-1 + U' B^-1 U``,

so every block is inverted alone (dense, at most ``block`` wide) and only ``M``, one
row per coupling term, is global. The arithmetic is the same as the dense
``inv(J)``, to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from fedgov.privacy.audit._system import Form, LinearSystem

__all__ = ["gls"]

_Term = tuple[np.ndarray, np.ndarray, float]  # column indices, coefficients, weight


def gls(
    system: LinearSystem, forms: Sequence[Form], *, ridge: float = 1e-9, block: int = 600
) -> list[tuple[float, float]]:
    """``(estimate, sd)`` of each form from the noisy views plus the exact equalities."""
    n = len(system.columns)
    if not system.noisy:
        return [(math.nan, math.inf)] * len(forms)
    weight = max(1.0 / sd**2 for _, _, sd in system.noisy)
    lam = 1e6 * weight
    terms: list[_Term] = []
    h = np.zeros(n)
    for t, value, w in [(t, v, 1.0 / sd**2) for t, v, sd in system.noisy] + [
        (t, rhs, lam) for t, rhs in system.equalities
    ]:
        idx = np.fromiter(t, dtype=np.intp, count=len(t))
        a = np.fromiter(t.values(), dtype=np.float64, count=len(t))
        np.add.at(h, idx, w * a * value)
        terms.append((idx, a, w))
    blocks, local, coupling = _split(n, terms, block)
    return _Solver(n, terms, blocks, local, coupling, h, ridge * weight).forms(forms)


def _split(n: int, terms: Sequence[_Term], block: int) -> tuple[np.ndarray, list[int], list[int]]:
    """Block label per column; which terms are local (inside a block) and which couple."""
    parent = list(range(n))
    size = [1] * n

    def find(j: int) -> int:
        while parent[j] != j:
            parent[j] = parent[parent[j]]
            j = parent[j]
        return j

    local: list[int] = []
    coupling: list[int] = []
    for i in sorted(range(len(terms)), key=lambda i: terms[i][0].size):
        roots = {find(int(j)) for j in terms[i][0]}
        if sum(size[r] for r in roots) > block and len(roots) > 1:
            coupling.append(i)
            continue
        first, *rest = roots
        for r in rest:
            if size[r] > size[first]:
                first, r = r, first
            parent[r] = first
            size[first] += size[r]
        local.append(i)
    return np.array([find(j) for j in range(n)], dtype=np.intp), local, coupling


class _Solver:
    """``J^-1`` through the blocks of ``B`` and the coupling matrix ``M``."""

    def __init__(
        self,
        n: int,
        terms: Sequence[_Term],
        label: np.ndarray,
        local: Sequence[int],
        coupling: Sequence[int],
        h: np.ndarray,
        ridge: float,
        refine: int = 3,
    ) -> None:
        roots, self.block_of = np.unique(label, return_inverse=True)
        order = np.argsort(self.block_of, kind="stable")
        starts = np.searchsorted(self.block_of[order], np.arange(roots.size + 1))
        self.members = [order[starts[b] : starts[b + 1]] for b in range(roots.size)]
        self.pos = np.empty(n, dtype=np.intp)  # position of a column inside its block
        for m in self.members:
            self.pos[m] = np.arange(m.size)
        # B's blocks, dense, inverted
        mats = [np.eye(m.size) * ridge for m in self.members]
        for i in local:
            idx, a, w = terms[i]
            b, p = self.block_of[idx[0]], self.pos[idx]
            mats[b][np.ix_(p, p)] += w * np.outer(a, a)
        self.inv = [np.linalg.inv(m) for m in mats]
        # U restricted to each block: (rows of the block, coupling terms touching it)
        r = len(coupling)
        per_block: dict[int, dict[int, np.ndarray]] = {}
        for k, i in enumerate(coupling):
            idx, a, _ = terms[i]
            for j, coef in zip(idx.tolist(), a.tolist(), strict=True):
                col = per_block.setdefault(int(self.block_of[j]), {}).setdefault(
                    k, np.zeros(self.members[self.block_of[j]].size)
                )
                col[self.pos[j]] += coef
        self.touch: dict[int, np.ndarray] = {}  # block -> coupling terms touching it
        self.z: dict[int, np.ndarray] = {}  # block -> B_b^-1 U_b
        m_mat = np.diag([1.0 / terms[i][2] for i in coupling]) if r else np.zeros((0, 0))
        for b, cols in per_block.items():
            ks = np.array(sorted(cols), dtype=np.intp)
            u = np.stack([cols[k] for k in ks.tolist()], axis=1)
            z = self.inv[b] @ u
            self.touch[b], self.z[b] = ks, z
            m_mat[np.ix_(ks, ks)] += u.T @ z
        self.m_inv = np.linalg.inv(m_mat) if r else m_mat
        # the estimate J^-1 h, refined: lambda makes J ill-conditioned, and one pass of
        # the Woodbury identity loses digits that a few residual corrections win back
        # (kept only while the residual shrinks: directions no view reaches may not)
        self.x = self.solve(h)
        res = h - _matvec(terms, self.x, ridge)
        for _ in range(refine):
            x = self.x + self.solve(res)
            new = h - _matvec(terms, x, ridge)
            if np.linalg.norm(new) >= np.linalg.norm(res):
                break
            self.x, res = x, new

    def solve(self, v: np.ndarray) -> np.ndarray:
        """``J^-1 v``: ``B^-1 v``, corrected through ``M``."""
        g = np.zeros_like(v)
        for b, m in enumerate(self.members):
            g[m] = self.inv[b] @ v[m]
        t = np.zeros(self.m_inv.shape[0])
        for b, ks in self.touch.items():
            t[ks] += self.z[b].T @ v[self.members[b]]  # U' B^-1 v
        s = self.m_inv @ t
        for b, ks in self.touch.items():
            g[self.members[b]] -= self.z[b] @ s[ks]
        return g

    def forms(self, forms: Sequence[Form]) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = [(math.nan, math.inf)] * len(forms)
        single: dict[int, list[int]] = {}  # block -> forms of one column in it
        for f, form in enumerate(forms):
            if len(form.cols) == 1:
                single.setdefault(int(self.block_of[form.cols[0]]), []).append(f)
            else:
                out[f] = self._form(np.array(form.cols, dtype=np.intp))
        for b, fs in single.items():
            p = self.pos[[forms[f].cols[0] for f in fs]]
            var = np.diag(self.inv[b])[p].copy()
            if b in self.touch:
                ks = self.touch[b]
                w = self.z[b][p]
                var -= np.einsum("ij,jk,ik->i", w, self.m_inv[np.ix_(ks, ks)], w)
            x = self.x[self.members[b][p]]
            for f, e, v in zip(fs, x.tolist(), var.tolist(), strict=True):
                out[f] = (e, math.sqrt(max(v, 0.0)))
        return out

    def _form(self, idx: np.ndarray) -> tuple[float, float]:
        """A form over several columns, maybe of several blocks."""
        quad = 0.0
        w: dict[int, float] = {}
        for b in np.unique(self.block_of[idx]).tolist():
            p = self.pos[idx[self.block_of[idx] == b]]
            quad += float(self.inv[b][np.ix_(p, p)].sum())
            if b in self.touch:
                for k, v in zip(self.touch[b].tolist(), self.z[b][p].sum(axis=0), strict=True):
                    w[k] = w.get(k, 0.0) + float(v)
        ks = np.array(sorted(w), dtype=np.intp)
        wv = np.array([w[k] for k in ks.tolist()])
        var = quad - float(wv @ self.m_inv[np.ix_(ks, ks)] @ wv) if ks.size else quad
        return float(self.x[idx].sum()), math.sqrt(max(var, 0.0))


def _matvec(terms: Sequence[_Term], x: np.ndarray, ridge: float) -> np.ndarray:
    """``J x`` from the terms, without forming ``J``."""
    out = ridge * x
    for idx, a, w in terms:
        np.add.at(out, idx, w * float(a @ x[idx]) * a)
    return out
