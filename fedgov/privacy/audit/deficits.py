"""(c) Fine- and score-histogram deficits: one report alone; a coarse cell minus its
shown fine cells, confusion totals minus shown score cells, and the suppressed tallies."""

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
        system, forms = build_system([r], spec=spec, kinds=frozenset({"fine", "score"}))
        keep = [i for i, f in enumerate(forms) if f.key[0] in ("fine", "score")]
        forms = [forms[i] for i in keep]
        out += interval_findings("deficit", system, forms, intervals(system, forms), truth)
    return out
