"""Reports as bytes (what the aggregator stores) and the checks on metrics_json."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from support.reports import report_of
from support.specs import stats_of

from fedgov.policy import Decision
from fedgov.report import Report, ReportLink, chain_hash
from fedgov.spec import MonitoringSpec
from fedgov.synthetic import credit_data
from fedgov.v1 import report_pb2
from fedgov.wire import (
    WireError,
    report_from_bytes,
    report_from_proto,
    report_link_from_bytes,
    report_to_bytes,
    report_to_proto,
    stats_from_proto,
    stats_to_proto,
)


@pytest.fixture(scope="module")
def report(credit_spec: MonitoringSpec) -> Report:
    return report_of(
        credit_spec,
        stats_of(credit_spec, credit_data(500, seed=2)),
        window_start_ms=5,
        window_end_ms=10,
        metrics={"drift": {"features": {"age": {"psi": 0.25, "psi_pvalue": 1e-05}}}, "n": [1, 2]},
        decision=Decision(allow=False, deny=("drift",), actions=("retrain",)),
        input_digest="sha256:in",
        created_ms=7,
    )


def test_bytes_round_trip(report: Report) -> None:
    data = report_to_bytes(report)
    assert isinstance(data, bytes)
    back = report_from_bytes(data)
    assert back == report
    assert report_to_bytes(back) == data


def test_a_received_report_keeps_its_bytes(report: Report) -> None:
    """Storing what arrived costs no re-encoding, and reads back equal."""
    msg = report_to_proto(report)
    msg.metrics_json = (
        '{"n": [1, 2], "drift": {"features": {"age": {"psi_pvalue": 1e-05, "psi": 0.25}}}}'
    )
    wire = msg.SerializeToString()
    received = report_from_proto(report_pb2.Report.FromString(wire))
    assert received == report
    assert report_to_bytes(received) == wire  # the sender's bytes, key order and all
    assert report_from_bytes(report_to_bytes(received)) == report


def test_replace_drops_the_kept_bytes(report: Report) -> None:
    received = report_from_proto(report_to_proto(report))
    changed = dataclasses.replace(received, window_end_ms=99)
    assert report_from_bytes(report_to_bytes(changed)).window_end_ms == 99
    assert changed != received and repr(changed).count("_wire") == 0


def test_link_from_bytes_equals_the_decoded_reports(report: Report) -> None:
    chained = dataclasses.replace(report, prev_report_hash="ab" * 32)
    link = report_link_from_bytes(report_to_bytes(chained))
    assert link == ReportLink.of(chained) == ReportLink("r1", 10, chain_hash(chained))
    assert link.hash != ReportLink.of(report).hash  # the predecessor is part of the link


def test_not_a_report() -> None:
    with pytest.raises(WireError, match="not a serialized fedgov.v1.Report"):
        report_from_bytes(b"\xff\xff\xff")
    with pytest.raises(WireError, match="not a serialized fedgov.v1.Report"):
        report_link_from_bytes(b"\xff\xff\xff")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": NaN}', "NaN is not allowed"),
        ('{"a": [1, -Infinity]}', "-Infinity is not allowed"),
        ('{"a": {"b": 1e999}}', "overflows to infinity"),
        ('{"a": -1.5e400}', "overflows to infinity"),
        # every way a literal overflows: a long exponent (any case, sign, zero padding),
        # a long run of digits before the point, hidden deep in a real-looking document
        ('{"drift": {"features": {"x": {"psi": 1E+0000309}}}}', "overflows to infinity"),
        ('{"d": {"f": [{"p": 0.5}, {"p": 1e-05}, {"p": 12E310}]}}', "overflows to infinity"),
        ('{"a": ' + "9" * 309 + ".5}", "overflows to infinity"),
        ('{"a": 0.1, "b": ' + "1" * 211 + "e99}", "overflows to infinity"),
        ('{"drift": {"features": {"x00e000": {"psi": NaN}}}}', "NaN is not allowed"),
        ('{"fairness": {"sex": [0.1, {"gap": Infinity}]}}', "Infinity is not allowed"),
        ("[1]", "must be a JSON object"),
        ("{", "not valid JSON"),
    ],
)
def test_metrics_must_be_a_finite_json_object(report: Report, text: str, message: str) -> None:
    msg = report_to_proto(report)
    msg.metrics_json = text
    with pytest.raises(WireError, match=message):
        report_from_proto(msg)


def test_large_finite_numbers_pass(report: Report) -> None:
    msg = report_to_proto(report)
    msg.metrics_json = '{"a": 1.7e308, "b": -2.5e-320, "c": 12345678901234567890}'
    assert report_from_proto(msg).metrics == {
        "a": 1.7e308,
        "b": -2.5e-320,
        "c": 12345678901234567890,
    }
    msg.metrics_json = '{"a": ' + "9" * 99 + '.5e99, "b": 1e-999, "c": ' + "7" * 400 + "}"
    assert report_from_proto(msg).metrics == {
        "a": float("9" * 99 + "e99"),
        "b": 0.0,
        "c": int("7" * 400),
    }


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "a": 2, "b": -0, "c": -0.0, "d": 1e5, "e": 1E-5, "f": 2.5e-320}',
        '{"a": 18446744073709551616, "b": -9223372036854775809, "c": 1e-999}',
        '{"a": "\\ud800", "b": "x\\u00e9\\n", "c": [1, 2.5, {"d": null, "e": true}]}',
        '{"a": 1.7976931348623157e308, "b": 0.1, "c": 0.30000000000000004}',
    ],
)
def test_metrics_read_as_json_reads_them(report: Report, text: str) -> None:
    """The strict decoder's values are json's (duplicate keys, -0, big ints, rounding);
    what it does not read (a lone surrogate) the careful decoder reads as before."""
    import json

    msg = report_to_proto(report)
    msg.metrics_json = text
    got = report_from_proto(msg).metrics
    assert got == json.loads(text) and repr(got) == repr(json.loads(text))


def test_counts_convert_exactly_and_name_a_negative_one(report: Report) -> None:
    msg = stats_to_proto(report.stats)
    assert stats_from_proto(msg) == report.stats
    msg.features[0].counts[1] = 2**62  # int64 values survive the conversion
    assert stats_from_proto(msg).features[msg.features[0].name].counts[1] == 2**62
    bad = report_pb2.WindowStats()
    bad.CopyFrom(msg)
    bad.outcomes[0].counts[2] = -4
    negative = r"stats.outcomes\[0\] \(\w+\): counts must be >= 0, found -4"
    with pytest.raises(WireError, match=negative):
        stats_from_proto(bad)
    (i, fine) = next((i, f) for i, f in enumerate(msg.features) if f.fine_counts)
    fine.fine_counts[-1] = -3
    with pytest.raises(WireError, match=rf"stats.features\[{i}\] .*fine_counts: .* found -3"):
        stats_from_proto(msg)


def test_counts_are_int64_arrays(report: Report) -> None:
    stats = stats_from_proto(stats_to_proto(report.stats))
    for fc in stats.features.values():
        assert fc.counts.dtype == np.int64 and fc.fine.dtype == np.int64
    for oc in stats.outcomes.values():
        assert oc.counts.dtype == np.int64 and oc.counts.shape[1:] == (2, 2)


def test_stats_without_any_count_vector_decode() -> None:
    """Found by the ingest fuzzer: no features and no outcomes must not crash the decoder."""
    from fedgov.v1 import report_pb2
    from fedgov.wire import stats_from_proto

    stats = stats_from_proto(report_pb2.WindowStats(spec_digest="d", rows=0))
    assert stats.rows == 0 and not stats.features and not stats.outcomes


def _varint_bytes(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


@pytest.mark.parametrize(
    "extra",
    [b"", b"\x4a\x03abc", b"\x5b\x08\x01\x5c", b"\xf8\x07\x05"],
    ids=["none", "unknown-len", "unknown-group", "unknown-2-byte-key"],
)
def test_counts_decode_whatever_the_encoding(report: Report, extra: bytes) -> None:
    """Unpacked counts, unknown fields, big and negative values: decoded as protobuf reads them."""
    values = [0, 1, 127, 128, 300, 2**31, 2**62, 5]
    unpacked = b"".join(b"\x18" + _varint_bytes(v) for v in values)  # field 3 as varints
    fine = [3, 2**40, 1]
    packed_fine = b"".join(_varint_bytes(v) for v in fine)
    raw = (
        b"\x0a\x01x"
        + b"\x12\x07numeric"
        + unpacked
        + extra
        + b"\x22"
        + _varint_bytes(len(packed_fine))
        + packed_fine
    )
    msg = report_pb2.WindowStats(spec_digest="d", rows=5)
    msg.features.add().MergeFromString(raw)
    fc = stats_from_proto(msg).features["x"]
    assert fc.counts.tolist() == values and fc.fine.tolist() == fine
    from fedgov.wire import _varint

    # protobuf re-serializes what it parsed (packed, unknown fields kept), so the numpy
    # decoder itself reads them, whatever the sender's encoding
    payloads = _varint.packed_counts(msg)
    fast = _varint.varints(payloads, np.cumsum([len(values), len(fine)]))
    assert fast is not None and fast.tolist() == values + fine
    assert not fc.counts.flags.writeable
    # one buffer for every vector, read-only all the way down: kept without a copy
    assert fc.counts.base is not None and fc.counts.base is fc.fine.base
    base = fc.counts
    while isinstance(base, np.ndarray):
        assert not base.flags.writeable
        base = base.base
    msg.features[0].counts[3] = -(2**40)
    negative = r"stats.features\[0\] \(x\): counts must be >= 0, found -1099511627776"
    with pytest.raises(WireError, match=negative):
        stats_from_proto(msg)
