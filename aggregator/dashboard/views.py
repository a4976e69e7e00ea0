"""The dashboard's pages as data: what each one asks the aggregator, and what it shows.

:class:`Dashboard` turns a path's question into a :class:`Page` (a template and
its context) from the answers of a :class:`~aggregator.query_client.QueryClient`
holding one certificate. The certificate's role decides what there is to see:
the aggregator scopes a silo's reads to its own rows and refuses it merged
figures, jobs and the registry, so for a silo those sections say why they are
empty instead of asking. Errors are not caught here but by the server
(:mod:`.server`), except a refused optional query, which becomes a note on its
section so the rest of the page still shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from aggregator import answers as a
from aggregator.dashboard import plot_data
from aggregator.dashboard.backlog import OutboxBacklog
from fedgov.errors import GovernanceError, QueryError, TransportError
from fedgov.identity import Role

__all__ = ["MERGED_ROLES", "Dashboard", "Page", "QuerySource"]

T = TypeVar("T")
MERGED_ROLES: frozenset[Role | None] = frozenset({"operator", "auditor", None})
MAX_ATTRIBUTES = 4  # fairness plots per model page


class QuerySource(Protocol):
    """The query client's reads the pages use (:class:`aggregator.query_client.QueryClient`)."""

    def decisions(
        self, *, jurisdiction_glob: str = "", silo_id: str = ""
    ) -> list[a.DecisionRow]: ...
    def silos(self, *, stale_after_ms: int = 0) -> list[a.SiloRow]: ...
    def models(self, *, model_id: str = "") -> list[a.ModelVersion]: ...
    def jobs(self, *, model_id: str = "") -> list[a.JobRow]: ...
    def central(self, *, model_id: str = "") -> list[a.CentralRow]: ...
    def fairness(self, model_id: str) -> a.Fairness: ...
    def drift(self, psi_threshold: float, *, model_id: str = "") -> list[a.DriftRow]: ...
    def history(
        self, model_id: str, metric: str, *, attribute: str = ""
    ) -> list[a.HistoryPoint]: ...


@dataclass
class Page:
    """A template and its context; ``status`` is the HTTP status it is served with."""

    template: str
    context: dict[str, Any] = field(default_factory=dict)
    status: int = 200


@dataclass
class Section:
    """A part of a page that may be unavailable: its value, or why there is none."""

    value: Any = None
    note: str = ""


def decision_state(row: a.DecisionRow) -> str:
    if not row.allow or row.deny:
        return "deny"
    return "warn" if row.warn else "allow"


_ORDER = {"deny": 3, "warn": 2, "allow": 1, "none": 0}


def worst(states: Iterable[str]) -> str:
    """The most severe of ``states`` (deny > warn > allow); "none" when there are none."""
    return max(states, key=_ORDER.__getitem__, default="none")


def latest_decisions(rows: Iterable[a.DecisionRow]) -> list[a.DecisionRow]:
    """The newest decision of every (silo, model), sorted by model then silo."""
    newest: dict[tuple[str, str], a.DecisionRow] = {}
    for r in rows:
        key = (r.silo, r.model)
        if key not in newest or r.window_end_ms > newest[key].window_end_ms:
            newest[key] = r
    return sorted(newest.values(), key=lambda r: (r.model, r.silo))


