"""WindowStats: folding batches, merging, serialising."""

from __future__ import annotations

import itertools
import json
from collections import Counter

import numpy as np
import pytest
from _laws import law_tests
from hypothesis import strategies as st
from support.specs import toy_spec

from fedgov.spec import CategoricalFeature, MonitoringSpec, NumericFeature, SensitiveAttribute
from fedgov.stats import (
    FeatureCounts,
    OutcomeCounts,
    WindowStats,
    encode_columns,
    outcome_layouts,
)

SPEC = toy_spec(
    features=(
        NumericFeature("x", (-1.0, 0.0, 1.0)),
        CategoricalFeature("c", ("a", "b")),
    ),
    sensitive=(
        SensitiveAttribute("sex", ("F", "M")),
        SensitiveAttribute("race", ("w", "b", "a")),
    ),
    intersections=(("sex", "race"),),
)

X_VALUES = [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, np.nan, np.inf, -np.inf]
C_VALUES = ["a", "b", "z", None]
SEX_VALUES = ["F", "M", "X", None]
RACE_VALUES = ["w", "b", "a", "o", None]
Y_VALUES = [0, 1, None]

row_strategy = st.tuples(
    st.sampled_from(X_VALUES),
    st.sampled_from(C_VALUES),
    st.sampled_from(SEX_VALUES),
    st.sampled_from(RACE_VALUES),
    st.sampled_from(Y_VALUES),
    st.sampled_from(Y_VALUES),
)


def columns(rows: list[tuple]) -> dict[str, list]:
    names = ["x", "c", "sex", "race", "y", "p"]
    return {n: [r[i] for r in rows] for i, n in enumerate(names)}


def stats_of(rows: list[tuple]) -> WindowStats:
    return WindowStats.zero(SPEC).fold(SPEC, encode_columns(SPEC, columns(rows)))


def random_rows(n: int, seed: int) -> list[tuple]:
    rng = np.random.default_rng(seed)
    pick = lambda vals: [vals[i] for i in rng.integers(0, len(vals), n)]  # noqa: E731
    return list(
        zip(
            pick(X_VALUES),
            pick(C_VALUES),
            pick(SEX_VALUES),
            pick(RACE_VALUES),
            pick(Y_VALUES),
            pick(Y_VALUES),
            strict=True,
        )
    )


def test_fold_counts_match_a_naive_count() -> None:
    rows = random_rows(500, seed=1)
    s = stats_of(rows)
    assert s.rows == 500
    # categorical: a, b, unseen, missing
    want_c = Counter({"a": 0, "b": 1, "z": 2, None: 3}[r[1]] for r in rows)
    assert s.features["c"].counts.tolist() == [want_c[i] for i in range(4)]
    assert s.features["x"].counts.sum() == 500
    assert s.features["x"].counts[-1] == sum(1 for r in rows if np.isnan(r[0]))
    # outcomes: rows with both labels known, indexed [group, y_true, y_pred]
    known = [r for r in rows if r[4] is not None and r[5] is not None]
    assert s.outcome_missing == 500 - len(known)
    slot = {"F": 0, "M": 1, "X": 2, None: 3}
    want = np.zeros((4, 2, 2), dtype=int)
    for r in known:
        want[slot[r[2]], r[4], r[5]] += 1
    np.testing.assert_array_equal(s.outcomes["sex"].counts, want)


def test_intersection_groups_are_the_product_of_slots() -> None:
    rows = random_rows(400, seed=2)
    s = stats_of(rows)
    inter = s.outcomes["sex*race"]
    sex_slots = ["F", "M", "__other__", "__missing__"]
    race_slots = ["w", "b", "a", "__other__", "__missing__"]
    assert inter.groups == tuple(f"{a}|{b}" for a, b in itertools.product(sex_slots, race_slots))
    sex_key = {"F": "F", "M": "M", "X": "__other__", None: "__missing__"}
    race_key = {"w": "w", "b": "b", "a": "a", "o": "__other__", None: "__missing__"}
    counts = dict(zip(inter.groups, inter.counts, strict=True))
    for g in inter.groups:
        n = sum(
            1
            for r in rows
            if r[4] is not None and r[5] is not None and f"{sex_key[r[2]]}|{race_key[r[3]]}" == g
        )
        assert counts[g].sum() == n, g
    mask = inter.declared_mask()
    assert mask.sum() == 6
    assert [g for g, m in zip(inter.groups, mask, strict=True) if m] == [
        f"{a}|{b}" for a in ("F", "M") for b in ("w", "b", "a")
    ]


