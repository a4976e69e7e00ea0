"""(f) Subtraction from secure sums: ``S(A+B+C) - B - C`` with the other silos' shown
cells, nothing else (no structural equalities, no tallies): what the sum adds alone."""

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
    out: list[Finding] = []
    for s in secure:
        mine = [
            r
            for r in releases
            if r.sigma is None and r.silo in s.silos and s.start_ms <= r.start_ms
            and r.end_ms <= s.end_ms
        ]
        system, forms = build_system(mine, [s], spec, kinds=frozenset(), use_tallies=False)
        forms = [f for f in forms if f.kind in ("suppressed", "withheld")]
        out += interval_findings("secure-sum", system, forms, intervals(system, forms), truth)
    return out
