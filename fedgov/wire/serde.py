"""Conversions between domain objects and their protobuf messages.

The only module (with the gRPC glue) that imports generated ``_pb2`` code;
domain code works with :class:`fedgov.report.Report` and friends.
``*_from_proto`` functions validate shapes and raise :class:`WireError`
naming the field, so a hostile message becomes a precise rejection.
:func:`check_request` bounds the identifiers, globs and times of any request
(:mod:`fedgov.limits`) and :func:`json_from_wire` reads a JSON field a peer
sent; both run before anything else looks at a request.
"""

from __future__ import annotations

import json
import math
from typing import Any, NamedTuple

import numpy as np
from google.protobuf.message import DecodeError, Message

from fedgov.documents import MAX_DEPTH, nested_too_deep
from fedgov.errors import ReportRejected
from fedgov.limits import (
    duration_problem,
    glob_problem,
    identifier_problem,
    name_problem,
    time_problem,
)
from fedgov.policy import Decision
from fedgov.report import Report, ReportLink
from fedgov.stats import FeatureCounts, OutcomeCounts, Privacy, ScoreCounts, WindowStats
from fedgov.v1 import report_pb2

__all__ = [
    "MAX_JSON_CHARS",
    "WireError",
    "check_request",
    "decision_from_proto",
    "decision_to_proto",
    "json_from_wire",
    "metrics_json_from_bytes",
    "report_decision_from_bytes",
    "report_from_bytes",
    "report_from_proto",
    "report_link_from_bytes",
    "report_to_bytes",
    "report_to_proto",
    "stats_from_proto",
    "stats_to_proto",
]

MAX_JSON_CHARS = 4 << 20  # a JSON field a peer sends: metrics or a spec, never rows


class WireError(ReportRejected):
    """A message is malformed; the text names the field."""


# What each request field may hold, by field name; an empty (unset) field is not checked,
# what is required is the handler's business.
_FIELD_RULES = {
    "silo_id": identifier_problem,
    "jurisdiction": identifier_problem,
    "model_id": identifier_problem,
    "model_version": identifier_problem,
    "version": identifier_problem,
    "metric": identifier_problem,
    "feature": name_problem,
    "attribute": name_problem,
    "report_id": identifier_problem,  # names files (re-annotation requests): no '/'
    "command_id": identifier_problem,
    "jurisdiction_glob": glob_problem,
    "since_unix_ms": time_problem,
    "stale_after_ms": duration_problem,
}


def check_request(message: Message, where: str = "request") -> None:
    """WireError naming the first field of ``message`` (not of its sub-messages) whose
    value breaks its rule in :data:`_FIELD_RULES`: an identifier too long or with odd
    characters, a glob that is not one, a time outside 1970..9999."""
    for field, value in message.ListFields():  # only the fields that are set
        rule = _FIELD_RULES.get(field.name)
        if rule is not None and not isinstance(value, Message):
            problem = rule(value)
            if problem:
                raise WireError(f"{where}.{field.name}: {problem}")