class Dashboard:
    """The pages, answered from ``client`` as the holder of a certificate with ``role``
    (None: a plaintext aggregator, which checks nothing)."""

    def __init__(
        self,
        client: QuerySource,
        *,
        role: Role | None,
        viewer: str,
        stale_after_ms: int,
        backlog: OutboxBacklog | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.role = role
        self.viewer = viewer
        self.stale_after_ms = stale_after_ms
        self.backlog = backlog
        self._clock = clock

    @property
    def merged(self) -> bool:
        """Whether the certificate may read figures merged across silos, jobs, the registry."""
        return self.role in MERGED_ROLES

    def _merged_only(self, what: str, ask: Callable[[], T]) -> Section:
        if not self.merged:
            return Section(
                note=f"{what}: not shown to a silo certificate (operator or auditor only)"
            )
        return _optional(what, ask)

    # -- pages ------------------------------------------------------------------------
    def home(self) -> Page:
        """Models x jurisdictions, coloured by the latest decision of their silos."""
        decisions = latest_decisions(self.client.decisions())
        silos = self.client.silos()
        versions = self._merged_only("model registry", self.client.models)
        central = self._merged_only("central gate", self.client.central)
        models = {d.model for d in decisions} | {m.model for m in versions.value or ()}
        jurisdictions = sorted(
            {d.jurisdiction for d in decisions} | {s.jurisdiction for s in silos}
        )
        cells: dict[str, dict[str, dict[str, Any]]] = {}
        for model in sorted(models):
            cells[model] = {}
            for j in jurisdictions:
                rows = [d for d in decisions if d.model == model and d.jurisdiction == j]
                cells[model][j] = {
                    "state": worst(decision_state(r) for r in rows),
                    "rows": rows,
                }
        return Page(
            "home.html",
            {
                "models": sorted(models),
                "jurisdictions": jurisdictions,
                "cells": cells,
                "central": central,
            },
        )

    def model(self, model_id: str) -> Page:
        """One model: its silos' decisions and the report's plots."""
        decisions = latest_decisions(self.client.decisions())
        decisions = [d for d in decisions if d.model == model_id]
        versions = self._merged_only(
            "model registry", lambda: self.client.models(model_id=model_id)
        )
        if not decisions and not versions.value:
            return Page(
                "error.html",
                {
                    "title": "No such model",
                    "message": f"no model {model_id!r} is visible to "
                    f"this dashboard's certificate ({self.viewer}); see the list on the home page",
                },
                status=404,
            )
        fairness = self._merged_only("merged fairness", lambda: self.client.fairness(model_id))
        plots: list[dict[str, Any]] = []
        notes: list[str] = [s.note for s in (fairness, versions) if s.note]
        attributes = plot_data.sensitive_attributes(fairness.value) if fairness.value else []
        for attr in attributes[:MAX_ATTRIBUTES]:
            plots.append(
                _plot(
                    "selection_rates",
                    f"Selection rate by {attr}",
                    plot_data.selection_rates(fairness.value, attr),
                )
            )
        for attr in [x for x in attributes if "*" not in x][:MAX_ATTRIBUTES]:
            history = _optional(
                f"fairness over time ({attr})",
                lambda attr=attr: self.client.history(
                    model_id, "demographic_parity_ratio", attribute=attr
                ),
            )
            if history.note:
                notes.append(history.note)
            elif history.value:
                plots.append(
                    _plot(
                        "fairness_over_time",
                        f"Demographic parity ratio of {attr} over time",
                        plot_data.fairness_over_time(history.value),
                    )
                )
        drift = self.client.drift(0.0, model_id=model_id)
        if drift:
            plots.append(
                _plot(
                    "drift_heatmap",
                    "Drift (PSI) per silo and feature",
                    plot_data.drift_heatmap(drift),
                )
            )
        jobs = self._merged_only("retraining jobs", lambda: self.client.jobs(model_id=model_id))
        if jobs.note:
            notes.append(jobs.note)
        if jobs.value or versions.value:
            plots.append(
                _plot(
                    "timeline",
                    "Retraining and promotions",
                    plot_data.timeline(jobs.value or [], versions.value or []),
                )
            )
        return Page(
            "model.html",
            {
                "model": model_id,
                "decisions": [(d, decision_state(d)) for d in decisions],
                "fairness": fairness.value,
                "versions": versions.value or [],
                "plots": plots,
                "notes": sorted(set(notes)),
                "merged": self.merged,
            },
        )

    def silos(self) -> Page:
        """Every silo the certificate may see: last seen, stale, models, policy, backlog."""
        now_ms = int(self._clock() * 1000)
        rows = self.client.silos()
        backlog = Section(note="backlog: not configured (start with --prometheus URL)")
        if self.backlog is not None:
            backlog = _optional("outbox backlog", self.backlog.per_silo, TransportError)
        counts = backlog.value or {}
        silos = [
            {
                "row": s,
                "stale": now_ms - s.last_seen_ms > self.stale_after_ms,
                "backlog": counts.get(s.silo),
            }
            for s in sorted(rows, key=lambda s: s.silo)
        ]
        return Page(
            "silos.html",
            {
                "silos": silos,
                "backlog_note": backlog.note,
                "stale_after_ms": self.stale_after_ms,
                "backlog_on": self.backlog is not None and not backlog.note,
            },
        )

    def jobs(self) -> Page:
        """Every retraining job, newest first, and their timeline."""
        jobs = self._merged_only("retraining jobs", self.client.jobs)
        rows = sorted(jobs.value or [], key=lambda j: (-j.created_ms, j.job_id))
        plots = [_plot("timeline", "Retraining jobs", plot_data.timeline(rows, []))] if rows else []
        return Page("jobs.html", {"jobs": rows, "note": jobs.note, "plots": plots})


def _plot(kind: str, title: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "title": title, "data": data}


def _optional(what: str, ask: Callable[[], T], *also: type[GovernanceError]) -> Section:
    """``ask()``, or a note when the query is refused (or fails with one of ``also``): the
    rest of the page stays."""
    try:
        return Section(ask())
    except (QueryError, *also) as exc:
        return Section(note=f"{what}: {exc}")
