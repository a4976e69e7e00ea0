"""zCDP accounting of what one silo releases in the clear, over the whole report and over time.

Unit of protection
    One row of one silo's data. Each window's report is ``rho``-zCDP for
    that row (:mod:`fedgov.privacy._gaussian`: discrete Gaussian noise with
    the L2 sensitivity of every linked table of the report together).

Composition over time
    zCDP composes by addition (Bun & Steinke, "Concentrated Differential
    Privacy: Simplifications, Extensions, and Lower Bounds", TCC 2016,
    Lemma 2.3): a row that appears in windows ``1..n`` is protected at
    ``sum(rho_i)``. The silo keeps the running total of every window it
    released (its ledger, ``agent.db``), charged whether or not a given row
    is in a given window, so overlapping windows (a row in two releases,
    which is what window differencing exploits) are covered by construction.
    Each report carries ``rho`` (charged for it), ``rho_total`` (the
    silo's cumulative charge including it) and ``delta``; ``epsilon`` for
    that delta follows from :func:`zcdp_epsilon`. A window whose charge
    would take ``rho_total`` past the silo's budget is not released.

Why a window in secure rounds is charged ``2 rho``
    The same window's exact counts also enter a secure sum over a cohort
    (fedgov.secagg). Exact sums are not DP: their protection is input
    privacy (only the sum is revealed) and the release threshold. But an
    attacker holding the aggregator and ``m - 2`` colluding silos can take
    the released sum, subtract the colluders' exact counts and the other
    honest silo's *noised* clear counts, and get a second view of this
    silo's counts whose noise has variance at least ``sigma^2`` (the other
    silo's noise). Two independent Gaussian views of the same counts, each
    with sensitivity ``sqrt(H)`` and noise ``sigma``, are together
    ``2 rho``-zCDP (composition), so that is what is charged. With
    ``privacy.secure_aggregation: false`` the charge is ``rho``.

Conversion
    ``rho``-zCDP implies ``(rho + 2 sqrt(rho ln(1/delta)), delta)``-DP for
    every ``delta > 0`` (Bun & Steinke 2016, Proposition 1.3).

What it does not cover
    A person with rows in several silos is protected per silo (each silo has
    its own budget, nobody sums them). The budget is per silo, not per
    model: every model's windows draw on it, as they are computed on the
    same people. Metrics are computed from noised counts and carry no
    confidence intervals yet; figures from small groups are noisy by design.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["charge", "compose", "zcdp_epsilon"]


def _positive(value: float, name: str) -> float:
    value = float(value)
    if not 0.0 < value < math.inf:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return value


def compose(rhos: Iterable[float]) -> float:
    """Sequential composition in zCDP: the rho of releasing all of them is their sum."""
    total = 0.0
    for rho in rhos:
        if float(rho) < 0.0 or not math.isfinite(float(rho)):
            raise ValueError(f"a zCDP charge must be a finite number >= 0, got {rho!r}")
        total += float(rho)
    return total


def charge(rho: float, *, secure_aggregation: bool) -> float:
    """What one window's release costs the silo: ``2 rho`` when the window's exact
    counts also enter secure sums (see the module docstring), else ``rho``."""
    return _positive(rho, "rho") * (2.0 if secure_aggregation else 1.0)


def zcdp_epsilon(rho: float, delta: float) -> float:
    """The (epsilon, delta)-DP epsilon implied by ``rho``-zCDP (Bun & Steinke 2016, Prop 1.3)."""
    rho = float(rho)
    if rho < 0.0 or not math.isfinite(rho):
        raise ValueError(f"rho must be a finite number >= 0, got {rho!r}")
    delta = float(delta)
    if not 0.0 < delta < 1.0:
        raise ValueError(f"delta must be in (0, 1), got {delta!r}")
    return rho + 2.0 * math.sqrt(rho * math.log(1.0 / delta))
