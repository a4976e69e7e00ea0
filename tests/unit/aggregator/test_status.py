"""Status details always fit gRPC's metadata limit, cut on a character boundary."""

from __future__ import annotations

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregator._status import MAX_DETAIL_BYTES, fit, status_for
from fedgov.errors import NotRegistered, QueryError, ReportRejected


def test_a_short_message_is_unchanged() -> None:
    assert fit("report.rows: must be >= 0") == "report.rows: must be >= 0"
    assert fit("x" * MAX_DETAIL_BYTES) == "x" * MAX_DETAIL_BYTES


@pytest.mark.parametrize("char", ["x", "é", "€", "😀"])
def test_a_long_message_is_cut_and_says_how_much(char: str) -> None:
    message = "features: " + char * 100_000
    cut = fit(message)
    assert len(cut.encode()) <= MAX_DETAIL_BYTES
    head, _, tail = cut.rpartition("... (")
    assert message.startswith(head) and len(head.encode()) > MAX_DETAIL_BYTES - 40
    assert tail == f"{len(message) - len(head)} more characters)"


@given(st.text(min_size=0, max_size=3000), st.integers(min_value=40, max_value=2048))
def test_fit_is_within_the_limit_and_a_prefix(message: str, limit: int) -> None:
    cut = fit(message, limit)
    assert len(cut.encode("utf-8", "replace")) <= limit or cut == message
    if cut != message:
        assert message.startswith(cut.rpartition("... (")[0])


def test_catalog() -> None:
    assert status_for(NotRegistered("x"))[0] is grpc.StatusCode.FAILED_PRECONDITION
    assert status_for(ReportRejected("x")) == (grpc.StatusCode.INVALID_ARGUMENT, "x")
    assert status_for(QueryError("x")) == (grpc.StatusCode.INVALID_ARGUMENT, "x")
    code, message = status_for(RecursionError("secret detail"))
    assert code is grpc.StatusCode.INTERNAL and "secret" not in message
