"""The blocked GLS (Woodbury over union-find blocks) against the dense information
matrix it replaces, on the fixture's data noised: same estimates and sds."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from test_privacy_audit_dp import T0, _noised, _sum

from fedgov.privacy import add_discrete_gaussian
from fedgov.privacy.audit import build_system, gls
from fedgov.privacy.audit._gls import _split
from fedgov.privacy.audit._system import Form, LinearSystem


def _dense(system: LinearSystem, forms: list[Form], ridge: float = 1e-9) -> np.ndarray:
    """The first implementation: ``inv(A' W A + lambda C' C + ridge)``, formed densely."""
    n = len(system.columns)
    weight = max(1.0 / sd**2 for _, _, sd in system.noisy)
    info, h = np.zeros((n, n)), np.zeros(n)
    views = [(t, v, 1.0 / sd**2) for t, v, sd in system.noisy]
    for terms, value, w in views + [(t, d, 1e6 * weight) for t, d in system.equalities]:
        idx, a = np.array(list(terms)), np.array(list(terms.values()))
        info[np.ix_(idx, idx)] += w * np.outer(a, a)
        h[idx] += w * a * value
    info[np.diag_indices(n)] += ridge * weight
    cov = np.linalg.inv(info)
    x = cov @ h
    return np.array(
        [(x[list(f.cols)].sum(), math.sqrt(cov[np.ix_(f.cols, f.cols)].sum())) for f in forms]
    )


@pytest.fixture(scope="module")
def cases(releases_and_spec, true_windows):  # type: ignore[no-untyped-def]
    releases, spec = releases_and_spec
    clear = [r for r in releases if not (r.silo == "A" and r.end_ms == T0 + 200)]
    nested = [  # A's two nested windows both noised: pieces shared by two reports
        replace(
            r, stats=add_discrete_gaussian(true_windows[(r.silo, r.start_ms, r.end_ms)], 0.5, rng=i)
        )
        for i, r in enumerate(releases)
    ]
    systems = {
        "one report": (_noised(clear, true_windows, 1.0)[:1], []),
        "three silos": (_noised(clear, true_windows, 1.0), []),
        "with a secure sum": (_noised(clear, true_windows, 2.0), [_sum(true_windows, spec)]),
        "nested windows": (nested, []),
    }
    out = {}
    for name, (rs, ss) in systems.items():
        system, forms = build_system(rs, ss, spec)
        forms = [f for f in forms if f.kind == "noised"]
        out[name] = (system, forms, _dense(system, forms))
    return out


@pytest.mark.parametrize("block", [600, 40])
def test_blocked_gls_equals_dense(cases, block: int) -> None:  # type: ignore[no-untyped-def]
    for name, (system, forms, want) in cases.items():
        got = np.array(gls(system, forms, block=block))
        assert np.abs(got[:, 1] - want[:, 1]).max() < 1e-6, name
        assert np.abs(got[:, 0] - want[:, 0]).max() < 1e-4, name


def test_blocks_stay_small_and_totals_couple(cases) -> None:  # type: ignore[no-untyped-def]
    system, _, _ = cases["with a secure sum"]
    terms = [(np.array(list(t)), np.array(list(t.values())), 1.0) for t, _ in system.equalities]
    label, local, coupling = _split(len(system.columns), terms, 40)
    assert np.bincount(np.unique(label, return_inverse=True)[1]).max() <= 40
    assert coupling and local
    # a histogram total ties every line to rows: longer than a block, it couples
    assert max(t[0].size for t in terms) > 40
    assert all(terms[i][0].size > 1 for i in coupling)
    assert max(terms[i][0].size for i in coupling) == max(t[0].size for t in terms)