def test_outcome_layouts_follow_the_spec() -> None:
    layouts = outcome_layouts(SPEC)
    assert list(layouts) == ["sex", "race", "sex*race"]
    assert layouts["sex"] == (("sex",), ("F", "M", "__other__", "__missing__"))
    assert layouts["sex*race"][0] == ("sex", "race")


(
    test_stats_of_a_union_equal_the_merge_of_any_split,
    test_merge_is_associative_commutative_with_zero_identity,
) = law_tests(SPEC, row_strategy, stats_of, columns)


def test_equality_sees_a_single_cell() -> None:
    a = stats_of(random_rows(50, seed=3))
    d = a.to_dict()
    d["features"]["c"]["counts"][0] += 1
    assert WindowStats.from_dict(d) != a


def test_to_dict_round_trips_through_json() -> None:
    s = stats_of(random_rows(300, seed=4))
    d = json.loads(json.dumps(s.to_dict()))
    assert WindowStats.from_dict(d) == s
    assert all(isinstance(v, int) for v in d["features"]["x"]["counts"])


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("rows"),
        lambda d: d["features"]["x"].update(counts=[1.5, 2, 3, 4, 5, 6]),
        lambda d: d["outcomes"]["sex"].update(counts=[[1, 2], [3, 4]]),
        lambda d: d.update(rows="12"),
    ],
)
def test_from_dict_rejects_malformed_documents(mutate) -> None:  # type: ignore[no-untyped-def]
    d = stats_of(random_rows(20, seed=5)).to_dict()
    mutate(d)
    with pytest.raises(ValueError):
        WindowStats.from_dict(d)


def test_merge_refuses_a_different_spec() -> None:
    other = MonitoringSpec(
        model_id="m", model_version="2", label="y", prediction="p", features=SPEC.features
    )
    with pytest.raises(ValueError, match="different specs"):
        WindowStats.zero(SPEC).merge(WindowStats.zero(other))
    with pytest.raises(ValueError, match="not the one"):
        WindowStats.zero(SPEC).fold(other, encode_columns(other, columns(random_rows(3, 0))))


def test_counts_merge_refuses_layout_mismatch() -> None:
    a = FeatureCounts("x", "numeric", np.zeros(5, dtype=np.int64))
    with pytest.raises(ValueError, match="layouts differ"):
        a.merge(FeatureCounts("x", "numeric", np.zeros(6, dtype=np.int64)))
    with pytest.raises(ValueError, match="layouts differ"):
        a.merge(FeatureCounts("x", "categorical", np.zeros(5, dtype=np.int64)))
    o = OutcomeCounts.zero("sex", ("F", "M"))
    with pytest.raises(ValueError, match="differ"):
        o.merge(OutcomeCounts.zero("sex", ("F", "X")))
    with pytest.raises(ValueError, match="shape"):
        OutcomeCounts("sex", ("F",), np.zeros((2, 2, 2), dtype=np.int64))


def test_counts_are_read_only_copies() -> None:
    raw = np.array([1, 2, 3, 4], dtype=np.int64)
    fc = FeatureCounts("c", "categorical", raw)
    raw[0] = 100
    assert fc.counts[0] == 1
    with pytest.raises(ValueError):
        fc.counts[0] = 5


def test_zero_row_batch_folds_to_zero() -> None:
    s = stats_of([])
    assert s == WindowStats.zero(SPEC)
    assert s.rows == 0 and s.outcome_missing == 0
