"""Admission: calls in flight are capped per caller and per RPC, and slots come back."""

from __future__ import annotations

import pytest

from aggregator.limits import Admission, CallLimits, Keepalive
from fedgov.errors import Overloaded


def test_a_caller_at_its_cap_is_refused_while_others_still_get_in() -> None:
    admission = Admission(CallLimits(per_caller=2, per_rpc=3))
    first = admission.admit("QuerySilos", "EU-DE", "q")
    admission.admit("QuerySilos", "EU-DE", "q")
    with pytest.raises(Overloaded, match="2 QuerySilos call.s. from EU-DE already in flight"):
        admission.admit("QuerySilos", "EU-DE", "q")
    admission.admit("QueryDrift", "EU-DE", "q")  # another RPC has its own count
    admission.admit("QuerySilos", "US-NY", "q")
    with pytest.raises(Overloaded, match="already serves 3 QuerySilos calls"):
        admission.admit("QuerySilos", "FR", "q")
    first()
    first()  # giving a slot back twice frees it once
    assert admission.in_flight() == {"QuerySilos": 2, "QueryDrift": 1}
    admission.admit("QuerySilos", "FR", "q")
    with pytest.raises(Overloaded):
        admission.admit("QuerySilos", "FR", "q")


def test_streams_have_their_own_caps() -> None:
    admission = Admission(CallLimits(per_caller=1, stream_per_caller=2, streams=3))
    for caller in ("a", "a", "b"):
        admission.admit("StreamCommands", caller, "s")
    with pytest.raises(Overloaded, match="3 StreamCommands calls"):
        admission.admit("StreamCommands", "c", "s")
    admission.admit("Register", "a", "r")  # unary calls are not counted with streams


def test_limits_and_keepalive_are_checked() -> None:
    with pytest.raises(ValueError, match="per_rpc must be at least 1"):
        CallLimits(per_rpc=0)
    options = dict(Keepalive(time_ms=1_000, timeout_ms=500).options())
    assert options["grpc.keepalive_time_ms"] == 1_000
    assert options["grpc.http2.ping_timeout_ms"] == 500  # what really bounds the wait
