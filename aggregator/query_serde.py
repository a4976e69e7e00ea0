"""The query boundary's serde: each answer of :mod:`aggregator.answers` to its
``fedgov.v1.aggregator`` message and back, declared once per kind.

A kind is a table from answer field to message field; a field named the same
on both sides is left out. Optional numbers travel with a ``has_*`` flag, a
decision's fields in the row's ``decision`` message, the merged metrics as a
typed :class:`MergedMetrics` message, and a model version's lineage (an open
record the retraining writes, kept as JSON in the store) as a JSON string: a
``Struct`` would turn its integers (rounds, run and node ids) into floats.
Both are decoded here and nowhere else.

Compatibility: ``FairnessQueryResponse.metrics_json`` is deprecated but still
filled, so clients older than ``metrics`` keep working; a response without
``metrics`` (an older aggregator) is read from ``metrics_json``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf.message import Message

from aggregator.answers import (
    Answer,
    CentralRow,
    DecisionRow,
    DriftRow,
    Fairness,
    HistoryPoint,
    JobRow,
    ModelVersion,
    SiloRow,
)
from fedgov.v1 import aggregator_pb2 as pb

__all__ = [
    "answer_from_proto",
    "answer_to_proto",
    "metrics_from_proto",
    "metrics_to_proto",
    "rows_from_proto",
    "rows_to_proto",
]

A = TypeVar("A", bound=Answer)
M = TypeVar("M")


@dataclass(frozen=True)
class _Optional:
    """A number that may be None: the value and a ``has_*`` flag."""

    name: str
    flag: str


@dataclass(frozen=True)
class _Json:
    name: str


@dataclass(frozen=True)
class _Metrics:
    name: str
    legacy: str


@dataclass(frozen=True)
class _JsonRows:
    """A tuple of JSON objects carried as one JSON list."""

    name: str


_Wire = str | _Optional | _Json | _JsonRows | _Metrics

_DECISION = {k: f"decision.{k}" for k in ("allow", "deny", "warn", "actions")}
_SILO = {"silo": "silo_id", "model": "model_id", "version": "model_version"}

# answer type -> (its message, answer field -> message field where they differ)
_KINDS: dict[type[Any], tuple[type[Message], Mapping[str, _Wire]]] = {
    DriftRow: (
        pb.DriftRow,
        _SILO
        | {"psi_pvalue": _Optional("psi_pvalue", "has_pvalue")}
        | {"window_end_ms": "window_end_unix_ms"},
    ),
    Fairness: (
        pb.FairnessQueryResponse,
        {"model": "model_id", "version": "model_version"}
        | {"metrics": _Metrics("metrics", "metrics_json")}
        | {"withheld": _JsonRows("withheld_json")},
    ),
    DecisionRow: (pb.DecisionRow, _SILO | _DECISION | {"window_end_ms": "window_end_unix_ms"}),
    JobRow: (
        pb.JobRow,
        {"model": "model_id", "version": "model_version", "created_ms": "created_unix_ms"},
    ),
    CentralRow: (
        pb.CentralRow,
        {"model": "model_id", "version": "model_version", "group": "jurisdiction_group"}
        | _DECISION
        | {"evaluated_ms": "evaluated_unix_ms"},
    ),
    SiloRow: (
        pb.SiloRow,
        {"silo": "silo_id", "registered_ms": "registered_unix_ms"}
        | {"last_seen_ms": "last_seen_unix_ms"},
    ),
    HistoryPoint: (
        pb.HistoryPoint,
        _SILO | {"window_end_ms": "window_end_unix_ms", "value": _Optional("value", "has_value")},
    ),
    ModelVersion: (
        pb.ModelVersionRow,
        {"model": "model_id", "created_ms": "created_unix_ms", "lineage": _Json("lineage_json")},
    ),
}

# response message -> its repeated field of rows
_RESPONSES: dict[type[Any], tuple[type[Message], str]] = {
    DriftRow: (pb.DriftQueryResponse, "rows"),
    DecisionRow: (pb.DecisionsQueryResponse, "rows"),
    JobRow: (pb.JobsQueryResponse, "rows"),
    CentralRow: (pb.CentralQueryResponse, "rows"),
    SiloRow: (pb.SilosQueryResponse, "rows"),
    HistoryPoint: (pb.HistoryQueryResponse, "points"),
    ModelVersion: (pb.ModelsResponse, "rows"),
}


def answer_to_proto(answer: Answer) -> Message:
    message_type, wire = _KINDS[type(answer)]
    msg = message_type()
    for f in dataclasses.fields(answer):
        _put(msg, wire.get(f.name, f.name), getattr(answer, f.name))
    return msg


def answer_from_proto(kind: type[A], msg: Message) -> A:
    _, wire = _KINDS[kind]
    return kind(**{f.name: _get(msg, wire.get(f.name, f.name)) for f in dataclasses.fields(kind)})


def rows_to_proto(kind: type[Answer], rows: Iterable[Answer]) -> Message:
    """A query's response message holding ``rows`` (answers of one ``kind``)."""
    response_type, field = _RESPONSES[kind]
    return response_type(**{field: [answer_to_proto(r) for r in rows]})


