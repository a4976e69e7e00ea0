"""The attacker's solvers: integer intervals of protected forms under exact releases,
and generalized least squares under noisy ones.

Intervals (Hundepool et al., *Statistical Disclosure Control*, 2012, the tau-ARGUS
audit): for each form ``c . x`` the minimum and maximum over integer ``x >= 0``
satisfying every equality, by :func:`scipy.optimize.milp` (HiGHS). Before that, a
propagation fixes what the equalities force alone (an equation with one unknown left;
an all-positive equation whose rest is 0), which settles most cells without a solver,
and the rest is split into independent components so each program stays small.

GLS: noisy views ``y = A x + e`` with ``e ~ N(0, diag(sd^2))`` and exact equalities
``C x = d``. The information matrix ``A' W A + lambda C' C`` (``lambda`` large, the
exact limit is the constrained estimator) gives the estimate and the posterior
covariance; a form's standard deviation is ``sqrt(c' J^-1 c)``. Directions no view
reaches get a variance of about ``1 / ridge`` (not recovered).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.optimize import LinearConstraint, milp
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from fedgov.privacy.audit._system import Form, LinearSystem, equation_matrix

__all__ = ["gls", "intervals"]


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
    for form in forms:
        base = sum(fixed.get(j, 0.0) for j in form.cols)
        live = [j for j in form.cols if free[j]]
        if not live:
            out.append((base, base))
            continue
        comps = {int(label[j]) for j in live}
        eq_rows = [i for comp in comps for i in by_comp.get(comp, [])]
        cols = sorted({j for i in eq_rows for j in rows[i][0]} | set(live))
        lo, hi = _bounds(rows, eq_rows, cols, live)
        out.append((base + lo, base + hi))
    return out


def _bounds(
    rows: Sequence[tuple[dict[int, float], float]],
    eq_rows: Sequence[int],
    cols: Sequence[int],
    live: Sequence[int],
) -> tuple[float, float]:
    where = {j: i for i, j in enumerate(cols)}
    objective = np.zeros(len(cols))
    for j in live:
        objective[where[j]] += 1.0
    constraints = []
    if eq_rows:
        a = np.zeros((len(eq_rows), len(cols)))
        b = np.zeros(len(eq_rows))
        for i, row in enumerate(eq_rows):
            terms, rhs = rows[row]
            for j, coef in terms.items():
                a[i, where[j]] = coef
            b[i] = rhs
        constraints = [LinearConstraint(a, b, b)]
    ends = []
    for sign in (1.0, -1.0):
        res = milp(sign * objective, constraints=constraints, integrality=np.ones(len(cols)))
        if res.status == 3 or res.x is None:  # unbounded (or no answer): no upper bound
            ends.append(sign * -math.inf if sign > 0 else math.inf)
        else:
            ends.append(float(np.round(objective @ res.x)))
    return ends[0], ends[1]


def gls(
    system: LinearSystem, forms: Sequence[Form], *, ridge: float = 1e-9
) -> list[tuple[float, float]]:
    """``(estimate, sd)`` of each form from the noisy views plus the exact equalities."""
    n = len(system.columns)
    if not system.noisy:
        return [(math.nan, math.inf)] * len(forms)
    weight = max(1.0 / sd**2 for _, _, sd in system.noisy)
    lam = 1e6 * weight
    info = np.zeros((n, n))
    h = np.zeros(n)
    for terms, value, sd in system.noisy:
        _add(info, h, terms, value, 1.0 / sd**2)
    for terms, rhs in system.equalities:
        _add(info, h, terms, rhs, lam)
    info[np.diag_indices(n)] += ridge * weight
    cov = np.linalg.inv(info)
    x = cov @ h
    out = []
    for form in forms:
        idx = np.array(form.cols, dtype=np.intp)
        var = float(cov[np.ix_(idx, idx)].sum())
        out.append((float(x[idx].sum()), math.sqrt(max(var, 0.0))))
    return out


def _add(info: np.ndarray, h: np.ndarray, terms: dict[int, float], value: float, w: float) -> None:
    idx = np.fromiter(terms, dtype=np.intp, count=len(terms))
    a = np.fromiter(terms.values(), dtype=np.float64, count=len(terms))
    info[np.ix_(idx, idx)] += w * np.outer(a, a)
    h[idx] += w * a * value
