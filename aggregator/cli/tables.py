"""Tables of the aggregator's answers, as `fedgov query`, `model` and `jobs` print them.

Each printer takes the typed answers of :mod:`aggregator.answers` that
:class:`~aggregator.query_client.QueryClient` returns (``--json`` prints the same
ones through :func:`aggregator.answers.to_json`); Prometheus drift rows are read
into :class:`~aggregator.answers.DriftRow` first. Disparate impact (Prometheus
only) stays a plain row. Fairness answers are printed by
:func:`fedgov.cli.output.print_fairness` from their ``to_json`` form.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


def _print(
    rows: Sequence[Any],
    empty: str,
    headers: str,
    fields: str,
    **computed: Callable[[Any], Any],
) -> None:
    """A table of ``rows``: one column per name in ``fields`` under ``headers`` (split on "|").

    A field is read off the row (a key of a plain row), times (``*_ms``) shown as
    ISO; ``computed`` columns are worked out from the whole row. With no rows,
    ``empty`` is printed instead (an empty ``empty``: the bare header).
    """
    if not rows and empty:
        print(empty)
        return

    def cell(row: Any, name: str) -> Any:
        if name in computed:
            return computed[name](row)
        value = row[name] if isinstance(row, dict) else getattr(row, name)
        return iso(value) if name.endswith("_ms") else value

    names = fields.split()
    table(headers.split("|"), [[cell(r, n) for n in names] for r in rows])


def _reasons(row: DecisionRow | CentralRow) -> str:
    return "; ".join(row.deny) or "-"


def print_drift(rows: Sequence[DriftRow], threshold: float) -> None:
    _print(
        rows,
        f"no feature has PSI above {threshold}",
        "silo|jurisdiction|model|version|feature|psi|p-value|window end",
        "silo jurisdiction model version feature psi psi_pvalue window_end_ms",
    )


def print_disparate_impact(rows: list[dict[str, Any]]) -> None:
    """Disparate impact per jurisdiction, as Prometheus holds it (`query fairness --promql-url`)."""
    _print(
        rows,
        "",
        "jurisdiction|model|version|attribute|disparate impact|silos|rows",
        "jurisdiction model version attribute disparate_impact silos rows",
    )


def print_decisions(rows: Sequence[DecisionRow]) -> None:
    _print(
        rows,
        "no reports yet",
        "silo|jurisdiction|model|version|allow|actions|deny reasons",
        "silo jurisdiction model version allow actions reasons",
        reasons=_reasons,
    )


def print_silos(rows: Sequence[SiloRow]) -> None:
    _print(
        rows,
        "no silos match",
        "silo|jurisdiction|last seen|registered|models",
        "silo jurisdiction last_seen_ms registered_ms models",
    )


def print_history(rows: Sequence[HistoryPoint], metric: str) -> None:
    _print(
        rows,
        "",
        f"window end|silo|jurisdiction|version|{metric}",
        "window_end_ms silo jurisdiction version value",
    )


def print_central(rows: Sequence[CentralRow]) -> None:
    _print(
        rows,
        "no central decisions yet",
        "model|version|group|silos|rows|allow|actions|deny reasons",
        "model version group silos rows allow actions reasons",
        reasons=_reasons,
    )


def print_jobs(rows: Sequence[JobRow]) -> None:
    _print(
        rows,
        "no retraining jobs",
        "job|model|version|state|candidate|silos|acknowledged by|detail",
        "job_id model version state candidate silos acked_silos detail",
        candidate=lambda j: j.candidate_version or "-",
        detail=lambda j: (j.detail or j.reason)[:90],
    )


def print_models(rows: Sequence[ModelVersion]) -> None:
    _print(
        rows,
        "no model versions registered",
        "model|version|status|aliases|created|flower run|silos",
        "model version status aliases created_ms flower_run lineage_silos",
        flower_run=lambda r: r.lineage.get("flower_run_id"),
        lineage_silos=lambda r: r.lineage.get("silos"),
    )
