"""Score histograms on the wire and in the aggregator's check against the spec.

Serde checks shapes and signs and still reads reports made before score
histograms; ``check_against_spec`` checks them against the registered spec
(layout, sums with the suppressed tally and outcome_missing, agreement with
the outcome counts), naming the field on rejection.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from support.reports import report_of as report
from support.specs import GUARDS, derive_credit_spec, guarded, stats_of

from aggregator.merge import merge_stats
from aggregator.validation import check_against_spec
from fedgov.errors import ReportRejected
from fedgov.metrics import compute_metrics
from fedgov.privacy import suppress_small_cells
from fedgov.spec import MonitoringSpec
from fedgov.stats import ScoreCounts, WindowStats
from fedgov.synthetic import credit_data
from fedgov.v1 import report_pb2
from fedgov.wire import (
    WireError,
    report_from_bytes,
    report_to_bytes,
    stats_from_proto,
    stats_to_proto,
)


@pytest.fixture(scope="module")
def spec() -> MonitoringSpec:
    return derive_credit_spec(
        3000, with_score=True, model_version="2.0.0", score="score", fine_bins=0
    )


@pytest.fixture(scope="module")
def raw(spec: MonitoringSpec) -> WindowStats:
    return stats_of(spec, credit_data(2000, seed=4, with_score=True))


def with_scores(s: WindowStats, name: str, **change: Any) -> WindowStats:
    scores = dict(s.scores)
    scores[name] = dataclasses.replace(scores[name], **change)
    return dataclasses.replace(s, scores=scores)


# -- serde -------------------------------------------------------------------------------
@pytest.mark.parametrize("guard", GUARDS)
def test_round_trip_through_proto_and_bytes(raw: WindowStats, guard: str) -> None:
    s = guarded(raw, guard)
    wire = report_pb2.WindowStats.FromString(stats_to_proto(s).SerializeToString())
    assert [m.attribute for m in wire.scores] == ["sex", "age_band", "sex*age_band"]
    assert stats_from_proto(wire) == s


def test_whole_report_round_trip(spec: MonitoringSpec, raw: WindowStats) -> None:
    r = report(spec, suppress_small_cells(raw, k=5))
    assert report_from_bytes(report_to_bytes(r)).stats == r.stats


def test_a_report_made_before_score_histograms_still_decodes(raw: WindowStats) -> None:
    m = stats_to_proto(raw)
    m.ClearField("scores")  # what an older agent sends: no field 7
    back = stats_from_proto(report_pb2.WindowStats.FromString(m.SerializeToString()))
    assert back.scores == {} and back.outcomes == raw.outcomes


Mutation = Any


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (
            lambda m: m.scores[0].counts.__setitem__(3, -1),
            r"scores\[0\] \(sex\): counts must be >= 0",
        ),
        (lambda m: setattr(m.scores[0], "suppressed", -1), r"scores\[0\] \(sex\)\.suppressed"),
        (lambda m: m.scores[0].counts.append(1), r"scores\[0\] \(sex\): expected len\(groups\)"),
        (lambda m: m.scores[0].counts.__delitem__(slice(12, None)), r"k >= 1 score bins"),
        (lambda m: m.scores[0].groups.append(m.scores[0].groups[0]), r"each named once"),
        (lambda m: m.scores[0].ClearField("groups"), r"need at least one group"),
        (lambda m: m.scores.append(m.scores[0]), r"scores\[3\].*duplicate attribute"),
    ],
)
def test_serde_rejects_malformed_score_tables(
    raw: WindowStats, mutate: Mutation, match: str
) -> None:
    m = stats_to_proto(raw)
    mutate(m)
    with pytest.raises(WireError, match=match):
        stats_from_proto(m)


# -- the aggregator's check ---------------------------------------------------------------
def test_valid_and_guarded_score_tables_pass(spec: MonitoringSpec, raw: WindowStats) -> None:
    for s in (
        *(guarded(raw, g, epsilon=0.5, seed=1) for g in GUARDS),
        dataclasses.replace(raw, scores={}),  # an agent made before score histograms
    ):
        check_against_spec(report(spec, s), spec)


def test_check_rejects_score_tables_unlike_the_spec(spec: MonitoringSpec, raw: WindowStats) -> None:
    sex = raw.scores["sex"]

    def rejects(s: WindowStats, match: str) -> None:
        with pytest.raises(ReportRejected, match=match):
            check_against_spec(report(spec, s), spec)

    rejects(
        dataclasses.replace(raw, scores={"sex": sex}),
        r"report\.stats\.scores: expected one table per attribute",
    )
    narrower = ScoreCounts("sex", sex.groups, sex.counts[:, :, 1:])
    rejects(with_scores(raw, "sex", counts=narrower.counts), r"scores\[sex\]: expected 23 cells")
    swapped = ScoreCounts("sex", tuple(reversed(sex.groups)), sex.counts)
    rejects(with_scores(raw, "sex", groups=swapped.groups), r"scores\[sex\]: groups differ")
    rejects(with_scores(raw, "sex", suppressed=3), r"scores\[sex\]: rows are marked suppressed")
    bumped = sex.counts.copy()
    bumped[0, 1, 5] += 2
    rejects(with_scores(raw, "sex", counts=bumped), r"scores\[sex\]: counts add up to")
    moved = sex.counts.copy()  # same total, but one row moved from F to M
    g = int(np.argmax(moved[0, 1]))
    moved[0, 1, g] -= 1
    moved[1, 1, g] += 1
    rejects(
        with_scores(raw, "sex", counts=moved),
        r"scores\[sex\]: group 'F' with y_true=1 has \d+ scored rows but \d+ rows in the outcome",
    )
    negative = sex.counts.copy()
    negative[0, 0, 0] = -1
    rejects(with_scores(raw, "sex", counts=negative), r"scores\[sex\]: negative count")
    plain = dataclasses.replace(spec, score=None, score_edges=())
    with pytest.raises(ReportRejected, match="the spec names no score column"):
        check_against_spec(report(plain, raw), plain)


def test_merge_drops_score_tables_when_some_reports_lack_them(
    spec: MonitoringSpec, raw: WindowStats
) -> None:
    new = report(spec, raw, "r1")
    old = report(spec, dataclasses.replace(raw, scores={}), "r2")
    assert merge_stats([new, new]).scores["sex"].counts.sum() == 2 * raw.scores["sex"].counts.sum()
    merged = merge_stats([new, old])
    assert merged.scores == {} and merged.rows == 2 * raw.rows
    fair = compute_metrics(spec, merged)["fairness"]["sex"]
    assert "auc_difference" not in fair and fair["demographic_parity_difference"] is not None
