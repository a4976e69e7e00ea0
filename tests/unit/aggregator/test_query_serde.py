"""Every query answer survives its trip through the proto unchanged (aggregator.query_serde)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator import answers as a
from aggregator.query_serde import (
    answer_from_proto,
    answer_to_proto,
    metrics_from_proto,
    metrics_to_proto,
    rows_from_proto,
    rows_to_proto,
)
from fedgov.v1 import aggregator_pb2 as pb

_text = st.text(max_size=8)
_texts = st.lists(_text, max_size=3).map(tuple)
_ms = st.integers(min_value=0, max_value=2**62)
_real = st.floats(allow_nan=False, allow_infinity=False)
_number = st.one_of(st.none(), _real, st.integers(min_value=-(2**62), max_value=2**62))
_names = st.dictionaries(_text, _number, max_size=4).filter(
    lambda d: not {"drift", "fairness", "groups"} & set(d)
)
_metrics = st.fixed_dictionaries(
    {
        "sample_size": st.integers(min_value=0, max_value=2**40),
        "drift": st.fixed_dictionaries({"features": st.dictionaries(_text, _names, max_size=3)}),
        "fairness": st.dictionaries(
            _text,
            st.tuples(_names, st.dictionaries(_text, _names, max_size=3)).map(
                lambda t: {**t[0], "groups": t[1]}
            ),
            max_size=3,
        ),
    }
)
_lineage = st.dictionaries(
    _text, st.one_of(st.none(), _text, st.integers(), st.lists(st.integers(), max_size=3))
)
_decision = (st.booleans(), _texts, _texts, _texts)

ANSWERS: dict[type[Any], st.SearchStrategy[Any]] = {
    a.DriftRow: st.builds(
        a.DriftRow, _text, _text, _text, _text, _text, _real, st.none() | _real, _ms, _text
    ),
    a.Fairness: st.builds(
        a.Fairness, _text, _text, _texts, _texts, _ms, st.integers(0, 2**31 - 1), _metrics
    ),
    a.DecisionRow: st.builds(a.DecisionRow, _text, _text, _text, _text, *_decision, _ms, _text),
    a.JobRow: st.builds(
        a.JobRow, _text, _text, _text, _text, _text, _ms, _texts, _texts, _text, _text
    ),
    a.CentralRow: st.builds(a.CentralRow, _text, _text, _text, _texts, _ms, *_decision, _ms),
    a.SiloRow: st.builds(a.SiloRow, _text, _text, _ms, _ms, _texts, _text),
    a.HistoryPoint: st.builds(a.HistoryPoint, _text, _text, _text, _ms, st.none() | _real, _text),
    a.ModelVersion: st.builds(
        a.ModelVersion, _text, _text, _text, _ms, _text, _texts, _lineage, _ms
    ),
}


def _same(x: a.Answer, y: a.Answer) -> bool:
    """Equal, and equal as ``--json`` would print them (ints stay ints, floats floats)."""
    dump = lambda v: json.dumps(a.to_json(v), sort_keys=True)  # noqa: E731
    return x == y and type(x) is type(y) and dump(x) == dump(y)


@settings(max_examples=40, deadline=None)
@given(st.one_of(*ANSWERS.values()))
def test_every_answer_round_trips(answer: a.Answer) -> None:
    wire = answer_to_proto(answer).SerializeToString()
    msg = type(answer_to_proto(answer)).FromString(wire)
    assert _same(answer_from_proto(type(answer), msg), answer)


@settings(max_examples=15, deadline=None)
@given(
    st.sampled_from([k for k in ANSWERS if k is not a.Fairness]).flatmap(
        lambda k: st.lists(ANSWERS[k], max_size=3).map(lambda rows: (k, rows))
    )
)
def test_rows_round_trip_in_their_response(kind_rows: tuple[type[Any], list[Any]]) -> None:
    kind, rows = kind_rows
    assert rows_from_proto(kind, rows_to_proto(kind, rows)) == rows


@settings(max_examples=30, deadline=None)
@given(_metrics)
def test_metrics_travel_typed_and_keep_ints_and_nulls(metrics: dict[str, Any]) -> None:
    back = metrics_from_proto(
        pb.MergedMetrics.FromString(metrics_to_proto(metrics).SerializeToString())
    )
    assert json.dumps(back, sort_keys=True) == json.dumps(metrics, sort_keys=True)


def test_fairness_fills_the_deprecated_json_and_reads_an_older_aggregator() -> None:
    metrics = {
        "sample_size": 10,
        "drift": {"features": {"income": {"psi": 0.3, "ks_bound": None}}},
        "fairness": {"sex": {"demographic_parity_ratio": 0.7, "groups": {"F": {"count": 4}}}},
    }
    ans = a.Fairness("m", "1.0.0", ("EU-DE",), ("EU-DE",), 10, 1, metrics)
    msg = answer_to_proto(ans)
    assert isinstance(msg, pb.FairnessQueryResponse)
    assert json.loads(msg.metrics_json) == metrics  # what clients older than `metrics` read
    assert msg.metrics.fairness["sex"].groups["F"].values["count"].count == 4
    msg.ClearField("metrics")  # an aggregator older than `metrics` sends only the JSON
    assert answer_from_proto(a.Fairness, msg) == ans


def test_a_fairness_answer_carries_its_evidence() -> None:
    """Report ids, rounds and withheld figures survive the wire (a report cites them)."""
    withheld = ({"table": "outcomes", "name": "sex*age_band", "group": "F|<30", "rows": 7},)
    ans = a.Fairness(
        "m", "1", ("A", "B", "C"), ("EU-DE",), 30, 0, {"sample_size": 30},
        source="exact, secure sum of 3 silos", spec_digest="d" * 64,
        round_ids=("r1",), withheld=withheld,
    )  # fmt: skip
    back = answer_from_proto(a.Fairness, answer_to_proto(ans))
    assert dataclasses.replace(back, metrics=ans.metrics) == ans
    assert back.withheld == withheld and back.round_ids == ("r1",)
    old = answer_to_proto(ans)
    old.ClearField("withheld_json")  # an aggregator from before the field: nothing withheld
    assert answer_from_proto(a.Fairness, old).withheld == ()


def test_json_keys_are_the_field_names() -> None:
    row = a.DriftRow("EU-DE", "EU-DE", "m", "1", "income", 0.4, None, 5, "r1")
    assert a.to_json([row]) == [
        {
            "silo": "EU-DE",
            "jurisdiction": "EU-DE",
            "model": "m",
            "version": "1",
            "feature": "income",
            "psi": 0.4,
            "psi_pvalue": None,
            "window_end_ms": 5,
            "report_id": "r1",
        }
    ]
