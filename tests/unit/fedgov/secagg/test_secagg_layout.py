"""The round's vector layout: flatten and read back, and sums of vectors are sums of stats."""

from __future__ import annotations

import numpy as np
import pytest
from support.specs import derive_credit_spec
from support.specs import stats_of as fold

from fedgov.secagg.layout import Layout, stats_of, vector_of
from fedgov.synthetic import credit_data


def _two_versions():
    v1 = derive_credit_spec(model_version="1")
    v2 = derive_credit_spec(model_version="2")
    return v1, v2


def test_vector_round_trips_and_sums_are_stats_merges() -> None:
    v1, v2 = _two_versions()
    layout = Layout.of([v2, v1])
    assert [s.model_version for s in layout.segments] == ["1", "2"]
    a = fold(v1, credit_data(500, seed=1))
    b = fold(v1, credit_data(700, seed=2, drift=0.5))
    c = fold(v2, credit_data(300, seed=3))
    x = vector_of(layout, {v1.digest: a})
    y = vector_of(layout, {v1.digest: b, v2.digest: c})
    assert x.dtype == np.uint64 and x.size == layout.length
    summed = stats_of(layout, x + y, {v1.digest: v1, v2.digest: v2})
    assert summed[v1.digest] == a.merge(b)
    assert summed[v2.digest] == c
    assert Layout.from_json(layout.to_json()) == layout


def test_wrapped_masks_cancel_modulo_2_64() -> None:
    v1, _ = _two_versions()
    layout = Layout.of([v1])
    a = fold(v1, credit_data(200, seed=4))
    rng = np.random.default_rng(0)
    mask = rng.integers(0, 2**64, size=layout.length, dtype=np.uint64)
    total = (vector_of(layout, {v1.digest: a}) + mask) - mask
    assert stats_of(layout, total, {v1.digest: v1})[v1.digest] == a


def test_guarded_counts_and_wrong_lengths_are_refused() -> None:
    from fedgov.privacy import suppress_small_cells

    v1, v2 = _two_versions()
    layout = Layout.of([v1])
    a = fold(v1, credit_data(200, seed=5))
    with pytest.raises(ValueError, match="raw counts"):
        vector_of(layout, {v1.digest: suppress_small_cells(a, 10)})
    with pytest.raises(ValueError, match="cells"):
        stats_of(layout, np.zeros(3, dtype=np.uint64), {v1.digest: v1})
    with pytest.raises(ValueError, match="malformed"):
        Layout.from_json("[[1]]")
