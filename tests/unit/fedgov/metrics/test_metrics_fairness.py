"""Fairness metrics from counts, with fairlearn as the oracle."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equal_opportunity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_positive_rate,
    false_positive_rate_ratio,
    selection_rate,
    true_positive_rate,
    true_positive_rate_ratio,
)
from sklearn.metrics import accuracy_score
from support.specs import toy_spec

from fedgov.metrics import fairness as fm
from fedgov.spec import NumericFeature, SensitiveAttribute
from fedgov.stats import OutcomeCounts, WindowStats, encode_columns


def outcomes_for(
    attrs: dict[str, Sequence[str]],
    values: dict[str, list[object]],
    y: list[object],
    p: list[object],
    intersect: bool = False,
) -> dict[str, OutcomeCounts]:
    spec = toy_spec(
        features=(NumericFeature("x", (0.0, 1.0)),),
        sensitive=tuple(SensitiveAttribute(k, tuple(v)) for k, v in attrs.items()),
        intersections=(tuple(attrs),) if intersect else (),
    )
    cols = {"x": [0.5] * len(y), "y": y, "p": p, **values}
    return dict(WindowStats.zero(spec).fold(spec, encode_columns(spec, cols)).outcomes)


def nan_to_none(v: float) -> float | None:
    return None if math.isnan(v) else float(v)


def assert_close(ours: float | None, theirs: float | None) -> None:
    if theirs is None:
        assert ours is None
    else:
        assert ours == pytest.approx(theirs, abs=1e-12)


def check_against_fairlearn(oc: OutcomeCounts, yt: np.ndarray, yp: np.ndarray, sf: object) -> None:
    kw = {"sensitive_features": sf}
    assert_close(fm.demographic_parity_difference(oc), demographic_parity_difference(yt, yp, **kw))
    assert_close(
        fm.demographic_parity_ratio(oc), nan_to_none(demographic_parity_ratio(yt, yp, **kw))
    )
    assert fm.disparate_impact(oc) == fm.demographic_parity_ratio(oc)
    assert_close(fm.equal_opportunity_difference(oc), equal_opportunity_difference(yt, yp, **kw))
    assert_close(fm.equal_opportunity_ratio(oc), nan_to_none(equal_opportunity_ratio(yt, yp, **kw)))
    assert_close(fm.equalized_odds_difference(oc), equalized_odds_difference(yt, yp, **kw))
    theirs = nan_to_none(equalized_odds_ratio(yt, yp, **kw))
    if theirs is None:
        # documented deviation: fairlearn's min() over [tpr_ratio, fpr_ratio] holding NaN
        parts = [
            nan_to_none(true_positive_rate_ratio(yt, yp, **kw)),
            nan_to_none(false_positive_rate_ratio(yt, yp, **kw)),
        ]
        theirs = min((x for x in parts if x is not None), default=None)
    assert_close(fm.equalized_odds_ratio(oc), theirs)

    mf = MetricFrame(
        metrics={
            "count": count,
            "selection_rate": selection_rate,
            "tpr": true_positive_rate,
            "fpr": false_positive_rate,
            "accuracy": accuracy_score,
        },
        y_true=yt,
        y_pred=yp,
        sensitive_features=sf,
    )
    ours = fm.group_metrics(oc)
    by_group = mf.by_group
    seen = set()
    for key, row in by_group.iterrows():
        name = "|".join(key) if isinstance(key, tuple) else str(key)
        g = ours[name]
        if math.isnan(row["count"]):  # fairlearn lists absent combinations as NaN rows
            assert g["count"] == 0 and all(g[m] is None for m in ("selection_rate", "tpr"))
            continue
        seen.add(name)
        assert g["count"] == row["count"]
        for m in ("selection_rate", "tpr", "fpr", "accuracy"):
            assert g[m] == pytest.approx(row[m], abs=1e-12), (name, m)
    # declared groups fairlearn never saw have no rows and no rates
    for name, mask in zip(oc.groups, oc.declared_mask(), strict=True):
        if mask and name not in seen:
            assert ours[name]["count"] == 0 and ours[name]["selection_rate"] is None


def random_case(
    rng: np.random.Generator, groups: list[str], n: int, extra_noise: bool = True
) -> tuple[list[object], list[object], list[object]]:
    g: list[object] = list(rng.choice(groups, n))
    yt: list[object] = rng.integers(0, 2, n).tolist()
    yp: list[object] = rng.integers(0, 2, n).tolist()
    if extra_noise:  # undeclared / missing groups and labels: fairlearn never sees them
        for i in rng.choice(n, n // 10, replace=False):
            g[i] = rng.choice(["UNDECLARED", None])  # type: ignore[call-overload]
        for i in rng.choice(n, n // 20, replace=False):
            (yt if i % 2 else yp)[i] = None
    return g, yt, yp


def clean(g: list[object], yt: list[object], yp: list[object], declared: Sequence[str]):  # type: ignore[no-untyped-def]
    keep = [
        i for i in range(len(g)) if g[i] in declared and yt[i] is not None and yp[i] is not None
    ]
    return (
        np.array([yt[i] for i in keep]),
        np.array([yp[i] for i in keep]),
        np.array([g[i] for i in keep]),
    )


@pytest.mark.parametrize("n_groups", [2, 5])
@pytest.mark.parametrize("seed", range(6))
def test_random_groups_match_fairlearn(n_groups: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    declared = [f"g{i}" for i in range(n_groups)]
    g, yt, yp = random_case(rng, declared, n=int(rng.integers(20, 400)))
    oc = outcomes_for({"a": declared}, {"a": g}, yt, yp)["a"]
    check_against_fairlearn(oc, *clean(g, yt, yp, declared))


def test_group_with_no_positives_matches_fairlearn_zero_tpr() -> None:
    rng = np.random.default_rng(11)
    declared = ["A", "B", "C"]
    g, yt, yp = random_case(rng, declared, 200, extra_noise=False)
    yt = [0 if gi == "B" else v for gi, v in zip(g, yt, strict=True)]
    oc = outcomes_for({"a": declared}, {"a": g}, yt, yp)["a"]
    ours = fm.group_metrics(oc)
    assert ours["B"]["positives"] == 0 and ours["B"]["count"] > 0
    assert ours["B"]["tpr"] == 0.0  # fairlearn's value, not None
    assert true_positive_rate(np.zeros(3, int), np.array([1, 0, 1])) == 0.0
    check_against_fairlearn(oc, *clean(g, yt, yp, declared))


def test_group_with_no_negatives_matches_fairlearn_zero_fpr() -> None:
    g = ["A", "A", "A", "B", "B"]
    yt, yp = [1, 0, 1, 1, 1], [1, 1, 0, 1, 0]
    oc = outcomes_for({"a": ["A", "B"]}, {"a": g}, yt, yp)["a"]
    assert fm.group_metrics(oc)["B"]["fpr"] == 0.0
    check_against_fairlearn(oc, *clean(g, yt, yp, ["A", "B"]))


def test_group_with_a_single_row_matches_fairlearn() -> None:
    rng = np.random.default_rng(3)
    declared = ["A", "B", "solo"]
    g, yt, yp = random_case(rng, ["A", "B"], 150, extra_noise=False)
    g, yt, yp = g + ["solo"], yt + [1], yp + [0]
    oc = outcomes_for({"a": declared}, {"a": g}, yt, yp)["a"]
    assert fm.group_metrics(oc)["solo"]["count"] == 1
    check_against_fairlearn(oc, *clean(g, yt, yp, declared))


@pytest.mark.parametrize("seed", range(4))
def test_intersection_matches_fairlearn_with_two_sensitive_columns(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    sexes, races = ["F", "M"], ["w", "b", "a"]
    n = 300
    sex, yt, yp = random_case(rng, sexes, n)
    race, _, _ = random_case(rng, races, n)
    if seed == 0:  # one declared combination absent from the data
        race = ["w" if (s, r) == ("F", "a") else r for s, r in zip(sex, race, strict=True)]
    out = outcomes_for({"sex": sexes, "race": races}, {"sex": sex, "race": race}, yt, yp, True)
    oc = out["sex*race"]
    keep = [
        i
        for i in range(n)
        if sex[i] in sexes and race[i] in races and yt[i] is not None and yp[i] is not None
    ]
    sf = pd.DataFrame({"sex": [sex[i] for i in keep], "race": [race[i] for i in keep]})
    check_against_fairlearn(
        oc, np.array([yt[i] for i in keep]), np.array([yp[i] for i in keep]), sf
    )
    # and each attribute alone
    for name, vals, declared in (("sex", sex, sexes), ("race", race, races)):
        check_against_fairlearn(out[name], *clean(vals, yt, yp, declared))


def test_all_selection_rates_zero_gives_none_ratios_like_fairlearn_nan() -> None:
    g = ["A", "A", "B", "B"]
    yt, yp = [1, 0, 1, 0], [0, 0, 0, 0]
    oc = outcomes_for({"a": ["A", "B"]}, {"a": g}, yt, yp)["a"]
    assert math.isnan(demographic_parity_ratio(np.array(yt), np.array(yp), sensitive_features=g))
    assert fm.demographic_parity_ratio(oc) is None
    assert fm.demographic_parity_difference(oc) == 0.0
    assert math.isnan(equalized_odds_ratio(np.array(yt), np.array(yp), sensitive_features=g))
    assert fm.equalized_odds_ratio(oc) is None  # both TPR and FPR ratios are 0/0
    check_against_fairlearn(oc, *clean(g, yt, yp, ["A", "B"]))


def test_equalized_odds_ratio_uses_the_defined_part() -> None:
    # every TPR is 0 (TPR ratio 0/0) but FPRs differ: fairlearn says NaN, we say the FPR ratio
    g = ["A", "A", "A", "B", "B", "B"]
    yt = [1, 0, 0, 1, 0, 0]
    yp = [0, 1, 0, 0, 1, 1]
    oc = outcomes_for({"a": ["A", "B"]}, {"a": g}, yt, yp)["a"]
    assert math.isnan(equalized_odds_ratio(np.array(yt), np.array(yp), sensitive_features=g))
    assert fm.equalized_odds_ratio(oc) == pytest.approx(0.5)


def test_single_declared_group() -> None:
    g = ["A"] * 4 + ["Z"]
    yt, yp = [1, 0, 1, 0, 1], [1, 1, 0, 0, 0]
    oc = outcomes_for({"a": ["A", "B"]}, {"a": g}, yt, yp)["a"]
    assert fm.demographic_parity_difference(oc) == 0.0
    assert fm.demographic_parity_ratio(oc) == 1.0
    check_against_fairlearn(oc, *clean(g, yt, yp, ["A", "B"]))


def test_no_eligible_rows_gives_none_everywhere() -> None:
    oc = OutcomeCounts.zero("a", ("A", "B", "__other__", "__missing__"))
    for fn in (
        fm.demographic_parity_difference,
        fm.demographic_parity_ratio,
        fm.equalized_odds_difference,
        fm.equalized_odds_ratio,
        fm.equal_opportunity_difference,
        fm.equal_opportunity_ratio,
    ):
        assert fn(oc) is None
    assert all(
        v["selection_rate"] is None and v["tpr"] is None for v in fm.group_metrics(oc).values()
    )
    # rows only in the undeclared slots do not count either
    counts = np.zeros((4, 2, 2), dtype=np.int64)
    counts[2, 1, 1] = counts[3, 0, 1] = 5
    oc = OutcomeCounts("a", oc.groups, counts)
    assert fm.demographic_parity_difference(oc) is None
    assert fm.group_metrics(oc)["__other__"]["selection_rate"] == 1.0