def rows_from_proto(kind: type[A], response: Message) -> list[A]:
    _, field = _RESPONSES[kind]
    return [answer_from_proto(kind, m) for m in getattr(response, field)]


def _put(msg: Message, wire: _Wire, value: Any) -> None:
    if isinstance(wire, _Optional):
        setattr(msg, wire.name, 0.0 if value is None else value)
        setattr(msg, wire.flag, value is not None)
    elif isinstance(wire, (_Json, _JsonRows)):  # a tuple goes out as a JSON list
        setattr(msg, wire.name, json.dumps(value, sort_keys=True))
    elif isinstance(wire, _Metrics):
        getattr(msg, wire.name).CopyFrom(metrics_to_proto(value))
        setattr(msg, wire.legacy, json.dumps(value, sort_keys=True))
    else:
        *outer, name = wire.split(".")
        for part in outer:
            msg = getattr(msg, part)
        if isinstance(value, tuple):
            getattr(msg, name).extend(value)
        else:
            setattr(msg, name, value)


def _get(msg: Message, wire: _Wire) -> Any:
    if isinstance(wire, _Optional):
        return getattr(msg, wire.name) if getattr(msg, wire.flag) else None
    if isinstance(wire, _Json):
        return json.loads(getattr(msg, wire.name) or "{}")
    if isinstance(wire, _JsonRows):
        return tuple(json.loads(getattr(msg, wire.name) or "[]"))
    if isinstance(wire, _Metrics):
        if msg.HasField(wire.name):
            return metrics_from_proto(getattr(msg, wire.name))
        return json.loads(getattr(msg, wire.legacy) or "{}")
    value: Any = msg
    for part in wire.split("."):
        value = getattr(value, part)
    return value if isinstance(value, (str, bytes, bool, int, float)) else tuple(value)


# -- merged metrics ----------------------------------------------------------------
def metrics_to_proto(metrics: Mapping[str, Any]) -> pb.MergedMetrics:
    """``compute_metrics``' mapping: top-level numbers, ``drift.features``, ``fairness``."""
    top = {k: v for k, v in metrics.items() if k not in ("drift", "fairness")}
    return pb.MergedMetrics(
        values=_values(top),
        drift_features={
            f: pb.MetricValues(values=_values(m))
            for f, m in metrics.get("drift", {}).get("features", {}).items()
        },
        fairness={
            attr: pb.AttributeMetrics(
                values=_values({k: v for k, v in m.items() if k != "groups"}),
                groups={g: pb.MetricValues(values=_values(gm)) for g, gm in m["groups"].items()},
            )
            for attr, m in metrics.get("fairness", {}).items()
        },
    )


def metrics_from_proto(msg: pb.MergedMetrics) -> dict[str, Any]:
    """The mapping back, every level in key order (a protobuf map keeps none)."""
    return {
        **_numbers(msg.values),
        "drift": {"features": {f: _numbers(m.values) for f, m in _sorted(msg.drift_features)}},
        "fairness": {
            attr: {
                **_numbers(m.values),
                "groups": {g: _numbers(gm.values) for g, gm in _sorted(m.groups)},
            }
            for attr, m in _sorted(msg.fairness)
        },
    }


def _sorted(m: Mapping[str, M]) -> list[tuple[str, M]]:
    return sorted(m.items(), key=lambda kv: kv[0])


def _values(numbers: Mapping[str, Any]) -> dict[str, pb.MetricValue]:
    return {k: _value(k, v) for k, v in numbers.items()}


def _value(name: str, v: Any) -> pb.MetricValue:
    if v is None:
        return pb.MetricValue(undefined=True)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"metric {name!r} is neither a number nor None: {v!r}")
    return pb.MetricValue(count=v) if isinstance(v, int) else pb.MetricValue(real=v)


def _numbers(values: Mapping[str, pb.MetricValue]) -> dict[str, Any]:
    return {k: _number(v) for k, v in _sorted(values)}


def _number(v: pb.MetricValue) -> int | float | None:
    which = v.WhichOneof("value")
    return v.count if which == "count" else v.real if which == "real" else None
