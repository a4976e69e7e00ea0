"""Per-group AUC and calibration error from score histograms, against sklearn and numpy.

Oracles: ``sklearn.metrics.roc_auc_score`` for AUC, a direct numpy expected
calibration error over the same bins, and ``sklearn.calibration.calibration_curve``.
Exact where the scores are constant within each cell (bin midpoints, or one
value below/above the edges); within the documented bounds otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_auc_score
from support.specs import toy_spec

from fedgov.metrics import (
    auc_difference,
    binned_auc,
    binned_calibration_error,
    compute_metrics,
    group_score_metrics,
    max_calibration_error,
)
from fedgov.spec import DEFAULT_SCORE_EDGES, MonitoringSpec, NumericFeature, SensitiveAttribute
from fedgov.stats import ScoreCounts, WindowStats, encode_columns

EDGES = np.asarray(DEFAULT_SCORE_EDGES)
MIDPOINTS = (EDGES[:-1] + EDGES[1:]) / 2
HALF_WIDTH = float(((EDGES[1:] - EDGES[:-1]) / 2).max())


def make_spec(score: str | None = "s", edges: tuple[float, ...] = ()) -> MonitoringSpec:
    return toy_spec(
        features=(NumericFeature("x", (0.0, 1.0)),),
        sensitive=(SensitiveAttribute("g", ("a", "b", "c")),),
        score=score,
        score_edges=edges,
    )


SPEC = make_spec()


def data(n: int, seed: int, *, midpoints: bool) -> dict[str, np.ndarray]:
    """Groups with different separation and calibration; scores in [0, 1]."""
    rng = np.random.default_rng(seed)
    g = rng.choice(np.array(["a", "b", "c"], dtype=object), n, p=[0.5, 0.3, 0.2])
    y = rng.integers(0, 2, n)
    shift = np.select([g == "a", g == "b"], [1.5, 0.7], 0.2)
    s = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + shift * (2 * y - 1))))
    if midpoints:  # every score is its bin's midpoint: binning loses nothing
        s = MIDPOINTS[np.minimum((s * 20).astype(int), 19)]
    return {"x": rng.random(n), "g": g, "y": y, "p": (s > 0.5).astype(int), "s": s}


def metrics_of(cols: dict[str, Any], spec: MonitoringSpec = SPEC) -> dict[str, Any]:
    stats = WindowStats.zero(spec).fold(spec, encode_columns(spec, cols))
    return compute_metrics(spec, stats)


def numpy_ece(y: np.ndarray, s: np.ndarray, edges: np.ndarray) -> float:
    """ECE over [e_i, e_{i+1}) bins (the last closed), with the true mean score per bin."""
    inside = (s >= edges[0]) & (s <= edges[-1])
    y, s = y[inside], s[inside]
    k = edges.size - 1
    b = np.minimum(np.searchsorted(edges, s, side="right") - 1, k - 1)
    total = 0.0
    for i in range(k):
        m = b == i
        if m.any():
            total += m.sum() * abs(s[m].mean() - y[m].mean())
    return total / s.size


def auc_tie_bound(y: np.ndarray, s: np.ndarray, edges: np.ndarray) -> float:
    """Share of (positive, negative) pairs that share a cell, halved: computed from raw data."""
    cells = np.searchsorted(edges, s, side="right")
    cells[s == edges[-1]] = edges.size - 1
    pos = np.bincount(cells[y == 1], minlength=edges.size + 1)
    neg = np.bincount(cells[y == 0], minlength=edges.size + 1)
    return float((pos * neg).sum() / (2 * pos.sum() * neg.sum()))


# -- the formulas ------------------------------------------------------------------------
def test_binned_auc_by_hand() -> None:
    # positives in cells 1, 2; negatives in 0, 1: 3 pairs won, 1 tied
    assert binned_auc([0, 1, 1], [1, 1, 0]) == (3.5 / 4, 0.5 / 4)
    assert binned_auc([0, 0, 3], [2, 0, 0]) == (1.0, 0.0)
    assert binned_auc([0, 5, 0], [0, 7, 0]) == (0.5, 0.5)
    assert binned_auc([0, 0], [1, 2]) is None and binned_auc([1, 0], [0, 0]) is None
    with pytest.raises(ValueError, match="same cells"):
        binned_auc([1], [1, 2])


def test_binned_auc_is_exact_in_integers() -> None:
    big = 3_000_000_000  # products overflow float64's exact integers
    auc, bound = binned_auc([big, big + 1], [big + 3, big]) or (0.0, 0.0)
    wins, ties = (big + 1) * (big + 3), big * (big + 3) + (big + 1) * big
    pairs = 2 * (2 * big + 1) * (2 * big + 3)
    assert auc == (2 * wins + ties) / pairs and bound == ties / pairs


def test_binned_calibration_error_by_hand() -> None:
    edges = [0.0, 0.5, 1.0]
    # bin 0 (mid 0.25): 1 of 4 positive -> 0; bin 1 (mid 0.75): 3 of 4 -> 0
    assert binned_calibration_error([1, 3], [3, 1], edges) == (0.0, 0.25)
    # bin 1 only: 4 of 4 positive -> |0.75 - 1| = 0.25
    assert binned_calibration_error([0, 4], [0, 0], edges) == (0.25, 0.25)
    assert binned_calibration_error([0, 0], [0, 0], edges) is None
    # the bound is half the widest non-empty bin
    assert binned_calibration_error([1, 0], [0, 0], [0.0, 0.2, 1.0]) == (0.9, 0.1)
    with pytest.raises(ValueError, match="one count per bin"):
        binned_calibration_error([1], [1], edges)


# -- against the oracles -------------------------------------------------------------------
def test_auc_and_calibration_are_exact_for_scores_at_bin_midpoints() -> None:
    cols = data(6000, seed=1, midpoints=True)
    fair = metrics_of(cols)["fairness"]["g"]
    for grp in ("a", "b", "c"):
        m = cols["g"] == grp
        y, s = cols["y"][m], cols["s"][m]
        gm = fair["groups"][grp]
        assert gm["scored"] == m.sum()
        assert gm["auc"] == pytest.approx(roc_auc_score(y, s), rel=1e-12, abs=1e-12)
        assert gm["calibration_error"] == pytest.approx(numpy_ece(y, s, EDGES), abs=1e-12)
        assert gm["auc_bound"] == pytest.approx(auc_tie_bound(y, s, EDGES), rel=1e-12)
        assert gm["calibration_error_bound"] == pytest.approx(HALF_WIDTH)
    aucs = [roc_auc_score(cols["y"][cols["g"] == g], cols["s"][cols["g"] == g]) for g in "abc"]
    assert fair["auc_difference"] == pytest.approx(max(aucs) - min(aucs), abs=1e-12)
    eces = [numpy_ece(cols["y"][cols["g"] == g], cols["s"][cols["g"] == g], EDGES) for g in "abc"]
    assert fair["max_calibration_error"] == pytest.approx(max(eces), abs=1e-12)


def continuous_groups(seed: int) -> Iterator[tuple[np.ndarray, np.ndarray, dict[str, Any]]]:
    """(labels, scores, computed group metrics) of each group of continuous-score data."""
    cols = data(8000, seed=seed, midpoints=False)
    fair = metrics_of(cols)["fairness"]["g"]
    for grp in ("a", "b", "c"):
        m = cols["g"] == grp
        yield cols["y"][m], cols["s"][m], fair["groups"][grp]


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_auc_on_continuous_scores_is_within_the_tie_bound(seed: int) -> None:
    for y, s, gm in continuous_groups(seed):
        exact = roc_auc_score(y, s)
        bound = auc_tie_bound(y, s, EDGES)
        assert gm["auc_bound"] == pytest.approx(bound, rel=1e-12)
        assert abs(gm["auc"] - exact) <= bound + 1e-12
        # in practice far inside it: the ties within a bin split about evenly
        assert abs(gm["auc"] - exact) <= bound / 4


@pytest.mark.parametrize("seed", [5, 6])
def test_calibration_error_on_continuous_scores_is_within_half_a_bin(seed: int) -> None:
    for y, s, gm in continuous_groups(seed):
        assert abs(gm["calibration_error"] - numpy_ece(y, s, EDGES)) <= HALF_WIDTH
        # sklearn's reliability curve over the same 20 uniform bins
        prob_true, prob_pred = calibration_curve(y, s, n_bins=20, strategy="uniform")
        n_bin = np.histogram(s, bins=np.linspace(0, 1, 21))[0]
        w = n_bin[n_bin > 0] / s.size
        sk_ece = float((w * np.abs(prob_true - prob_pred)).sum())
        assert sk_ece == pytest.approx(numpy_ece(y, s, EDGES), abs=1e-12)
        assert abs(gm["calibration_error"] - sk_ece) <= HALF_WIDTH


def test_positive_rates_per_bin_equal_sklearns_calibration_curve() -> None:
    """What the ECE compares each midpoint with is exactly sklearn's prob_true."""
    cols = data(5000, seed=7, midpoints=False)
    stats = WindowStats.zero(SPEC).fold(SPEC, encode_columns(SPEC, cols))
    c = stats.scores["g"].counts[0, :, 1:-2]  # group "a", bins only
    nonempty = c.sum(axis=0) > 0
    m = cols["g"] == "a"
    prob_true, _ = calibration_curve(cols["y"][m], cols["s"][m], n_bins=20)
    np.testing.assert_allclose(c[1, nonempty] / c.sum(axis=0)[nonempty], prob_true, rtol=1e-12)


