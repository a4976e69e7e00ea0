"""A client for the aggregator's compliance queries (used by `fedgov query`).

Answers come back typed (:mod:`aggregator.answers`), decoded once by
:mod:`aggregator.query_serde`, ready for a table or ``--json``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, Unpack

from google.protobuf.message import Message

from aggregator import answers as a
from aggregator.query_serde import answer_from_proto, rows_from_proto
from fedgov.anchors import ReceivedHead
from fedgov.errors import QueryError
from fedgov.tls import TlsFiles
from fedgov.v1 import aggregator_pb2 as pb
from fedgov.v1 import aggregator_pb2_grpc, secagg_pb2
from fedgov.wire import heads_from_proto
from fedgov.wire.channel import open_channel
from fedgov.wire.retry import Backoff, call_with_retry

__all__ = ["QueryClient"]

R = TypeVar("R", bound=a.RowAnswer)


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

    def _ask(self, what: str, rpc: Callable[..., Message], request: Message) -> Message:
        return call_with_retry(
            what,
            lambda: rpc(request, timeout=self.timeout),
            address=self.address,
            backoff=self._backoff,
            rejected=QueryError,
        )

    def _rows(
        self, kind: type[R], what: str, rpc: Callable[..., Message], request: Message
    ) -> list[R]:
        """The rows of ``kind`` that ``rpc`` answers ``request`` with."""
        return rows_from_proto(kind, self._ask(what, rpc, request))

    def drift(
        self, psi_threshold: float, *, silo_id: str = "", **filters: Unpack[a.DriftFilters]
    ) -> list[a.DriftRow]:
        req = pb.DriftQuery(psi_threshold=psi_threshold, silo_id=silo_id, **_renamed(filters))
        return self._rows(a.DriftRow, "drift query", self._stub.QueryDrift, req)

    def fairness(
        self,
        model_id: str,
        *,
        model_version: str = "",
        jurisdiction_glob: str = "",
        since_ms: int = 0,
        source: str = "",
    ) -> a.Fairness:
        req = pb.FairnessQuery(
            model_id=model_id,
            model_version=model_version,
            jurisdiction_glob=jurisdiction_glob,
            since_unix_ms=since_ms,
            source=source,
        )
        resp = self._ask("fairness query", self._stub.QueryFairness, req)
        return answer_from_proto(a.Fairness, resp)

    def decisions(self, *, jurisdiction_glob: str = "", silo_id: str = "") -> list[a.DecisionRow]:
        req = pb.DecisionsQuery(jurisdiction_glob=jurisdiction_glob, silo_id=silo_id)
        return self._rows(a.DecisionRow, "decisions query", self._stub.QueryDecisions, req)

    def jobs(self, *, model_id: str = "") -> list[a.JobRow]:
        req = pb.JobsQuery(model_id=model_id)
        return self._rows(a.JobRow, "jobs query", self._stub.ListJobs, req)

    def central(self, *, model_id: str = "") -> list[a.CentralRow]:
        req = pb.CentralQuery(model_id=model_id)
        return self._rows(a.CentralRow, "central query", self._stub.QueryCentral, req)

    def silos(
        self, *, stale_after_ms: int = 0, jurisdiction_glob: str = "", silo_id: str = ""
    ) -> list[a.SiloRow]:
        req = pb.SilosQuery(
            stale_after_ms=stale_after_ms, jurisdiction_glob=jurisdiction_glob, silo_id=silo_id
        )
        return self._rows(a.SiloRow, "silos query", self._stub.QuerySilos, req)

    def history(
        self,
        model_id: str,
        metric: str,
        *,
        feature: str = "",
        attribute: str = "",
        since_ms: int = 0,
        jurisdiction_glob: str = "",
        silo_id: str = "",
    ) -> list[a.HistoryPoint]:
        req = pb.HistoryQuery(
            model_id=model_id,
            metric=metric,
            feature=feature,
            attribute=attribute,
            since_unix_ms=since_ms,
            jurisdiction_glob=jurisdiction_glob,
            silo_id=silo_id,
        )
        return self._rows(a.HistoryPoint, "history query", self._stub.QueryHistory, req)

    def audit_heads(self, silo_id: str) -> list[ReceivedHead]:
        """The audit-log heads ``silo_id`` sent with its reports, by sequence number."""
        req = pb.AuditHeadsQuery(silo_id=silo_id)
        return heads_from_proto(
            self._ask(f"audit heads of {silo_id}", self._stub.QueryAuditHeads, req)
        )

    # -- model registry ------------------------------------------------------------
    def models(self, *, model_id: str = "") -> list[a.ModelVersion]:
        req = pb.ModelsQuery(model_id=model_id)
        return self._rows(a.ModelVersion, "models query", self._stub.ListModels, req)

    def promote(self, model_id: str, version: str, reason: str = "") -> list[a.ModelVersion]:
        req = pb.PromoteRequest(model_id=model_id, version=version, reason=reason)
        return self._rows(a.ModelVersion, "promote", self._stub.PromoteModel, req)

    def rollback(self, model_id: str) -> list[a.ModelVersion]:
        req = pb.RollbackRequest(model_id=model_id)
        return self._rows(a.ModelVersion, "rollback", self._stub.RollbackModel, req)

    # -- silos' jurisdictions --------------------------------------------------------
    def approve_silo(self, silo_id: str, jurisdiction: str, reason: str = "") -> a.Approval:
        req = pb.ApproveSiloRequest(silo_id=silo_id, jurisdiction=jurisdiction, reason=reason)
        resp = self._ask(f"approval of silo {silo_id!r}", self._stub.ApproveSilo, req)
        assert isinstance(resp, pb.ApproveSiloResponse)
        return a.Approval(
            silo=resp.silo_id,
            jurisdiction=resp.jurisdiction,
            previous=resp.previous_jurisdiction or None,
            approved_ms=resp.approved_unix_ms,
        )

    def open_round(
        self, model_id: str, start_ms: int, end_ms: int, part: str = ""
    ) -> list[secagg_pb2.RoundInfo]:
        req = secagg_pb2.OpenRoundRequest(
            model_id=model_id, period_start_unix_ms=start_ms, period_end_unix_ms=end_ms, part=part
        )
        resp = self._ask(f"opening a round of {model_id!r}", self._stub.OpenRound, req)
        assert isinstance(resp, secagg_pb2.OpenRoundResponse)
        return list(resp.rounds)

    def list_rounds(self, model_id: str = "") -> list[secagg_pb2.RoundInfo]:
        req = secagg_pb2.RoundsQuery(model_id=model_id)
        resp = self._ask("rounds query", self._stub.ListRounds, req)
        assert isinstance(resp, secagg_pb2.RoundsResponse)
        return list(resp.rounds)


def _renamed(filters: a.DriftFilters) -> dict[str, Any]:
    """The filters as request fields (times travel as ``since_unix_ms``)."""
    return {"since_unix_ms" if k == "since_ms" else k: v for k, v in filters.items()}
