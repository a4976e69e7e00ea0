"""MILP intervals against brute-force enumeration on a tiny table."""

from __future__ import annotations

import itertools

import numpy as np

from fedgov.privacy.audit._solve import intervals
from fedgov.privacy.audit._system import Form, LinearSystem


def test_milp_intervals_equal_enumeration() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        true = rng.integers(0, 6, size=(2, 3))
        # released: row sums, one column sum, and cell (0, 0) when it is >= 3
        s = LinearSystem()
        col = {(i, j): s.col("x", 0, (i, j)) for i in range(2) for j in range(3)}
        eqs = [({col[(i, j)]: 1.0 for j in range(3)}, float(true[i].sum())) for i in range(2)]
        eqs.append(({col[(0, 1)]: 1.0, col[(1, 1)]: 1.0}, float(true[:, 1].sum())))
        if true[0, 0] >= 3:
            eqs.append(({col[(0, 0)]: 1.0}, float(true[0, 0])))
        s.equalities = eqs
        forms = [Form("t", "x", (i, j), (col[(i, j)],), 3, "suppressed") for i in range(2) for j in range(3)]
        forms.append(Form("t", "x", ("sum",), (col[(0, 0)], col[(1, 2)]), 3, "suppressed"))
        got = intervals(s, forms)
        feasible = [
            np.array(v).reshape(2, 3)
            for v in itertools.product(range(int(true.sum()) + 1), repeat=6)
            if sum(v) == true.sum()
            and all(sum(a * v[list(col.values()).index(j)] for j, a in t.items()) == b for t, b in eqs)
        ]
        for form, (lo, hi) in zip(forms, got, strict=True):
            vals = [sum(x.reshape(-1)[j] for j in form.cols) for x in feasible]
            assert (lo, hi) == (min(vals), max(vals)), (true, form.key)