# -- edge cases ----------------------------------------------------------------------------
def test_undefined_values_are_none_and_the_output_is_strict_json() -> None:
    cols = data(400, seed=8, midpoints=False)
    cols["y"][cols["g"] == "b"] = 0  # b: negatives only
    cols["g"][cols["g"] == "c"] = "z"  # c: no rows; z lands in __other__
    metrics = metrics_of(cols)
    json.dumps(metrics, allow_nan=False)
    groups = metrics["fairness"]["g"]["groups"]
    assert groups["b"]["auc"] is None and groups["b"]["auc_bound"] is None
    assert groups["b"]["calibration_error"] is not None  # defined without positives
    assert groups["c"]["scored"] == 0
    assert groups["c"]["auc"] is None and groups["c"]["calibration_error"] is None
    assert groups["__other__"]["auc"] is not None  # reported, but not compared
    fair = metrics["fairness"]["g"]
    assert fair["auc_difference"] == 0.0  # only "a" has an AUC among declared groups
    assert fair["max_calibration_error"] == max(groups[g]["calibration_error"] for g in ("a", "b"))


def test_no_declared_group_with_scores_gives_none() -> None:
    sc = ScoreCounts.zero("g", ("a", "__other__", "__missing__"), 23)
    assert auc_difference(sc, DEFAULT_SCORE_EDGES) is None
    assert max_calibration_error(sc, DEFAULT_SCORE_EDGES) is None
    with pytest.raises(ValueError, match="23 cells"):
        group_score_metrics(sc, (0.0, 1.0))


