"""Central policy: the organisation's Rego gate over merged cross-silo metrics.

Silos decide locally on their own data; the aggregator also decides per
model version and per *jurisdiction group* (a glob such as ``EU-*``) on the
metrics merged from the latest report of every silo in the group. The input
document is the same contract the silos use, with ``silo`` set to
``"central"``, ``jurisdiction`` set to the group, and ``silos`` listing the
silos merged, so one policy pack can serve both levels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aggregator.merge import matches_glob
from fedgov.policy import Decision, PolicyEngine
from fedgov.report import Report

__all__ = ["CentralGate"]


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


@dataclass(frozen=True)
class CentralGate:
    engine: PolicyEngine
    groups: tuple[str, ...] = ("*",)

    def groups_for(self, jurisdiction: str) -> list[str]:
        return [g for g in self.groups if matches_glob(jurisdiction, g)]

    def policy_input(
        self, group: str, reports: Sequence[Report], metrics: dict[str, Any]
    ) -> dict[str, Any]:
        first = reports[0]
        return self.subject_input(
            group,
            (first.model_id, first.model_version),
            sorted({r.silo_id for r in reports}),
            (min(r.window_start_ms for r in reports), max(r.window_end_ms for r in reports)),
            metrics,
        )

    def subject_input(
        self,
        group: str,
        model: tuple[str, str],
        silos: Sequence[str],
        window: tuple[int, int],
        metrics: dict[str, Any],
    ) -> dict[str, Any]:
        """The input over any merged figures: of reports, or of a secure sum's period."""
        return {
            "model": {"id": model[0], "version": model[1]},
            "silo": "central",
            "jurisdiction": group,
            "silos": list(silos),
            "window": {"start": _iso(window[0]), "end": _iso(window[1])},
            **metrics,
        }

    def evaluate(self, group: str, reports: Sequence[Report], metrics: dict[str, Any]) -> Decision:
        return self.engine.evaluate(self.policy_input(group, reports, metrics))
