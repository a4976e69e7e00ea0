"""(d) Window differencing: two reports of one silo over overlapping windows share
rows; the cells of the rows one window has and the other lacks are their difference."""

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
    silos: dict[str, list[Release]] = {}
    for r in releases:
        if r.sigma is None:
            silos.setdefault(r.silo, []).append(r)
    for mine in silos.values():
        if len(mine) < 2:
            continue
        system, forms = build_system(mine, spec=spec)
        forms = [f for f in forms if f.kind == "piece"]
        out += interval_findings("window", system, forms, intervals(system, forms), truth)
    return out