def test_nan_scores_go_to_the_missing_cell_and_out_of_the_metrics() -> None:
    cols = data(3000, seed=9, midpoints=True)
    nan = np.random.default_rng(1).random(cols["s"].size) < 0.1
    cols["s"] = np.where(nan, np.nan, cols["s"])
    stats = WindowStats.zero(SPEC).fold(SPEC, encode_columns(SPEC, cols))
    assert stats.scores["g"].counts[..., -1].sum() == nan.sum()
    metrics = compute_metrics(SPEC, stats)
    json.dumps(metrics, allow_nan=False)
    m = (cols["g"] == "a") & ~nan
    gm = metrics["fairness"]["g"]["groups"]["a"]
    assert gm["scored"] == m.sum() and gm["count"] == (cols["g"] == "a").sum()
    assert gm["auc"] == pytest.approx(roc_auc_score(cols["y"][m], cols["s"][m]), abs=1e-12)
    assert gm["calibration_error"] == pytest.approx(
        numpy_ece(cols["y"][m], cols["s"][m], EDGES), abs=1e-12
    )


def test_scores_outside_the_edges_rank_below_and_above_every_bin() -> None:
    cols = data(3000, seed=10, midpoints=True)
    rng = np.random.default_rng(2)
    low, high = rng.random(cols["s"].size) < 0.05, rng.random(cols["s"].size) < 0.05
    s = np.where(low, -0.5, np.where(high & ~low, 1.5, cols["s"]))
    metrics = metrics_of(cols | {"s": s})
    for grp in ("a", "b"):
        m = cols["g"] == grp
        gm = metrics["fairness"]["g"]["groups"][grp]
        # one value per out-of-range cell: still exact against sklearn
        assert gm["auc"] == pytest.approx(roc_auc_score(cols["y"][m], s[m]), abs=1e-12)
        # calibration reads only the scores within the edges
        assert gm["calibration_error"] == pytest.approx(
            numpy_ece(cols["y"][m], s[m], EDGES), abs=1e-12
        )


