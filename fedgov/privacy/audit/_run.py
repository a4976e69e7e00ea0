"""Run every attack on a set of releases, family by family."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from fedgov.privacy.audit import deficits, joint, margins, noisy, secure_sums, spec_extremes, windows
from fedgov.privacy.audit._finding import Finding, Truth
from fedgov.privacy.audit._system import Release, SecureRelease
from fedgov.report import Report
from fedgov.spec import MonitoringSpec

__all__ = ["AuditResult", "release_of", "run_audit"]


@dataclass(frozen=True)
class AuditResult:
    findings: list[Finding] = field(default_factory=list)

    @property
    def recovered(self) -> list[Finding]:
        return [f for f in self.findings if f.recovered]


def release_of(report: Report) -> Release:
    return Release(
        label=f"{report.silo_id} [{report.window_start_ms}, {report.window_end_ms}) "
        f"{report.report_id[:12]}",
        silo=report.silo_id,
        family=(report.model_id, report.model_version, report.spec_digest),
        start_ms=report.window_start_ms,
        end_ms=report.window_end_ms,
        stats=report.stats,
    )


def run_audit(
    releases: Sequence[Release],
    secure: Sequence[SecureRelease] = (),
    specs: Sequence[MonitoringSpec] = (),
    *,
    truth: Truth | None = None,
    extremes: dict[str, tuple[float, float]] | None = None,
    k: int = 10,
    progress: Callable[[str], None] | None = None,
) -> AuditResult:
    """Every attack on every family (model, version, spec digest) of ``releases`` and
    ``secure`` sums, and the spec-extremes attack on each spec."""
    by_spec = {s.digest: s for s in specs}
    families: dict[tuple[str, str, str], tuple[list[Release], list[SecureRelease]]] = {}
    for r in releases:
        families.setdefault(r.family, ([], []))[0].append(r)
    for s in secure:
        families.setdefault(s.family, ([], []))[1].append(s)
    findings: list[Finding] = []
    for n, (family, (rs, ss)) in enumerate(sorted(families.items()), 1):
        if progress:
            progress(f"family {n}/{len(families)}: {family[0]} {family[1]}, "
                     f"{len(rs)} reports, {len(ss)} secure sums")
        spec = by_spec.get(family[2])
        findings += margins.attack(rs, spec, truth)
        findings += deficits.attack(rs, spec, truth)
        findings += windows.attack(rs, spec, truth)
        findings += secure_sums.attack(rs, ss, spec, truth)
        findings += joint.attack(rs, ss, spec, truth)
        findings += noisy.attack(rs, ss, spec, truth)
    for spec in specs:
        findings += spec_extremes.attack(spec, k, extremes)
    return AuditResult(findings)
