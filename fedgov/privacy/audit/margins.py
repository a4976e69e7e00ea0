"""(a) Margin differencing: one report alone, its margins minus its shown intersection
cells (``F - F|30-49 - F|50+``), nothing else."""

from __future__ import annotations

from collections.abc import Sequence

from fedgov.privacy.audit._finding import Finding, Truth, interval_findings
from fedgov.privacy.audit._solve import intervals
from fedgov.privacy.audit._system import Release, build_system
from fedgov.spec import MonitoringSpec

__all__ = ["attack"]


def attack(
    releases: Sequence[Release], spec: MonitoringSpec | None, truth: Truth | None
) -> list[Finding]:
    out: list[Finding] = []
    for r in releases:
        if r.stats.privacy.k is None or r.sigma is not None:
            continue
        system, forms = build_system([r], spec=spec, kinds=frozenset({"margin"}))
        out += interval_findings("margin", system, forms, intervals(system, forms), truth)
    return out
