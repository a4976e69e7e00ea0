"""release_secure_sum: small groups are withheld, and the linked tables cannot rebuild them."""

from __future__ import annotations

import pytest

from fedgov.privacy._release import release_secure_sum, withheld_keys
from fedgov.privacy.audit import SecureRelease, build_system, intervals

T0 = 1_700_000_000_000


def test_withheld_intersection_not_rebuilt_from_released_margins(true_windows) -> None:  # type: ignore[no-untyped-def]
    total = true_windows[("A", T0, T0 + 200)]  # as if it were a sum: F|18-29 has 3 rows
    released, withheld = release_secure_sum(total, k=10)
    groups = {(w.name, w.group) for w in withheld}
    assert ("sex*age_band", "F|18-29") in groups and ("race", "pacific") in groups
    assert all(w.rows < 10 for w in withheld if (w.name, w.group) in {("sex*age_band", "F|18-29")})
    keys = withheld_keys(total, {(w.table, w.name, w.group): w.rows for w in withheld})
    # released cells are exact, withheld ones are 0
    f = total.outcomes["sex"].groups.index("F")
    assert (released.outcomes["sex"].counts[f] == total.outcomes["sex"].counts[f]).all()
    g = total.outcomes["sex*age_band"].groups.index("F|18-29")
    assert not released.outcomes["sex*age_band"].counts[g].any()
    release = SecureRelease("s", ("A", "B", "C"), ("m", "v", total.spec_digest), 0, 1, released, keys)
    system, forms = build_system([], [release])
    small = [f for f in forms if f.key[:3] == ("outcome", "sex*age_band", "F|18-29")]
    assert small
    for lo, hi in intervals(system, small):
        assert hi - lo >= 10


def test_without_complementary_withholding_the_margin_would_rebuild_it(true_windows) -> None:  # type: ignore[no-untyped-def]
    total = true_windows[("A", T0, T0 + 200)]
    only = {("outcome", "sex*age_band", "F|18-29"): 3}
    from fedgov.privacy._release import _apply

    release = SecureRelease(
        "s", ("A",), ("m", "v", total.spec_digest), 0, 1, _apply(total, only), withheld_keys(total, only)
    )
    system, forms = build_system([], [release])
    tp = [f for f in forms if f.key == ("outcome", "sex*age_band", "F|18-29", 1, 1)]
    assert intervals(system, tp) == [(2.0, 2.0)]


def test_k_must_be_a_positive_integer(true_windows) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="k must be"):
        release_secure_sum(next(iter(true_windows.values())), k=0)
