"""The aggregator's read-only queries: drift, fairness, decisions, silos, history, jobs.

Each query reads the store (fairness merges the newest reports, decoded once
through :class:`aggregator.latest.LatestReports`), filters by jurisdiction
glob, and returns typed records; a question that cannot be answered raises
:class:`fedgov.errors.QueryError` saying why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from aggregator.answers import Fairness
from aggregator.latest import LatestReports
from aggregator.merge import matches_glob, merge_stats
from aggregator.secure_figures import clear_source, secure_fairness
from aggregator.specs import SpecCache
from aggregator.store import (
    CentralDecisionRecord,
    DecisionRecord,
    DriftRecord,
    JobRecord,
    MetricPoint,
    SiloRecord,
    Store,
)
from fedgov.errors import QueryError
from fedgov.metrics import compute_metrics
from fedgov.report import now_ms

__all__ = ["Queries"]


@dataclass(eq=False)
class Queries:
    _store: Store
    _specs: SpecCache
    _latest: LatestReports

    def drift(
        self,
        psi_threshold: float,
        *,
        since_ms: int = 0,
        model_id: str | None = None,
        jurisdiction_glob: str | None = None,
        silo_id: str | None = None,
    ) -> list[DriftRecord]:
        if not np.isfinite(psi_threshold) or psi_threshold < 0:
            raise QueryError(f"psi threshold must be a finite number >= 0, got {psi_threshold}")
        rows = self._store.drift_above(psi_threshold, since_ms=since_ms, model_id=model_id or None)
        return [r for r in rows if _kept(r, jurisdiction_glob, silo_id)]

    def fairness(
        self,
        model_id: str,
        *,
        model_version: str | None = None,
        jurisdiction_glob: str | None = None,
        since_ms: int = 0,
        source: str = "",
    ) -> Fairness:
        """Merged figures: from the newest secure sum covering the jurisdictions when
        there is one (``source`` "" or "secure"), else from the per-silo reports."""
        if not model_id:
            raise QueryError("fairness query: a model id is required")
        if source not in ("", "secure", "reports"):
            raise QueryError(f"fairness query: source must be secure or reports, got {source!r}")
        if source != "reports" and not since_ms:
            secure = secure_fairness(
                self._store, self._specs, model_id, model_version or "", jurisdiction_glob or ""
            )
            if secure is not None:
                return secure
        if source == "secure":
            raise QueryError(
                f"no released secure sum of {model_id} covers {jurisdiction_glob or 'every part'}"
                " (a union of parts of --groups); see `fedgov round list`"
            )
        pick = _Newest(model_id, model_version, jurisdiction_glob)
        if since_ms:
            reports = pick(
                self._store.reports_for_model(
                    model_id, model_version or None, since_ms=since_ms, latest_only=False
                )
            )
        else:
            # The newest report of each silo: picked by id, decoded only if not held already.
            refs = self._store.latest_report_refs(model_id, model_version or None)
            reports = self._latest.reports(pick(refs))
        spec = self._specs.get(reports[0].spec_digest)
        if spec is None:
            raise QueryError(f"spec {reports[0].spec_digest[:12]} is unknown")
        merged = merge_stats(reports)  # its privacy terms merged with the counts
        metrics = compute_metrics(spec, merged)
        return Fairness(
            model=model_id,
            version=reports[0].model_version,
            silos=tuple(sorted({r.silo_id for r in reports})),
            jurisdictions=tuple(sorted({r.jurisdiction for r in reports})),
            rows=int(sum(r.stats.rows for r in reports)),
            reports=len(reports),
            metrics=metrics,
            source=clear_source(merged.privacy),
            spec_digest=spec.digest,
            report_ids=tuple(sorted(r.report_id for r in reports)),
        )

    def decisions(
        self, jurisdiction_glob: str | None = None, silo_id: str | None = None
    ) -> list[DecisionRecord]:
        """The decision of the newest report of every (silo, model, version)."""
        return [r for r in self._store.latest_decisions() if _kept(r, jurisdiction_glob, silo_id)]

    def silos(
        self,
        *,
        stale_after_ms: int = 0,
        jurisdiction_glob: str | None = None,
        silo_id: str | None = None,
        now: int | None = None,
    ) -> list[SiloRecord]:
        """Registered silos; with ``stale_after_ms`` only those silent for longer."""
        if stale_after_ms < 0:
            raise QueryError("stale duration must be >= 0")
        t = now_ms() if now is None else now
        return [
            s
            for s in self._store.list_silos()
            if _kept(s, jurisdiction_glob, silo_id)
            and (not stale_after_ms or t - s.last_seen_ms > stale_after_ms)
        ]

    def history(
        self,
        model_id: str,
        metric: str,
        *,
        feature: str | None = None,
        attribute: str | None = None,
        since_ms: int = 0,
        jurisdiction_glob: str | None = None,
        silo_id: str | None = None,
    ) -> list[MetricPoint]:
        """The metric's value in every report of the model, oldest first.

        A drift metric is read from ``drift.features[feature]``, a fairness metric
        from ``fairness[attribute]``, anything else from the top level. A point's
        value is None where the report has no number there.
        """
        if not model_id or not metric:
            raise QueryError("history query: a model id and a metric name are required")
        points = [
            p
            for p in self._store.metric_history(
                model_id, _metric_path(metric, feature, attribute), since_ms=since_ms
            )
            if _kept(p, jurisdiction_glob, silo_id)
        ]
        if points and all(p.value is None for p in points):
            where = (
                f"feature {feature!r}"
                if feature
                else f"attribute {attribute!r}"
                if attribute
                else "top level"
            )
            raise QueryError(
                f"metric {metric!r} at {where} is in none of the {len(points)} report(s); "
                "drift metrics need --feature, fairness metrics need --attribute"
            )
        return points

    def central_decisions(self, model_id: str | None = None) -> list[CentralDecisionRecord]:
        """The newest central decision of every (model, version, group), of one model if given."""
        return [
            r
            for r in self._store.latest_central_decisions()
            if not model_id or r.model_id == model_id
        ]

    def jobs(self, model_id: str | None = None) -> list[JobRecord]:
        return self._store.list_jobs(model_id or None)


class _Located(Protocol):
    @property
    def jurisdiction(self) -> str: ...
    @property
    def model_version(self) -> str: ...
    @property
    def window_end_ms(self) -> int: ...


L = TypeVar("L", bound=_Located)


@dataclass(frozen=True)
class _Newest:
    """Reports (or refs) in the glob; without a version, of the newest version reported."""

    model_id: str
    model_version: str | None
    glob: str | None

    def __call__(self, found: Iterable[L]) -> list[L]:
        kept = [r for r in found if matches_glob(r.jurisdiction, self.glob)]
        if not kept:
            raise QueryError(
                f"no reports for model {self.model_id!r}"
                + (f" version {self.model_version}" if self.model_version else "")
                + (f" in jurisdictions {self.glob!r}" if self.glob else "")
            )
        if self.model_version:
            return kept
        newest = max(kept, key=lambda r: r.window_end_ms).model_version
        return [r for r in kept if r.model_version == newest]


def _metric_path(metric: str, feature: str | None, attribute: str | None) -> tuple[str, ...]:
    """Where a metric sits in a report's metrics (see :func:`aggregator.store.metric_at`)."""
    if feature:
        return ("drift", "features", feature, metric)
    if attribute:
        return ("fairness", attribute, metric)
    return (metric,)


class _Owned(Protocol):
    @property
    def silo_id(self) -> str: ...
    @property
    def jurisdiction(self) -> str: ...


def _kept(row: _Owned, glob: str | None, silo_id: str | None) -> bool:
    """In the jurisdictions of ``glob`` and, if one is named, of silo ``silo_id``."""
    return matches_glob(row.jurisdiction, glob) and (not silo_id or row.silo_id == silo_id)
