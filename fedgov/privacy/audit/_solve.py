"""The attacker's integer solver: intervals of protected forms under exact releases
(generalized least squares under noisy ones is :mod:`._gls`).

Intervals (Hundepool et al., *Statistical Disclosure Control*, 2012, the tau-ARGUS
audit): for each form ``c . x`` the minimum and maximum over integer ``x >= 0``
satisfying every equality, by :func:`scipy.optimize.milp` (HiGHS). Before that, a
propagation fixes what the equalities force alone (an equation with one unknown left;
an all-positive equation whose rest is 0), which settles most cells without a solver,
and the rest is split into independent components so each program stays small.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.optimize import LinearConstraint, milp
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from fedgov.privacy.audit._system import Form, LinearSystem, equation_matrix

__all__ = ["intervals"]


def _propagate(system: LinearSystem) -> dict[int, float]:
    fixed: dict[int, float] = {}
    changed = True
    while changed:
        changed = False
        for terms, rhs in system.equalities:
            free = [j for j in terms if j not in fixed]
            if not free:
                continue
            rest = rhs - sum(a * fixed[j] for j, a in terms.items() if j in fixed)
            if len(free) == 1:
                fixed[free[0]] = rest / terms[free[0]]
                changed = True
            elif abs(rest) < 1e-9 and all(terms[j] > 0 for j in free):
                fixed.update(dict.fromkeys(free, 0.0))
                changed = True
    return fixed


def intervals(system: LinearSystem, forms: Sequence[Form]) -> list[tuple[float, float]]:
    """``[min, max]`` of each form over integer ``x >= 0`` under the equalities
    (``max`` is ``inf`` when unbounded)."""
    n = len(system.columns)
    fixed = _propagate(system)
    free = np.array([j not in fixed for j in range(n)])
    rows = []
    for terms, rhs in system.equalities:
        rest = rhs - sum(a * fixed[j] for j, a in terms.items() if j in fixed)
        live = {j: a for j, a in terms.items() if free[j]}
        if live:
            rows.append((live, rest))
    r, c, v, rhs = equation_matrix(rows, n)
    graph = coo_matrix((np.ones_like(v), (c, r + n)), shape=(n + len(rows),) * 2)
    _, label = connected_components(graph, directed=False)
    by_comp: dict[int, list[int]] = {}
    for i in range(len(rows)):
        by_comp.setdefault(int(label[n + i]), []).append(i)
    out: list[tuple[float, float]] = []
    programs: dict[frozenset[int], _Program] = {}
    for form in forms:
        base = sum(fixed.get(j, 0.0) for j in form.cols)
        live = [j for j in form.cols if free[j]]
        if not live:
            out.append((base, base))
            continue
        comps = frozenset(int(label[j]) for j in live)
        if comps not in programs:
            eq_rows = [i for comp in comps for i in by_comp.get(comp, [])]
            programs[comps] = _Program(rows, eq_rows, live)
        lo, hi = programs[comps].bounds(live)
        out.append((base + lo, base + hi))
    return out


class _Program:
    """The equalities of some components, as one sparse constraint, solved per objective."""

    def __init__(
        self,
        rows: Sequence[tuple[dict[int, float], float]],
        eq_rows: Sequence[int],
        live: Sequence[int],
    ) -> None:
        cols = sorted({j for i in eq_rows for j in rows[i][0]} | set(live))
        self.where = {j: i for i, j in enumerate(cols)}
        self.n = len(cols)
        self.constraints: list[LinearConstraint] = []
        if eq_rows:
            r, c, v = [], [], []
            for i, row in enumerate(eq_rows):
                for j, coef in rows[row][0].items():
                    r.append(i)
                    c.append(self.where[j])
                    v.append(coef)
            a = coo_matrix((v, (r, c)), shape=(len(eq_rows), self.n)).tocsr()
            b = np.array([rows[i][1] for i in eq_rows])
            self.constraints = [LinearConstraint(a, b, b)]

    def bounds(self, live: Sequence[int]) -> tuple[float, float]:
        objective = np.zeros(self.n)
        for j in live:
            objective[self.where[j]] += 1.0
        return _bounds(objective, self.constraints)


def _bounds(objective: np.ndarray, constraints: list[LinearConstraint]) -> tuple[float, float]:
    ends = []
    for sign in (1.0, -1.0):
        res = milp(sign * objective, constraints=constraints, integrality=np.ones(objective.size))
        if res.status == 3 or res.x is None:  # unbounded (or no answer): no upper bound
            ends.append(sign * -math.inf if sign > 0 else math.inf)
        else:
            ends.append(float(np.round(objective @ res.x)))
    return ends[0], ends[1]