def json_from_wire(
    text: str,
    *,
    field: str,
    decoder: json.JSONDecoder | None = None,
    max_chars: int = MAX_JSON_CHARS,
) -> Any:
    """Parse a JSON field a peer sent; WireError naming ``field`` if it is too large,
    nested deeper than :data:`fedgov.documents.MAX_DEPTH` (the parser recurses), or
    not JSON."""
    if len(text) > max_chars:
        raise WireError(f"{field}: {len(text)} characters, the limit is {max_chars}")
    if nested_too_deep(text):
        raise WireError(
            f"{field}: nested more than {MAX_DEPTH} levels deep; fedgov's own JSON nests "
            "a few levels, so the sender is broken or not a fedgov agent"
        )
    try:
        return (decoder or _PLAIN_DECODER).decode(text)
    except json.JSONDecodeError as exc:
        raise WireError(f"{field}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:  # cannot happen below MAX_DEPTH; a guard all the same
        raise WireError(f"{field}: nested too deeply to read") from None
    except ValueError as exc:  # from the decoder's hooks (NaN, overflowing numbers)
        raise WireError(f"{field}: {exc}") from None


def decision_to_proto(d: Decision) -> report_pb2.Decision:
    return report_pb2.Decision(
        allow=d.allow,
        deny=list(d.deny),
        warn=list(d.warn),
        actions=list(d.actions),
        bundle_digest=d.bundle_digest,
    )


def decision_from_proto(m: report_pb2.Decision) -> Decision:
    return Decision(
        allow=m.allow,
        deny=tuple(m.deny),
        warn=tuple(m.warn),
        actions=tuple(sorted(set(m.actions))),
        bundle_digest=m.bundle_digest,
    )


def stats_to_proto(s: WindowStats) -> report_pb2.WindowStats:
    privacy = report_pb2.Privacy()
    if s.privacy.k is not None:
        privacy.k = s.privacy.k
    if s.privacy.epsilon is not None:
        privacy.epsilon = s.privacy.epsilon
    return report_pb2.WindowStats(
        spec_digest=s.spec_digest,
        rows=int(s.rows),
        features=[
            report_pb2.FeatureCounts(
                name=f.name,
                kind=f.kind,
                counts=f.counts.tolist(),
                fine_counts=f.fine.tolist(),
                suppressed=f.suppressed,
                fine_suppressed=f.fine_suppressed,
            )
            for f in s.features.values()
        ],
        outcomes=[
            report_pb2.OutcomeCounts(
                attribute=o.attribute,
                groups=list(o.groups),
                counts=o.counts.ravel().tolist(),
                suppressed=o.suppressed,
            )
            for o in s.outcomes.values()
        ],
        outcome_missing=int(s.outcome_missing),
        privacy=privacy,
        scores=[
            report_pb2.ScoreCounts(
                attribute=c.attribute,
                groups=list(c.groups),
                counts=c.counts.ravel().tolist(),
                suppressed=c.suppressed,
            )
            for c in s.scores.values()
        ],
    )


def _all_counts(vectors: list[tuple[Any, str]], packed: list[bytes]) -> list[np.ndarray]:
    """Each repeated int64 field as an int64 array; ``packed`` holds their wire payloads.

    The payloads (packed varints, see :func:`_packed_payloads`) are decoded
    together, in a few numpy passes over the bytes (:func:`_varints`): about
    ten times faster than turning the fields into Python ints for numpy to
    read. Should the payloads not hold exactly the fields' values (they always
    do), the fields are read through Python ints instead.
    """
    if not vectors:
        return []  # a report with no features and no outcomes: the spec check rejects it
    ends = np.cumsum([len(values) for values, _ in vectors])
    flat = _varints(packed, ends)
    if flat is None:
        cells: list[int] = []
        for values, _ in vectors:
            cells += values[:]
        flat = np.fromiter(cells, dtype=np.int64, count=len(cells))
    bounds = list(zip([0, *ends[:-1].tolist()], ends.tolist(), strict=True))
    if flat.size and int(flat.min()) < 0:
        for (_, field), (a, b) in zip(vectors, bounds, strict=True):
            if a < b and int(flat[a:b].min()) < 0:
                raise WireError(f"{field}: counts must be >= 0, found {int(flat[a:b].min())}")
    if flat.base is not None:  # a view (of _varints' uint64 values): own the memory
        flat = flat.copy()
    flat.flags.writeable = False  # FeatureCounts keeps read-only int64 views without a copy
    return [flat[a:b] for a, b in bounds]


def _varints(payloads: list[bytes], ends: np.ndarray) -> np.ndarray | None:
    """The int64 values of concatenated packed varint payloads, or None if they are not
    exactly ``ends[-1]`` values split at ``ends`` (payload ``i`` ends value ``ends[i]``).
    """
    buf = np.frombuffer(b"".join(payloads), dtype=np.uint8)
    stops = np.flatnonzero(buf < 0x80)  # the last byte of each varint
    if stops.size != int(ends[-1]) or (buf.size and stops[-1] != buf.size - 1):
        return None
    # The varints that end inside each payload must be that field's values.
    byte_ends = np.cumsum([len(p) for p in payloads])
    if not np.array_equal(np.searchsorted(stops, byte_ends), ends):
        return None
    if stops.size == buf.size:  # every value fits in one byte
        return buf.astype(np.int64)
    starts = np.empty_like(stops)
    starts[:1] = 0
    starts[1:] = stops[:-1] + 1
    sizes = stops - starts + 1
    if int(sizes.max()) > 10:  # longer than an int64 varint
        return None
    low = buf & 0x7F
    values = low[starts].astype(np.uint64)
    for k in range(1, int(sizes.max())):  # the k-th byte of the values that have one
        more = sizes > k
        values[more] |= low[starts[more] + k].astype(np.uint64) << np.uint64(7 * k)
    return values.view(np.int64)


def _packed_payloads(message: Any, fields: tuple[int, ...]) -> list[bytes]:
    """The payloads of the packed (length-delimited) fields numbered ``fields``, in that order.

    ``message`` is re-serialized, so the bytes are protobuf's own well-formed
    encoding (packed, whatever the sender used); an absent field gives b"".
    """
    data = message.SerializeToString()
    found: dict[int, bytes] = {}
    i, n = 0, len(data)
    while i < n:
        key = data[i]  # these messages' field numbers fit a one-byte key
        i += 1
        if key >= 0x80:
            key, i = _varint(data, i - 1)
        kind = key & 7
        if kind == 0:
            while data[i] >= 0x80:
                i += 1
            i += 1
        elif kind == 2:
            size, i = _varint(data, i)
            if key >> 3 in fields:
                found[key >> 3] = data[i : i + size]
            i += size
        elif kind == 1:
            i += 8
        elif kind == 5:
            i += 4
        else:  # groups: not in these messages
            return [b"\x80"] * len(fields)  # not a varint payload: the caller falls back
    return [found.get(f, b"") for f in fields]


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7


def _count(value: int, field: str) -> int:
    if value < 0:
        raise WireError(f"{field}: must be >= 0, got {value}")
    return int(value)


def _privacy(m: report_pb2.Privacy) -> Privacy:
    k = m.k if m.HasField("k") else None
    epsilon = m.epsilon if m.HasField("epsilon") else None
    if k is not None and k < 1:
        raise WireError(f"stats.privacy.k: must be >= 1 when set, got {k}")
    if epsilon is not None and not 0.0 < epsilon < math.inf:
        raise WireError(f"stats.privacy.epsilon: must be a finite number > 0, got {epsilon}")
    return Privacy(k, epsilon)


def stats_from_proto(m: report_pb2.WindowStats) -> WindowStats:
    _count(m.rows, "stats.rows")
    _count(m.outcome_missing, "stats.outcome_missing")
    # Check the shapes, then convert every count vector at once, then the rest.
    # Each field is read off the message once (every read crosses into upb).
    vectors: list[tuple[Any, str]] = []
    packed: list[bytes] = []
    feature_rows: list[tuple[str, str, str, int, int]] = []
    names: set[str] = set()
    for i, f in enumerate(m.features):
        name, kind, counts, fine = f.name, f.kind, f.counts, f.fine_counts
        where = f"stats.features[{i}] ({name})"
        if kind not in ("numeric", "categorical"):
            raise WireError(f"stats.features[{i}].kind: unknown kind {kind!r}")
        if name in names:
            raise WireError(f"stats.features[{i}].name: duplicate feature {name!r}")
        names.add(name)
        if len(counts) < 3:
            raise WireError(f"{where}.counts: need at least 3 cells, got {len(counts)}")
        if fine and (kind != "numeric" or len(fine) < 3):
            raise WireError(
                f"{where}.fine_counts: only a numeric feature has them, with at least 3 "
                f"cells; got {len(fine)} for a {kind} feature"
            )
        vectors += [(counts, where), (fine, f"{where}.fine_counts")]
        packed += _packed_payloads(f, (3, 4))  # FeatureCounts.counts, .fine_counts
        feature_rows.append((name, kind, where, f.suppressed, f.fine_suppressed))
    outcome_rows: list[tuple[str, tuple[str, ...], str, int]] = []
    attributes: set[str] = set()
    for i, o in enumerate(m.outcomes):
        attribute, groups, counts = o.attribute, tuple(o.groups), o.counts
        where = f"stats.outcomes[{i}] ({attribute})"
        if attribute in attributes:
            raise WireError(f"{where}.attribute: duplicate attribute {attribute!r}")
        attributes.add(attribute)
        if len(set(groups)) != len(groups):
            raise WireError(f"{where}.groups: duplicate group names")
        if len(counts) != 4 * len(groups):
            raise WireError(
                f"{where}: expected {4 * len(groups)} counts for {len(groups)} groups, "
                f"got {len(counts)}"
            )
        vectors.append((counts, where))
        packed += _packed_payloads(o, (3,))  # OutcomeCounts.counts
        outcome_rows.append((attribute, groups, where, o.suppressed))
    score_rows: list[tuple[str, tuple[str, ...], str, int, int]] = []
    scored: set[str] = set()
    for i, c in enumerate(m.scores):
        attribute, groups, counts = c.attribute, tuple(c.groups), c.counts
        where = f"stats.scores[{i}] ({attribute})"
        if attribute in scored:
            raise WireError(f"{where}.attribute: duplicate attribute {attribute!r}")
        scored.add(attribute)
        if not groups or len(set(groups)) != len(groups):
            raise WireError(f"{where}.groups: need at least one group, each named once")
        per_group = 2 * len(groups)
        if len(counts) % per_group or len(counts) // per_group < 4:
            raise WireError(
                f"{where}: expected len(groups) * 2 * (k + 3) counts with k >= 1 score bins "
                f"for {len(groups)} groups, got {len(counts)}"
            )
        vectors.append((counts, where))
        packed += _packed_payloads(c, (3,))  # ScoreCounts.counts
        score_rows.append((attribute, groups, where, len(counts) // per_group, c.suppressed))
    arrays = iter(_all_counts(vectors, packed))
    features: dict[str, FeatureCounts] = {}
    for name, kind, where, suppressed, fine_suppressed in feature_rows:
        # Checked above (kind, cells) and by _count; the arrays are read-only int64.
        features[name] = FeatureCounts._decoded(
            name,
            kind,
            next(arrays),
            next(arrays),
            _count(suppressed, f"{where}.suppressed"),
            _count(fine_suppressed, f"{where}.fine_suppressed"),
        )
    outcomes: dict[str, OutcomeCounts] = {}
    for attribute, groups, where, suppressed in outcome_rows:
        outcomes[attribute] = OutcomeCounts(
            attribute=attribute,
            groups=groups,
            counts=next(arrays).reshape(len(groups), 2, 2),
            suppressed=_count(suppressed, f"{where}.suppressed"),
        )
    scores: dict[str, ScoreCounts] = {}
    for attribute, groups, where, n_cells, suppressed in score_rows:
        scores[attribute] = ScoreCounts(
            attribute=attribute,
            groups=groups,
            counts=next(arrays).reshape(len(groups), 2, n_cells),
            suppressed=_count(suppressed, f"{where}.suppressed"),
        )
    return WindowStats(
        spec_digest=m.spec_digest,
        rows=int(m.rows),
        features=features,
        outcomes=outcomes,
        outcome_missing=int(m.outcome_missing),
        privacy=_privacy(m.privacy),
        scores=scores,
    )


def report_to_proto(r: Report) -> report_pb2.Report:
    return report_pb2.Report(
        report_id=r.report_id,
        silo_id=r.silo_id,
        jurisdiction=r.jurisdiction,
        model_id=r.model_id,
        model_version=r.model_version,
        window=report_pb2.Window(start_unix_ms=r.window_start_ms, end_unix_ms=r.window_end_ms),
        spec_digest=r.spec_digest,
        stats=stats_to_proto(r.stats),
        metrics_json=json.dumps(r.metrics, sort_keys=True, allow_nan=False),
        decision=decision_to_proto(r.decision),
        input_digest=r.input_digest,
        created_unix_ms=r.created_ms,
        prev_report_hash=r.prev_report_hash,
    )


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed, numbers must be finite")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # a literal like 1e999 overflows to infinity
        raise ValueError(f"{text[:20]} overflows to infinity, numbers must be finite")
    return value


# Rejects NaN, Infinity and overflowing literals while parsing: no second walk.
_METRICS_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
_STORED_METRICS_DECODER = json.JSONDecoder()
_PLAIN_DECODER = _STORED_METRICS_DECODER


def _metrics(text: str, decoder: json.JSONDecoder) -> dict[str, Any]:
    if decoder is not _STORED_METRICS_DECODER:
        metrics = json_from_wire(text or "{}", field="report.metrics_json", decoder=decoder)
    else:  # written here and checked on arrival: no depth check, the hot read path
        try:
            metrics = decoder.decode(text or "{}")
        except json.JSONDecodeError as exc:
            raise WireError(
                f"report.metrics_json: not valid JSON ({exc.msg} at line {exc.lineno})"
            ) from None
    if not isinstance(metrics, dict):
        raise WireError("report.metrics_json: must be a JSON object")
    return metrics


def report_to_bytes(r: Report) -> bytes:
    """The report as a serialized ``fedgov.v1.Report``: the form the aggregator stores.

    A report that :func:`report_from_proto` decoded returns the bytes it came
    from (no re-encoding); :func:`report_from_bytes` reads either back equal.
    """
    if r._wire is not None:
        return r._wire
    return report_to_proto(r).SerializeToString()


def report_from_bytes(data: bytes) -> Report:
    """Inverse of :func:`report_to_bytes`: the store's read path.

    It makes the checks of :func:`report_from_proto` but one: metrics are parsed
    without the per-number finiteness hook (a third of the time for small
    reports), as the bytes were written here, and report_to_bytes writes no NaN
    or infinity (``allow_nan=False``) while received reports were checked on arrival.
    """
    try:
        m = report_pb2.Report.FromString(data)
    except DecodeError:
        raise WireError("report: the bytes are not a serialized fedgov.v1.Report") from None
    return _report_from_proto(m, bytes(data), _STORED_METRICS_DECODER)


class _Header(NamedTuple):
    """The fields fedgov.report.chain_hash covers, read off a message."""

    report_id: str
    silo_id: str
    model_id: str
    model_version: str
    spec_digest: str
    input_digest: str
    window_start_ms: int
    window_end_ms: int
    prev_report_hash: str


def report_link_from_bytes(data: bytes) -> ReportLink:
    """The chain link of stored report bytes, without decoding statistics or metrics.

    The ingest path's chain check needs only this of the silo's newest report;
    decoding all of it (every count into numpy, the metrics JSON) cost as much
    as decoding the report being ingested.
    """
    try:
        m = report_pb2.Report.FromString(data)
    except DecodeError:
        raise WireError("report: the bytes are not a serialized fedgov.v1.Report") from None
    return ReportLink.of(
        _Header(
            m.report_id,
            m.silo_id,
            m.model_id,
            m.model_version,
            m.spec_digest,
            m.input_digest,
            m.window.start_unix_ms,
            m.window.end_unix_ms,
            m.prev_report_hash,
        )
    )


def report_from_proto(m: report_pb2.Report) -> Report:
    """The domain report; WireError naming the field if the message is malformed.

    The path of received reports: besides the shape checks both paths make, the
    identifiers, times and statistics' names are bounded (:mod:`fedgov.limits`).
    """
    check_request(m, "report")
    for name in ("start_unix_ms", "end_unix_ms"):
        problem = time_problem(getattr(m.window, name))
        if problem:
            raise WireError(f"report.window.{name}: {problem}")
    if m.created_unix_ms:
        problem = time_problem(m.created_unix_ms)
        if problem:
            raise WireError(f"report.created_unix_ms: {problem}")
    _check_names(m.stats)
    return _report_from_proto(m, None, _METRICS_DECODER)


def _check_names(m: report_pb2.WindowStats) -> None:
    """Feature and attribute names are names (fedgov.limits): bounded, no control chars."""
    for kind, items, attr in (
        ("features", m.features, "name"),
        ("outcomes", m.outcomes, "attribute"),
        ("scores", m.scores, "attribute"),
    ):
        for i, item in enumerate(items):
            problem = name_problem(getattr(item, attr))
            if problem:
                raise WireError(f"report.stats.{kind}[{i}].{attr}: {problem}")


def _report_from_proto(
    m: report_pb2.Report, wire: bytes | None, decoder: json.JSONDecoder
) -> Report:
    for name in ("report_id", "silo_id", "model_id", "model_version", "spec_digest"):
        if not getattr(m, name):
            raise WireError(f"report.{name}: required, but empty")
    if len(m.report_id) > 128:
        raise WireError("report.report_id: longer than 128 characters")
    if m.stats.spec_digest != m.spec_digest:
        raise WireError("report.stats.spec_digest: differs from report.spec_digest")
    metrics = _metrics(m.metrics_json, decoder)
    if m.window.end_unix_ms < m.window.start_unix_ms:
        raise WireError("report.window: end is before start")
    report = Report(
        report_id=m.report_id,
        silo_id=m.silo_id,
        jurisdiction=m.jurisdiction,
        model_id=m.model_id,
        model_version=m.model_version,
        window_start_ms=m.window.start_unix_ms,
        window_end_ms=m.window.end_unix_ms,
        spec_digest=m.spec_digest,
        stats=stats_from_proto(m.stats),
        metrics=metrics,
        decision=decision_from_proto(m.decision),
        input_digest=m.input_digest,
        created_ms=m.created_unix_ms,
        prev_report_hash=m.prev_report_hash,
    )
    object.__setattr__(report, "_wire", m.SerializeToString() if wire is None else wire)
    return report


def metrics_json_from_bytes(data: bytes) -> str:
    """The metrics JSON text of a serialized ``fedgov.v1.Report``, statistics left undecoded.

    The store's read path for metric history: parsing the message is a few
    microseconds, while turning its statistics into numpy arrays (what
    :func:`report_from_bytes` does) costs far more and is not needed here.
    """
    try:
        return report_pb2.Report.FromString(data).metrics_json or "{}"
    except DecodeError:
        raise WireError("report: the bytes are not a serialized fedgov.v1.Report") from None


def report_decision_from_bytes(data: bytes) -> Decision:
    """The local decision of a serialized ``fedgov.v1.Report``, nothing else decoded.

    Equal to ``report_from_bytes(data).decision``, for a fraction of the cost.
    """
    try:
        return decision_from_proto(report_pb2.Report.FromString(data).decision)
    except DecodeError:
        raise WireError("report: the bytes are not a serialized fedgov.v1.Report") from None