def test_logit_scores_with_their_own_edges() -> None:
    spec = make_spec(edges=tuple(float(e) for e in np.linspace(-6, 6, 25)))
    rng = np.random.default_rng(11)
    n = 4000
    cols = data(n, seed=11, midpoints=False)
    logit = rng.integers(-6, 6, n) + 0.25  # one value per half-unit bin: exact
    cols["s"] = logit + 2.0 * cols["y"]
    metrics = metrics_of(cols, spec)
    m = cols["g"] == "a"
    gm = metrics["fairness"]["g"]["groups"]["a"]
    assert gm["auc"] == pytest.approx(roc_auc_score(cols["y"][m], cols["s"][m]), abs=1e-12)


def test_without_a_score_column_no_score_metrics_appear() -> None:
    spec = make_spec(score=None)
    cols = data(500, seed=12, midpoints=False)
    del cols["s"]
    fair = metrics_of(cols, spec)["fairness"]["g"]
    assert "auc_difference" not in fair and "max_calibration_error" not in fair
    assert "auc" not in fair["groups"]["a"]


def test_merged_silos_give_the_pooled_auc() -> None:
    cols = data(4000, seed=13, midpoints=False)
    halves = [{k: v[:1500] for k, v in cols.items()}, {k: v[1500:] for k, v in cols.items()}]
    parts = [WindowStats.zero(SPEC).fold(SPEC, encode_columns(SPEC, h)) for h in halves]
    assert compute_metrics(SPEC, parts[0].merge(parts[1])) == metrics_of(cols)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_scoring_rate_brackets_the_share_above_the_true_median(seed: int) -> None:
    """LL144's scoring rate: the merged histogram's cut is the bin edge at or above
    the numpy median, and each group's share above the true median lies between
    ``scoring_rate`` (exact at the cut, checked against numpy) and ``scoring_rate_upper``."""
    cols = data(4000, seed, midpoints=False)
    fair = metrics_of(cols)["fairness"]["g"]
    s, g = cols["s"], cols["g"]
    median = float(np.median(s))
    assert fair["score_cut_low"] <= median <= fair["score_cut"]
    assert fair["score_cut"] - fair["score_cut_low"] <= 2 * HALF_WIDTH + 1e-12
    for group in ("a", "b", "c"):
        mine = s[g == group]
        m = fair["groups"][group]
        assert m["scoring_rate"] == pytest.approx(np.mean(mine >= fair["score_cut"]), abs=1e-12)
        assert m["scoring_rate"] <= np.mean(mine > median) <= m["scoring_rate_upper"]
    assert fair["groups"]["__missing__"]["scoring_rate"] is None  # no rows: undefined, not 0


def test_scoring_rate_of_merged_windows_equals_the_pooled_one() -> None:
    """Counts merge, so the cut and the rates of two silos equal those of the pooled rows."""
    a, b = data(1500, 5, midpoints=False), data(2500, 6, midpoints=False)
    merged = WindowStats.zero(SPEC).fold(SPEC, encode_columns(SPEC, a))
    merged = merged.merge(WindowStats.zero(SPEC).fold(SPEC, encode_columns(SPEC, b)))
    pooled = metrics_of({k: np.concatenate([a[k], b[k]]) for k in a})
    assert compute_metrics(SPEC, merged)["fairness"]["g"] == pooled["fairness"]["g"]
