"""Window statistics on the wire: fine counts, suppression tallies, privacy metadata.

Serde checks shapes and signs; the aggregator's ``check_against_spec``
checks counts against the registered spec (fine layout, sums with the
suppressed tally, skipped sums for noised statistics).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from support.reports import report_of as report
from support.specs import GUARDS, guarded, stats_of

from aggregator.validation import check_against_spec
from fedgov.errors import ReportRejected
from fedgov.privacy import add_laplace_noise, suppress_small_cells
from fedgov.spec import MonitoringSpec
from fedgov.stats import FeatureCounts, OutcomeCounts, Privacy, WindowStats
from fedgov.synthetic import credit_data
from fedgov.v1 import report_pb2
from fedgov.wire import (
    WireError,
    report_from_proto,
    report_to_proto,
    stats_from_proto,
    stats_to_proto,
)


@pytest.fixture(scope="module")
def raw(credit_spec: MonitoringSpec) -> WindowStats:
    return stats_of(credit_spec, credit_data(3000, seed=4))


def test_credit_spec_has_fine_counts(credit_spec: MonitoringSpec, raw: WindowStats) -> None:
    fine = [fc for fc in raw.features.values() if fc.fine.size]
    assert fine and all(fc.kind == "numeric" for fc in fine)


@pytest.mark.parametrize("guard", GUARDS)
def test_round_trip_through_proto_and_bytes(raw: WindowStats, guard: str) -> None:
    s = guarded(raw, guard)
    wire = report_pb2.WindowStats.FromString(stats_to_proto(s).SerializeToString())
    assert stats_from_proto(wire) == s
    assert wire.privacy.HasField("k") == (s.privacy.k is not None)
    assert wire.privacy.HasField("epsilon") == (s.privacy.epsilon is not None)
    for name in ("rho", "sigma", "rho_total", "delta"):
        assert wire.privacy.HasField(name) == (guard == "gaussian")


def test_whole_report_round_trip(credit_spec: MonitoringSpec, raw: WindowStats) -> None:
    r = report(credit_spec, suppress_small_cells(raw, k=5))
    back = report_from_proto(report_pb2.Report.FromString(report_to_proto(r).SerializeToString()))
    assert back.stats == r.stats


Mutation = Callable[[report_pb2.WindowStats], Any]


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (
            lambda m: m.features[0].fine_counts.__setitem__(0, -1),
            r"fine_counts: counts must be >= 0",
        ),
        (lambda m: setattr(m.features[0], "suppressed", -2), r"\.suppressed: must be >= 0"),
        (lambda m: setattr(m.features[0], "fine_suppressed", -1), r"fine_suppressed: must be >= 0"),
        (lambda m: setattr(m.outcomes[0], "suppressed", -1), r"outcomes\[0\].*suppressed"),
        (lambda m: setattr(m.privacy, "k", 0), r"privacy\.k: must be >= 1"),
        (lambda m: setattr(m.privacy, "epsilon", -1.0), r"privacy\.epsilon"),
        (lambda m: setattr(m.privacy, "epsilon", float("nan")), r"privacy\.epsilon"),
        (lambda m: setattr(m, "outcome_missing", -1), r"outcome_missing: must be >= 0"),
        (lambda m: m.outcomes[0].groups.append(m.outcomes[0].groups[0]), r"duplicate group"),
        (lambda m: m.outcomes.append(m.outcomes[0]), r"duplicate attribute"),
        (lambda m: m.features[0].counts.__delitem__(slice(1, None)), r"at least 3 cells"),
    ],
)
def test_serde_rejects_malformed_stats(raw: WindowStats, mutate: Mutation, match: str) -> None:
    m = stats_to_proto(raw)
    numeric = [i for i, f in enumerate(m.features) if f.fine_counts]
    m.features.insert(0, m.features[numeric[0]])  # a numeric feature first
    del m.features[numeric[0] + 1]
    mutate(m)
    with pytest.raises(WireError, match=match):
        stats_from_proto(m)


def test_serde_rejects_fine_counts_on_a_categorical_feature(raw: WindowStats) -> None:
    m = stats_to_proto(raw)
    cat = next(f for f in m.features if f.kind == "categorical")
    cat.fine_counts.extend([1, 2, 3])
    with pytest.raises(WireError, match="only a numeric feature has them"):
        stats_from_proto(m)


# -- the aggregator's check against the registered spec ----------------------------


def with_feature(s: WindowStats, name: str, **change: Any) -> WindowStats:
    feats = dict(s.features)
    feats[name] = dataclasses.replace(feats[name], **change)
    return dataclasses.replace(s, features=feats)


def numeric_name(s: WindowStats) -> str:
    return next(n for n, fc in s.features.items() if fc.fine.size)


def test_guarded_stats_pass_the_check(credit_spec: MonitoringSpec, raw: WindowStats) -> None:
    for s in (guarded(raw, g, epsilon=0.5, seed=1) for g in GUARDS):
        check_against_spec(report(credit_spec, s), credit_spec)


def test_check_rejects_bad_fine_counts(credit_spec: MonitoringSpec, raw: WindowStats) -> None:
    name = numeric_name(raw)
    fine = raw.features[name].fine
    bumped = fine.copy()
    bumped[3] += 1
    cases = [
        (with_feature(raw, name, fine=fine[:-1]), r"\.fine: expected \d+ cells"),
        (with_feature(raw, name, fine=np.zeros(0, np.int64)), r"\.fine: expected \d+ cells"),
        (with_feature(raw, name, fine=bumped), r"\.fine: counts add up to"),
        (
            with_feature(raw, name, suppressed=1),
            r": rows are marked suppressed.*privacy\.k is not set",
        ),
    ]
    for stats, match in cases:
        with pytest.raises(ReportRejected, match=f"features\\[{name}\\]{match}"):
            check_against_spec(report(credit_spec, stats), credit_spec)


def test_check_counts_the_suppressed_rows(credit_spec: MonitoringSpec, raw: WindowStats) -> None:
    s = suppress_small_cells(raw, k=10)
    name = numeric_name(s)
    fc = s.features[name]
    with pytest.raises(ReportRejected, match="counts add up to"):
        bad = with_feature(s, name, fine_suppressed=fc.fine_suppressed + 1)
        check_against_spec(report(credit_spec, bad), credit_spec)
    oc = next(iter(s.outcomes.values()))
    outcomes = {
        **s.outcomes,
        oc.attribute: OutcomeCounts(oc.attribute, oc.groups, oc.counts, oc.suppressed + 1),
    }
    with pytest.raises(ReportRejected, match=r"outcomes\[.*suppressed"):
        check_against_spec(
            report(credit_spec, dataclasses.replace(s, outcomes=outcomes)), credit_spec
        )


def test_noised_stats_skip_sums_not_shapes(credit_spec: MonitoringSpec, raw: WindowStats) -> None:
    s = add_laplace_noise(raw, 1.0, seed=2)
    name = numeric_name(s)
    fine = s.features[name].fine.copy()
    fine[0] += 1000  # off by far more than rows: noise makes no sum exact
    check_against_spec(report(credit_spec, with_feature(s, name, fine=fine)), credit_spec)
    with pytest.raises(ReportRejected, match="negative count"):
        fine[0] = -1
        check_against_spec(report(credit_spec, with_feature(s, name, fine=fine)), credit_spec)
    with pytest.raises(ReportRejected, match="expected"):
        check_against_spec(report(credit_spec, with_feature(s, name, fine=fine[1:])), credit_spec)


def test_check_rejects_outcomes_unlike_the_spec(
    credit_spec: MonitoringSpec, raw: WindowStats
) -> None:
    first = next(iter(raw.outcomes))
    fewer = {k: v for k, v in raw.outcomes.items() if k != first}
    with pytest.raises(ReportRejected, match="expected attributes"):
        check_against_spec(
            report(credit_spec, dataclasses.replace(raw, outcomes=fewer)), credit_spec
        )
    oc = raw.outcomes[first]
    renamed = OutcomeCounts(first, ("a", *oc.groups[1:]), oc.counts)
    with pytest.raises(ReportRejected, match="groups differ"):
        check_against_spec(
            report(
                credit_spec, dataclasses.replace(raw, outcomes={**raw.outcomes, first: renamed})
            ),
            credit_spec,
        )


def test_categorical_features_carry_no_fine_counts(
    credit_spec: MonitoringSpec, raw: WindowStats
) -> None:
    name = next(n for n, fc in raw.features.items() if fc.kind == "categorical")
    assert raw.features[name].fine.size == 0
    with pytest.raises(ValueError, match="fine counts"):
        FeatureCounts(name, "categorical", raw.features[name].counts, [1, 2, 3])
    assert Privacy() == raw.privacy


# -- the decoder's sums and the spec's cached layout ---------------------------------


@pytest.mark.parametrize("guard", GUARDS)
def test_decoded_totals_are_the_arrays_totals(raw: WindowStats, guard: str) -> None:
    """The sums and minima the decoder hands over are those of the arrays it made."""
    from fedgov.stats._totals import sums_and_minima

    s = guarded(raw, guard, epsilon=0.5, seed=3)
    decoded = stats_from_proto(
        report_pb2.WindowStats.FromString(stats_to_proto(s).SerializeToString())
    )
    assert decoded.cell_totals() == sums_and_minima(decoded.count_arrays())
    assert decoded.cell_totals() != ({}, {})


def test_layout_checks_whatever_the_feature_order(
    credit_spec: MonitoringSpec, raw: WindowStats
) -> None:
    """Features in another order than the spec's pass; missing, extra or reshaped ones
    are refused by name, on a decoded report as on one built here."""
    shuffled = dataclasses.replace(raw, features=dict(reversed(raw.features.items())))
    check_against_spec(report(credit_spec, shuffled), credit_spec)
    name = numeric_name(raw)
    fewer = {k: v for k, v in raw.features.items() if k != name}
    extra = {**raw.features, "zz": dataclasses.replace(raw.features[name], name="zz")}
    categorical = {
        **raw.features,
        name: dataclasses.replace(
            raw.features[name], kind="categorical", fine=np.zeros(0, np.int64)
        ),
    }
    cases = [
        (fewer, f"missing feature '{name}'"),
        (extra, r"not in the spec: \['zz'\]"),
        (categorical, rf"features\[{name}\]: expected \d+ numeric cells, got \d+ categorical"),
    ]
    for features, match in cases:
        bad = report(credit_spec, dataclasses.replace(raw, features=features))
        with pytest.raises(ReportRejected, match=match):
            check_against_spec(bad, credit_spec)
        decoded = report_from_proto(
            report_pb2.Report.FromString(report_to_proto(bad).SerializeToString())
        )
        with pytest.raises(ReportRejected, match=match):
            check_against_spec(decoded, credit_spec)


def test_decoded_counts_that_do_not_add_up_are_refused(
    credit_spec: MonitoringSpec, raw: WindowStats
) -> None:
    """The sums the decoder worked out are the ones checked: one count more is refused."""
    name = numeric_name(raw)
    msg = report_to_proto(report(credit_spec, raw))
    feature = next(f for f in msg.stats.features if f.name == name)
    feature.counts[1] += 1
    decoded = report_from_proto(report_pb2.Report.FromString(msg.SerializeToString()))
    with pytest.raises(ReportRejected, match=rf"features\[{name}\]\.counts: counts add up to"):
        check_against_spec(decoded, credit_spec)
    feature.counts[1] -= 1
    check_against_spec(
        report_from_proto(report_pb2.Report.FromString(msg.SerializeToString())), credit_spec
    )


@pytest.mark.parametrize(
    ("field", "match"),
    [
        ("counts", r"stats\.features\[\d+\] \(\w+\): counts must be >= 0, found -3"),
        ("fine_counts", r"stats\.features\[\d+\] \(\w+\)\.fine_counts: counts must be >= 0"),
        ("suppressed", r"stats\.features\[\d+\] \(\w+\)\.suppressed: must be >= 0, got -2"),
        ("fine_suppressed", r"stats\.features\[\d+\] \(\w+\)\.fine_suppressed: must be >= 0"),
    ],
)
def test_negative_feature_fields_are_named(raw: WindowStats, field: str, match: str) -> None:
    """A negative count or tally of a feature is refused naming the feature and field."""
    msg = stats_to_proto(raw)
    f = next(f for f in msg.features if len(f.fine_counts))
    if field.endswith("counts"):
        getattr(f, field)[1] = -3
    else:
        setattr(f, field, -2)
    with pytest.raises(WireError, match=match):
        stats_from_proto(report_pb2.WindowStats.FromString(msg.SerializeToString()))
