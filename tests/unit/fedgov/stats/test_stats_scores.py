"""Score histograms: the spec's score edges, folding, merging, serialising."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _laws import law_tests
from hypothesis import strategies as st
from support.specs import toy_spec

from fedgov.errors import SpecError
from fedgov.spec import (
    DEFAULT_SCORE_EDGES,
    MonitoringSpec,
    NumericFeature,
    SensitiveAttribute,
)
from fedgov.stats import ScoreCounts, WindowStats, derive_spec, encode_columns, numeric_cells

EDGES = (0.0, 0.25, 0.5, 0.75, 1.0)
SPEC = toy_spec(
    features=(NumericFeature("x", (-1.0, 0.0, 1.0)),),
    sensitive=(SensitiveAttribute("sex", ("F", "M")), SensitiveAttribute("race", ("w", "b"))),
    intersections=(("sex", "race"),),
    score="s",
    score_edges=EDGES,
)
PLAIN = toy_spec(
    features=(NumericFeature("x", (-1.0, 0.0, 1.0)),),
    sensitive=(SensitiveAttribute("sex", ("F", "M")),),
)

S_VALUES = [-0.5, 0.0, 0.1, 0.25, 0.6, 0.75, 0.99, 1.0, 1.5, np.nan, np.inf, -np.inf]
row_strategy = st.tuples(
    st.sampled_from([-2.0, 0.5, np.nan]),
    st.sampled_from(["F", "M", "X", None]),
    st.sampled_from(["w", "b", None]),
    st.sampled_from([0, 1, None]),
    st.sampled_from([0, 1, None]),
    st.sampled_from(S_VALUES),
)


def columns(rows: list[tuple]) -> dict[str, list]:
    names = ["x", "sex", "race", "y", "p", "s"]
    return {n: [r[i] for r in rows] for i, n in enumerate(names)}


def stats_of(rows: list[tuple], spec: MonitoringSpec = SPEC) -> WindowStats:
    return WindowStats.zero(spec).fold(spec, encode_columns(spec, columns(rows)))


def random_rows(n: int, seed: int) -> list[tuple]:
    rng = np.random.default_rng(seed)
    strategies = [
        [-2.0, 0.5, np.nan],
        ["F", "M", "X", None],
        ["w", "b", None],
        [0, 1, None],
        [0, 1, None],
        S_VALUES,
    ]
    cols = [[vals[i] for i in rng.integers(0, len(vals), n)] for vals in strategies]
    return list(zip(*cols, strict=True))


# -- spec ------------------------------------------------------------------------------
def test_a_score_column_without_edges_gets_the_default_and_keeps_its_digest() -> None:
    doc = PLAIN.to_dict() | {"score": "s"}
    spec = MonitoringSpec.from_dict(doc)
    assert spec.score_edges == DEFAULT_SCORE_EDGES and spec.n_score_cells == 23
    assert DEFAULT_SCORE_EDGES[0] == 0.0 and DEFAULT_SCORE_EDGES[-1] == 1.0
    assert len(DEFAULT_SCORE_EDGES) == 21 and DEFAULT_SCORE_EDGES[3] == 0.15
    # the default is not written, so the document (and digest) is the pre-score_edges one
    assert spec.to_dict() == MonitoringSpec.from_dict(doc).to_dict()
    assert "score_edges" not in spec.to_dict()
    explicit = MonitoringSpec.from_dict(doc | {"score_edges": list(DEFAULT_SCORE_EDGES)})
    assert explicit.digest == spec.digest


def test_a_spec_without_score_is_unchanged() -> None:
    assert PLAIN.score_edges == () and PLAIN.n_score_cells == 0
    assert "score_edges" not in PLAIN.to_dict()
    # the digest of a spec without score is that of its document as it was written
    # before score edges existed (the fields below, nothing more)
    assert set(PLAIN.to_dict()) == {
        "format", "model", "label", "prediction", "score", "positive_label", "features",
        "sensitive", "intersections", "reference",
    }  # fmt: skip


def test_custom_score_edges_round_trip() -> None:
    doc = SPEC.to_dict()
    assert doc["score_edges"] == list(EDGES)
    again = MonitoringSpec.from_dict(json.loads(json.dumps(doc)))
    assert again.score_edges == EDGES and again.digest == SPEC.digest


@pytest.mark.parametrize(
    ("edges", "needle"),
    [
        ([0.5], "need at least two edges"),
        ([0.0, 0.5, 0.5, 1.0], "duplicate"),
        ([0.0, 0.7, 0.5, 1.0], "unsorted"),
        ([0.0, float("nan"), 1.0], "not a finite number"),
    ],
)
def test_bad_score_edges_are_rejected_naming_the_field(edges: list[float], needle: str) -> None:
    doc = PLAIN.to_dict() | {"score": "s", "score_edges": edges}
    with pytest.raises(SpecError, match="score_edges") as err:
        MonitoringSpec.from_dict(doc, source="spec.json")
    assert needle in str(err.value) and "spec.json" in str(err.value)


def test_score_edges_without_a_score_column_are_rejected() -> None:
    with pytest.raises(SpecError, match="score_edges: given, but the spec names no score"):
        MonitoringSpec.from_dict(PLAIN.to_dict() | {"score_edges": [0.0, 1.0]})


def test_derive_spec_fills_score_edges() -> None:
    rng = np.random.default_rng(0)
    n = 500
    cols = {
        "x": rng.normal(size=n),
        "sex": rng.choice(["F", "M"], n),
        "y": rng.integers(0, 2, n),
        "p": rng.integers(0, 2, n),
        "s": rng.random(n),
    }
    kw = dict(model_id="m", model_version="1", label="y", prediction="p", sensitive=["sex"])
    spec = derive_spec(cols, score="s", **kw)  # type: ignore[arg-type]
    assert spec.score_edges == DEFAULT_SCORE_EDGES and "s" not in [f.name for f in spec.features]
    assert len(derive_spec(cols, score="s", score_bins=50, **kw).score_edges) == 51  # type: ignore[arg-type]
    logits = derive_spec(cols | {"s": rng.normal(0, 3, n)}, score="s", **kw)  # type: ignore[arg-type]
    assert logits.score_edges[0] < 0 and logits.score_edges[-1] > 1
    assert len(logits.score_edges) == 21
    assert derive_spec(cols, **kw).score_edges == ()  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="score_bins"):
        derive_spec(cols, score="s", score_bins=0, **kw)  # type: ignore[arg-type]


# -- folding ---------------------------------------------------------------------------
def test_fold_matches_a_naive_count() -> None:
    rows = random_rows(600, seed=1)
    s = stats_of(rows)
    assert list(s.scores) == ["sex", "race", "sex*race"]
    sc = s.scores["sex"]
    assert sc.groups == ("F", "M", "__other__", "__missing__")
    assert sc.counts.shape == (4, 2, len(EDGES) + 2)
    slot = {"F": 0, "M": 1, "X": 2, None: 3}
    want = np.zeros(sc.counts.shape, dtype=int)
    for r in rows:
        if r[3] is None or r[4] is None:  # label or prediction missing: not counted
            continue
        want[slot[r[1]], r[3], int(numeric_cells(np.array([r[5]]), EDGES)[0])] += 1
    np.testing.assert_array_equal(sc.counts, want)
    # the cell layout: -0.5 underflow, 1.5 overflow, 1.0 in the last (closed) bin, NaN missing
    cells = numeric_cells(np.array([-0.5, 0.0, 0.25, 1.0, 1.5, np.inf, -np.inf, np.nan]), EDGES)
    assert cells.tolist() == [0, 1, 2, 4, 5, 5, 0, 6]


def test_score_rows_are_the_outcome_rows() -> None:
    s = stats_of(random_rows(800, seed=2))
    for name, sc in s.scores.items():
        oc = s.outcomes[name]
        assert sc.groups == oc.groups
        np.testing.assert_array_equal(sc.counts.sum(axis=2), oc.counts.sum(axis=2))
        assert int(sc.counts.sum()) + s.outcome_missing == s.rows


def test_no_score_column_means_no_score_tables() -> None:
    rows = [(0.5, "F", None, 1, 1, 0.3)] * 3
    cols = columns(rows)
    del cols["s"], cols["race"]
    s = WindowStats.zero(PLAIN).fold(PLAIN, encode_columns(PLAIN, cols))
    assert s.scores == {} and "scores" not in s.to_dict()
    assert WindowStats.zero(PLAIN).scores == {}


def test_a_batch_without_scores_is_refused_for_a_spec_with_a_score() -> None:
    import dataclasses

    batch = encode_columns(SPEC, columns(random_rows(10, seed=3)))
    with pytest.raises(ValueError, match="score column 's'"):
        WindowStats.zero(SPEC).fold(SPEC, dataclasses.replace(batch, score=None))


(
    test_stats_of_a_union_equal_the_merge_of_any_split,
    test_merge_is_associative_commutative_with_zero_identity,
) = law_tests(SPEC, row_strategy, stats_of, columns)


def test_equality_sees_a_single_score_cell() -> None:
    s = stats_of(random_rows(50, seed=4))
    counts = s.scores["race"].counts.copy()
    counts[0, 1, 2] += 1
    changed = WindowStats(
        s.spec_digest,
        s.rows,
        s.features,
        s.outcomes,
        s.outcome_missing,
        s.privacy,
        scores={**s.scores, "race": ScoreCounts("race", s.scores["race"].groups, counts)},
    )
    assert changed != s


def test_to_dict_round_trips_and_old_documents_load() -> None:
    s = stats_of(random_rows(300, seed=5))
    doc = json.loads(json.dumps(s.to_dict()))
    assert WindowStats.from_dict(doc) == s
    assert set(doc["scores"]) == {"sex", "race", "sex*race"}
    old = dict(doc)
    del old["scores"]  # written before score histograms existed
    assert WindowStats.from_dict(old).scores == {}
    doc["scores"]["sex"]["counts"] = [[[0.5]]]
    with pytest.raises(ValueError, match="scores.sex"):
        WindowStats.from_dict(doc)


def test_score_counts_refuse_bad_shapes_and_layout_mismatch() -> None:
    with pytest.raises(ValueError, match=r"shape \(2, 2, k \+ 3\)"):
        ScoreCounts("sex", ("F", "M"), np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="unique"):
        ScoreCounts("sex", ("F", "F"), np.zeros((2, 2, 4)))
    a = ScoreCounts.zero("sex", ("F", "M"), 5)
    with pytest.raises(ValueError, match="cells differ"):
        a.merge(ScoreCounts.zero("sex", ("F", "M"), 6))
    with pytest.raises(ValueError, match="score tables"):
        WindowStats.zero(SPEC).merge(
            WindowStats(SPEC.digest, 0, WindowStats.zero(SPEC).features,
                        WindowStats.zero(SPEC).outcomes)
        )  # fmt: skip
    frozen = ScoreCounts.zero("sex", ("F",), 4).counts
    with pytest.raises(ValueError):
        frozen[0, 0, 0] = 1
