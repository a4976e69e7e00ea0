"""The disclosure audit: attacks on everything the aggregator holds about a silo.

Everything released about a silo is modelled as linear views of its unknown true cells
(:mod:`._system`): exact equalities, bounds (``>= 0``), noisy observations, window
overlaps, secure sums. One attack per module:

- :mod:`.margins` (a) margin differencing, one report alone;
- :mod:`.joint` (b) the joint linked system, integer intervals by MILP;
- :mod:`.deficits` (c) fine- and score-histogram deficits;
- :mod:`.windows` (d) differencing of overlapping windows;
- :mod:`.spec_extremes` (e) extreme values and small cells in the spec;
- :mod:`.secure_sums` (f) subtraction from secure sums;
- :mod:`.noisy` (g) generalized least squares on noised releases.

A cell is *recovered* when an exact release pins it to an interval narrower than ``k``
(and says it is small and not empty), or when the attacker's standard deviation on a
noised cell is below the protection the release's budget states (:mod:`.noisy`).
Pure: no aggregator import; the aggregator's store is read by ``aggregator.privacy_audit``.
"""

from fedgov.privacy.audit._finding import Finding, Truth
from fedgov.privacy.audit._gls import gls
from fedgov.privacy.audit._run import AuditResult, release_of, run_audit
from fedgov.privacy.audit._solve import intervals
from fedgov.privacy.audit._system import Release, SecureRelease, build_system

__all__ = [
    "AuditResult",
    "Finding",
    "Release",
    "SecureRelease",
    "Truth",
    "build_system",
    "gls",
    "intervals",
    "release_of",
    "run_audit",
]
