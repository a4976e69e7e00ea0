"""A client for the aggregator's compliance queries (used by `fedgov query`).

Answers come back as plain dicts, ready for a table or ``--json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

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
    ) -> list[dict[str, Any]]:
        req = pb.DriftQuery(
            psi_threshold=psi_threshold,
            since_unix_ms=since_ms,
            model_id=model_id,
            jurisdiction_glob=jurisdiction_glob,
        )
        resp = self._call("drift query", lambda: self._stub.QueryDrift(req, timeout=self.timeout))
        return [
            {
                "silo": r.silo_id,
                "jurisdiction": r.jurisdiction,
                "model": r.model_id,
                "version": r.model_version,
                "feature": r.feature,
                "psi": r.psi,
                "psi_pvalue": r.psi_pvalue if r.has_pvalue else None,
                "window_end_ms": r.window_end_unix_ms,
                "report_id": r.report_id,
            }
            for r in resp.rows
        ]

    def fairness(
        self,
        model_id: str,
        *,
        model_version: str = "",
        jurisdiction_glob: str = "",
        since_ms: int = 0,
    ) -> dict[str, Any]:
        req = pb.FairnessQuery(
            model_id=model_id,
            model_version=model_version,
            jurisdiction_glob=jurisdiction_glob,
            since_unix_ms=since_ms,
        )
        r = self._call(
            "fairness query", lambda: self._stub.QueryFairness(req, timeout=self.timeout)
        )
        return {
            "model": r.model_id,
            "version": r.model_version,
            "silos": list(r.silos),
            "jurisdictions": list(r.jurisdictions),
            "rows": r.rows,
            "reports": r.reports,
            "metrics": json.loads(r.metrics_json),
        }

    def decisions(self, *, jurisdiction_glob: str = "") -> list[dict[str, Any]]:
        req = pb.DecisionsQuery(jurisdiction_glob=jurisdiction_glob)
        resp = self._call(
            "decisions query", lambda: self._stub.QueryDecisions(req, timeout=self.timeout)
        )
        return [
            {
                "silo": r.silo_id,
                "jurisdiction": r.jurisdiction,
                "model": r.model_id,
                "version": r.model_version,
                "allow": r.decision.allow,
                "deny": list(r.decision.deny),
                "warn": list(r.decision.warn),
                "actions": list(r.decision.actions),
                "window_end_ms": r.window_end_unix_ms,
                "report_id": r.report_id,
            }
            for r in resp.rows
        ]

    def jobs(self, *, model_id: str = "") -> list[dict[str, Any]]:
        req = pb.JobsQuery(model_id=model_id)
        resp = self._call("jobs query", lambda: self._stub.ListJobs(req, timeout=self.timeout))
        return [
            {
                "job_id": j.job_id,
                "model": j.model_id,
                "version": j.model_version,
                "state": j.state,
                "reason": j.reason,
                "created_ms": j.created_unix_ms,
                "silos": list(j.silos),
                "acked_silos": list(j.acked_silos),
                "detail": j.detail,
                "candidate_version": j.candidate_version,
            }
            for j in resp.rows
        ]

    def central(self, *, model_id: str = "") -> list[dict[str, Any]]:
        req = pb.CentralQuery(model_id=model_id)
        resp = self._call(
            "central query", lambda: self._stub.QueryCentral(req, timeout=self.timeout)
        )
        return [
            {
                "model": r.model_id,
                "version": r.model_version,
                "group": r.jurisdiction_group,
                "silos": list(r.silos),
                "rows": r.rows,
                "allow": r.decision.allow,
                "deny": list(r.decision.deny),
                "warn": list(r.decision.warn),
                "actions": list(r.decision.actions),
                "evaluated_ms": r.evaluated_unix_ms,
            }
            for r in resp.rows
        ]

    def silos(
        self, *, stale_after_ms: int = 0, jurisdiction_glob: str = ""
    ) -> list[dict[str, Any]]:
        req = pb.SilosQuery(stale_after_ms=stale_after_ms, jurisdiction_glob=jurisdiction_glob)
        resp = self._call("silos query", lambda: self._stub.QuerySilos(req, timeout=self.timeout))
        return [
            {
                "silo": r.silo_id,
                "jurisdiction": r.jurisdiction,
                "registered_ms": r.registered_unix_ms,
                "last_seen_ms": r.last_seen_unix_ms,
                "models": list(r.models),
                "policy_bundle_digest": r.policy_bundle_digest,
            }
            for r in resp.rows
        ]

    def history(
        self,
        model_id: str,
        metric: str,
        *,
        feature: str = "",
        attribute: str = "",
        since_ms: int = 0,
        jurisdiction_glob: str = "",
    ) -> list[dict[str, Any]]:
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
        return [
            {
                "silo": p.silo_id,
                "jurisdiction": p.jurisdiction,
                "version": p.model_version,
                "window_end_ms": p.window_end_unix_ms,
                "value": p.value if p.has_value else None,
                "report_id": p.report_id,
            }
            for p in resp.points
        ]

    # -- model registry ------------------------------------------------------------
    @staticmethod
    def _model_rows(resp: pb.ModelsResponse) -> list[dict[str, Any]]:
        return [
            {
                "model": r.model_id,
                "version": r.version,
                "status": r.status,
                "created_ms": r.created_unix_ms,
                "spec_digest": r.spec_digest,
                "aliases": list(r.aliases),
                "lineage": json.loads(r.lineage_json or "{}"),
                "artifact_bytes": r.artifact_bytes,
            }
            for r in resp.rows
        ]

    def models(self, *, model_id: str = "") -> list[dict[str, Any]]:
        req = pb.ModelsQuery(model_id=model_id)
        return self._model_rows(
            self._call("models query", lambda: self._stub.ListModels(req, timeout=self.timeout))
        )

    def promote(self, model_id: str, version: str, reason: str = "") -> list[dict[str, Any]]:
        req = pb.PromoteRequest(model_id=model_id, version=version, reason=reason)
        return self._model_rows(
            self._call("promote", lambda: self._stub.PromoteModel(req, timeout=self.timeout))
        )

    def rollback(self, model_id: str) -> list[dict[str, Any]]:
        req = pb.RollbackRequest(model_id=model_id)
        return self._model_rows(
            self._call("rollback", lambda: self._stub.RollbackModel(req, timeout=self.timeout))
        )
