"""A client for the aggregator's compliance queries (used by `fedgov query`).

Answers come back typed (:mod:`aggregator.answers`), decoded once by
:mod:`aggregator.query_serde`, ready for a table or ``--json``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from aggregator.answers import (
    CentralRow,
    DecisionRow,
    DriftRow,
    Fairness,
    HistoryPoint,
    JobRow,
    ModelVersion,
    SiloRow,
)
from aggregator.query_serde import answer_from_proto, rows_from_proto
from fedgov.errors import QueryError
from fedgov.tls import TlsFiles
from fedgov.v1 import aggregator_pb2 as pb
from fedgov.v1 import aggregator_pb2_grpc
from fedgov.wire.channel import open_channel
from fedgov.wire.retry import Backoff, call_with_retry

__all__ = ["QueryClient"]

T = TypeVar("T")


class QueryClient:
    def __init__(
        self,
        address: str,
        *,
        timeout: float = 10.0,
        retry_for: float = 5.0,
        tls: TlsFiles | None = None,
    ) -> None:
        self.address = address
        self.timeout = timeout
        self._backoff = Backoff(initial=0.2, maximum=1.0, max_elapsed=retry_for)
        self._channel = open_channel(address, tls)
        self._stub = aggregator_pb2_grpc.AggregatorStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> QueryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        return call_with_retry(
            what, fn, address=self.address, backoff=self._backoff, rejected=QueryError
        )

    def drift(
        self,
        psi_threshold: float,
        *,
        since_ms: int = 0,
        model_id: str = "",
        jurisdiction_glob: str = "",
    ) -> list[DriftRow]:
        req = pb.DriftQuery(
            psi_threshold=psi_threshold,
            since_unix_ms=since_ms,
            model_id=model_id,
            jurisdiction_glob=jurisdiction_glob,
        )
        resp = self._call("drift query", lambda: self._stub.QueryDrift(req, timeout=self.timeout))
        return rows_from_proto(DriftRow, resp)

    def fairness(
        self,
        model_id: str,
        *,
        model_version: str = "",
        jurisdiction_glob: str = "",
        since_ms: int = 0,
    ) -> Fairness:
        req = pb.FairnessQuery(
            model_id=model_id,
            model_version=model_version,
            jurisdiction_glob=jurisdiction_glob,
            since_unix_ms=since_ms,
        )
        resp = self._call(
            "fairness query", lambda: self._stub.QueryFairness(req, timeout=self.timeout)
        )
        return answer_from_proto(Fairness, resp)

    def decisions(self, *, jurisdiction_glob: str = "") -> list[DecisionRow]:
        req = pb.DecisionsQuery(jurisdiction_glob=jurisdiction_glob)
        resp = self._call(
            "decisions query", lambda: self._stub.QueryDecisions(req, timeout=self.timeout)
        )
        return rows_from_proto(DecisionRow, resp)

    def jobs(self, *, model_id: str = "") -> list[JobRow]:
        req = pb.JobsQuery(model_id=model_id)
        resp = self._call("jobs query", lambda: self._stub.ListJobs(req, timeout=self.timeout))
        return rows_from_proto(JobRow, resp)

    def central(self, *, model_id: str = "") -> list[CentralRow]:
        req = pb.CentralQuery(model_id=model_id)
        resp = self._call(
            "central query", lambda: self._stub.QueryCentral(req, timeout=self.timeout)
        )
        return rows_from_proto(CentralRow, resp)

    def silos(self, *, stale_after_ms: int = 0, jurisdiction_glob: str = "") -> list[SiloRow]:
        req = pb.SilosQuery(stale_after_ms=stale_after_ms, jurisdiction_glob=jurisdiction_glob)
        resp = self._call("silos query", lambda: self._stub.QuerySilos(req, timeout=self.timeout))
        return rows_from_proto(SiloRow, resp)

    def history(
        self,
        model_id: str,
        metric: str,
        *,
        feature: str = "",
        attribute: str = "",
        since_ms: int = 0,
        jurisdiction_glob: str = "",
    ) -> list[HistoryPoint]:
        req = pb.HistoryQuery(
            model_id=model_id,
            metric=metric,
            feature=feature,
            attribute=attribute,
            since_unix_ms=since_ms,
            jurisdiction_glob=jurisdiction_glob,
        )
        resp = self._call(
            "history query", lambda: self._stub.QueryHistory(req, timeout=self.timeout)
        )
        return rows_from_proto(HistoryPoint, resp)

    # -- model registry ------------------------------------------------------------
    def models(self, *, model_id: str = "") -> list[ModelVersion]:
        req = pb.ModelsQuery(model_id=model_id)
        resp = self._call("models query", lambda: self._stub.ListModels(req, timeout=self.timeout))
        return rows_from_proto(ModelVersion, resp)

    def promote(self, model_id: str, version: str, reason: str = "") -> list[ModelVersion]:
        req = pb.PromoteRequest(model_id=model_id, version=version, reason=reason)
        resp = self._call("promote", lambda: self._stub.PromoteModel(req, timeout=self.timeout))
        return rows_from_proto(ModelVersion, resp)

    def rollback(self, model_id: str) -> list[ModelVersion]:
        req = pb.RollbackRequest(model_id=model_id)
        resp = self._call("rollback", lambda: self._stub.RollbackModel(req, timeout=self.timeout))
        return rows_from_proto(ModelVersion, resp)
