"""Tables of the aggregator's answers, as `fedgov query`, `model` and `jobs` print them.

Each printer takes the typed answers of :mod:`aggregator.answers` that
:class:`~aggregator.query_client.QueryClient` returns (``--json`` prints the same
ones through :func:`aggregator.answers.to_json`); Prometheus drift rows are read
into :class:`~aggregator.answers.DriftRow` first. Disparate impact (Prometheus
only) stays a plain row. Fairness answers are printed by
:func:`fedgov.cli.output.print_fairness` from their ``to_json`` form.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aggregator.answers import (
    CentralRow,
    DecisionRow,
    DriftRow,
    HistoryPoint,
    JobRow,
    ModelVersion,
    SiloRow,
)
from fedgov.cli.output import iso, table

__all__ = [
    "print_central",
    "print_decisions",
    "print_disparate_impact",
    "print_drift",
    "print_history",
    "print_jobs",
    "print_models",
    "print_silos",
]


def print_drift(rows: Sequence[DriftRow], threshold: float) -> None:
    if not rows:
        print(f"no feature has PSI above {threshold}")
        return
    table(
        ["silo", "jurisdiction", "model", "version", "feature", "psi", "p-value", "window end"],
        [
            [
                r.silo,
                r.jurisdiction,
                r.model,
                r.version,
                r.feature,
                r.psi,
                r.psi_pvalue,
                iso(r.window_end_ms),
            ]
            for r in rows
        ],
    )


def print_disparate_impact(rows: list[dict[str, Any]]) -> None:
    """Disparate impact per jurisdiction, as Prometheus holds it (`query fairness --promql-url`)."""
    table(
        ["jurisdiction", "model", "version", "attribute", "disparate impact", "silos", "rows"],
        [
            [
                r["jurisdiction"],
                r["model"],
                r["version"],
                r["attribute"],
                r["disparate_impact"],
                r["silos"],
                r["rows"],
            ]
            for r in rows
        ],
    )


def print_decisions(rows: Sequence[DecisionRow]) -> None:
    if not rows:
        print("no reports yet")
        return
    table(
        ["silo", "jurisdiction", "model", "version", "allow", "actions", "deny reasons"],
        [
            [
                r.silo,
                r.jurisdiction,
                r.model,
                r.version,
                r.allow,
                r.actions,
                "; ".join(r.deny) or "-",
            ]
            for r in rows
        ],
    )


def print_silos(rows: Sequence[SiloRow]) -> None:
    if not rows:
        print("no silos match")
        return
    table(
        ["silo", "jurisdiction", "last seen", "registered", "models"],
        [
            [
                r.silo,
                r.jurisdiction,
                iso(r.last_seen_ms),
                iso(r.registered_ms),
                r.models,
            ]
            for r in rows
        ],
    )


def print_history(rows: Sequence[HistoryPoint], metric: str) -> None:
    table(
        ["window end", "silo", "jurisdiction", "version", metric],
        [[iso(r.window_end_ms), r.silo, r.jurisdiction, r.version, r.value] for r in rows],
    )


def print_central(rows: Sequence[CentralRow]) -> None:
    if not rows:
        print("no central decisions yet")
        return
    table(
        ["model", "version", "group", "silos", "rows", "allow", "actions", "deny reasons"],
        [
            [
                r.model,
                r.version,
                r.group,
                r.silos,
                r.rows,
                r.allow,
                r.actions,
                "; ".join(r.deny) or "-",
            ]
            for r in rows
        ],
    )


def print_jobs(rows: Sequence[JobRow]) -> None:
    if not rows:
        print("no retraining jobs")
        return
    table(
        ["job", "model", "version", "state", "candidate", "silos", "acknowledged by", "detail"],
        [
            [
                j.job_id,
                j.model,
                j.version,
                j.state,
                j.candidate_version or "-",
                j.silos,
                j.acked_silos,
                (j.detail or j.reason)[:90],
            ]
            for j in rows
        ],
    )


def print_models(rows: Sequence[ModelVersion]) -> None:
    if not rows:
        print("no model versions registered")
        return
    table(
        ["model", "version", "status", "aliases", "created", "flower run", "silos"],
        [
            [
                r.model,
                r.version,
                r.status,
                r.aliases,
                iso(r.created_ms),
                r.lineage.get("flower_run_id"),
                r.lineage.get("silos"),
            ]
            for r in rows
        ],
    )
