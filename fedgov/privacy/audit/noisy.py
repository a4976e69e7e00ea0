"""(g) Noised releases: the generalized least squares estimate of each released cell
from every noisy view (all windows, all linked tables) plus the exact ones (secure
sums, structural equalities), and its standard deviation.

Criterion. A report's noise is calibrated to its whole linked content (sensitivity
``sqrt(H)``), so what GLS learns from the report's own linked tables is paid for: a
cell's own-report sd ``sd_own`` (GLS on that report alone) is the protection the noise
gives it; the budget charged for the window (``rho``) states
``sigma_protect = sqrt(H / (2 rho))``, which equals the noise's ``sigma`` when the window
was charged once and ``sigma / sqrt(2)`` when charged twice. A cell is recovered when
the attacker's sd is below ``sd_own * sigma_protect / sigma`` (with a 2% tolerance):
views the accountant did not pay for (an exact secure sum, an uncharged window) made it
more precise than the budget allows. For a cell in no linked table, ``sd_own = sigma``
and the threshold is ``sigma_protect`` itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from fedgov.privacy._gaussian import histogram_count
from fedgov.privacy.audit._finding import TOLERANCE, Finding, Truth
from fedgov.privacy.audit._gls import gls
from fedgov.privacy.audit._system import Release, SecureRelease, build_system, describe
from fedgov.spec import MonitoringSpec

__all__ = ["attack", "sigma_protect"]


def sigma_protect(r: Release) -> float:
    """The stated protection scale of ``r``: ``sqrt(H / (2 rho))``, or the noise's sd
    when no ``rho`` is stated (Laplace releases)."""
    sigma = r.sigma
    assert sigma is not None
    rho = r.stats.privacy.rho
    return math.sqrt(histogram_count(r.stats) / (2.0 * rho)) if rho else sigma


def attack(
    releases: Sequence[Release],
    secure: Sequence[SecureRelease],
    spec: MonitoringSpec | None,
    truth: Truth | None,
) -> list[Finding]:
    noised = [r for r in releases if r.sigma is not None]
    if not noised:
        return []
    system, forms = build_system(releases, secure, spec)
    forms = [f for f in forms if f.kind == "noised"]
    full = gls(system, forms)
    own_sd: dict[str, list[float]] = {}
    seen: dict[str, int] = {}
    out = []
    for form, (estimate, sd) in zip(forms, full, strict=True):
        r = form.release
        assert r is not None and r.sigma is not None
        if r.label not in own_sd:
            alone, alone_forms = build_system([r], spec=spec)
            own_sd[r.label] = [s for _, s in gls(alone, alone_forms)]
        i = seen[r.label] = seen.get(r.label, -1) + 1  # forms keep each release's cell order
        threshold = own_sd[r.label][i] * sigma_protect(r) / r.sigma
        out.append(
            Finding(
                "gls",
                form.where,
                describe(form.key),
                estimate,
                sd,
                "sd",
                threshold,
                sd < threshold * (1.0 - TOLERANCE),
                truth=truth.of(form, system) if truth else None,
            )
        )
    return out
