"""Noised releases of the same data: nothing recovered; with a secure sum, the double
charge is what keeps the attacker's sd above the stated protection."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fedgov.privacy import add_discrete_gaussian
from fedgov.privacy._release import release_secure_sum, withheld_keys
from fedgov.privacy.audit import Release, SecureRelease, noisy
from fedgov.stats import Privacy

T0 = 1_700_000_000_000
RHO = 0.5


def _noised(releases, true_windows, charge: float, silos=("A", "B", "C")):  # type: ignore[no-untyped-def]
    out = []
    for i, r in enumerate(releases):
        if r.silo not in silos:
            continue
        raw = true_windows[(r.silo, r.start_ms, r.end_ms)]
        stats = add_discrete_gaussian(raw, RHO, rng=100 + i)
        p = stats.privacy
        stats = replace(stats, privacy=Privacy(rho=RHO * charge, sigma=p.sigma))
        out.append(replace(r, stats=stats))
    return out


def _sum(true_windows, spec):  # type: ignore[no-untyped-def]
    total = true_windows[("A", T0, T0 + 212)]
    for s in ("B", "C"):
        total = total.merge(true_windows[(s, T0, T0 + 200)])
    released, withheld = release_secure_sum(total, k=10)
    keys = withheld_keys(total, {(w.table, w.name, w.group): w.rows for w in withheld})
    return SecureRelease("sum", ("A", "B", "C"), ("credit", "v1", spec.digest), T0, T0 + 212, released, keys)


@pytest.fixture(scope="module")
def clear(releases_and_spec):  # type: ignore[no-untyped-def]
    releases, _ = releases_and_spec
    # one window per silo (A's later one), as in a tumbling period
    return [r for r in releases if not (r.silo == "A" and r.end_ms == T0 + 200)]


def test_noised_reports_alone_recover_nothing(clear, releases_and_spec, true_windows) -> None:  # type: ignore[no-untyped-def]
    _, spec = releases_and_spec
    found = noisy.attack(_noised(clear, true_windows, 1.0), [], spec, None)
    assert found and not [f for f in found if f.recovered]


def test_secure_sum_with_double_charge_recovers_nothing(clear, releases_and_spec, true_windows) -> None:  # type: ignore[no-untyped-def]
    _, spec = releases_and_spec
    found = noisy.attack(_noised(clear, true_windows, 2.0), [_sum(true_windows, spec)], spec, None)
    assert found and not [f for f in found if f.recovered]


def test_secure_sum_with_single_charge_is_recovered(clear, releases_and_spec, true_windows) -> None:  # type: ignore[no-untyped-def]
    _, spec = releases_and_spec
    found = noisy.attack(_noised(clear, true_windows, 1.0), [_sum(true_windows, spec)], spec, None)
    a_cells = [f for f in found if f.where.startswith("A") and f.cell.startswith("outcome sex ")]
    assert a_cells and all(f.recovered for f in a_cells)
    ratio = max(f.error / f.protection for f in a_cells)
    assert 0.7 < ratio < 0.98  # about sqrt(2/3): the sum is one more view of A's cells
