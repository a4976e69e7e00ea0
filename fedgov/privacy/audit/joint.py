"""(b) The joint linked system: every exact view of a family at once (all reports, all
windows, every structural equality, the tallies, and secure sums when given), integer
intervals by MILP. Complementary suppression checks each line alone; this checks them
together (the tau-ARGUS audit, Hundepool et al. 2012)."""

from __future__ import annotations

from collections.abc import Sequence

from fedgov.privacy.audit._finding import Finding, Truth, interval_findings
from fedgov.privacy.audit._solve import intervals
from fedgov.privacy.audit._system import Release, SecureRelease, build_system
from fedgov.spec import MonitoringSpec

__all__ = ["attack"]


def attack(
    releases: Sequence[Release],
    secure: Sequence[SecureRelease],
    spec: MonitoringSpec | None,
    truth: Truth | None,
) -> list[Finding]:
    exact = [r for r in releases if r.sigma is None]
    if not exact and not secure:
        return []
    system, forms = build_system(exact, secure, spec)
    forms = [f for f in forms if f.kind != "piece"]
    return interval_findings("joint", system, forms, intervals(system, forms), truth)
