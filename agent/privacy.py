"""The silo's privacy settings, the guard applied before counts leave, and the budget refusal.

Default (``privacy:`` in ``silo.yaml``): discrete Gaussian noise on every
count of a report, ``rho``-zCDP per window with the sensitivity of the whole
report (:mod:`fedgov.privacy._gaussian`), charged ``2 rho`` when the silo also
takes part in secure rounds, against a cumulative per-silo ``budget`` kept in
``agent.db`` (:mod:`fedgov.privacy._accounting`, :meth:`AgentState.record_report`).
Small-cell suppression (``min_cell_count``) and Laplace noise (``epsilon``)
stay available, opt-in; ``rho: null`` turns the default noise off (exact
counts, for trials and tests that compare figures exactly).
"""

from __future__ import annotations

import dataclasses
import sqlite3
from dataclasses import dataclass

from fedgov.errors import GovernanceError
from fedgov.privacy import add_discrete_gaussian, add_laplace_noise, charge, suppress_small_cells
from fedgov.report import Report, now_ms
from fedgov.stats import WindowStats

__all__ = [
    "DEFAULT_BUDGET",
    "DEFAULT_CANDIDATE_RHO",
    "DEFAULT_DELTA",
    "DEFAULT_RHO",
    "BudgetExhausted",
    "LEDGER_SCHEMA",
    "PrivacySettings",
    "charge_report",
    "guard",
    "rho_spent",
]

#: zCDP per window. With the demo spec (H = 20 histograms) sigma = sqrt(20 / 0.1) ~ 14 rows
#: per count: group rates of groups of a few hundred rows stay readable.
DEFAULT_RHO = 0.05
#: Cumulative zCDP per silo: 50 windows at 2 * rho (secure rounds on), 100 without.
DEFAULT_BUDGET = 5.0
DEFAULT_DELTA = 1e-6
#: zCDP of a retrained candidate's report on the holdout (once per candidate, not per
#: window): sigma ~ 3 rows per count. A group of n rows then has its selection rate
#: moved by ~ sigma / n (0.02 at 135 rows, 0.005 at 560), so a promotion gate is decided
#: by the model, not the noise, only when the holdout's smallest gated group (each
#: intersection's included) has several hundred rows.
DEFAULT_CANDIDATE_RHO = 1.0


class BudgetExhausted(GovernanceError):
    """Releasing a window would take the silo's cumulative zCDP past ``privacy.budget``."""


@dataclass(frozen=True)
class PrivacySettings:
    """What ``privacy:`` in ``silo.yaml`` says (see :mod:`agent.config`)."""

    rho: float | None = DEFAULT_RHO
    budget: float = DEFAULT_BUDGET
    delta: float = DEFAULT_DELTA
    candidate_rho: float | None = DEFAULT_CANDIDATE_RHO
    secure_aggregation: bool = True
    min_cell_count: int = 0
    epsilon: float | None = None
    complementary: bool = False


def guard(
    stats: WindowStats, privacy: PrivacySettings, *, in_secure_rounds: bool = True
) -> WindowStats:
    """The counts that may leave: noise first, then (opt-in) suppression.

    With ``privacy.rho`` set, every count gets discrete Gaussian noise and
    ``stats.privacy`` records sigma, the charge (``2 rho`` when the window
    also enters secure rounds: ``in_secure_rounds`` and
    ``secure_rounds.enabled``) and delta; the running total
    (``rho_total``) is filled in, and checked against the budget, when the
    report is recorded. Suppression after noise is post-processing.
    """
    if privacy.rho is not None:
        stats = add_discrete_gaussian(stats, privacy.rho)
        charged = charge(
            privacy.rho, secure_aggregation=privacy.secure_aggregation and in_secure_rounds
        )
        dp = dataclasses.replace(stats.privacy, rho=charged, delta=privacy.delta)
        stats = dataclasses.replace(stats, privacy=dp)
    if privacy.epsilon is not None:
        stats = add_laplace_noise(stats, privacy.epsilon)
    if privacy.min_cell_count > 1:
        # Complementary suppression is off by default: on real windows it blanks
        # whole coarse bins to hide one small tail cell, which ruins drift metrics.
        stats = suppress_small_cells(
            stats, privacy.min_cell_count, complementary=privacy.complementary
        )
    return stats


#: The per-silo ledger of zCDP charges, in ``agent.db`` (created with the other tables;
#: ``IF NOT EXISTS`` makes it a migration of older files too).
LEDGER_SCHEMA = """
CREATE TABLE IF NOT EXISTS privacy_ledger (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    report_id TEXT NOT NULL,
    model TEXT NOT NULL,
    rho REAL NOT NULL,
    rho_total REAL NOT NULL,
    time_ms INTEGER NOT NULL
)"""


def rho_spent(db: sqlite3.Connection) -> float:
    """The silo's cumulative zCDP charge so far (0 before any noised release)."""
    return float(db.execute("SELECT coalesce(sum(rho), 0) FROM privacy_ledger").fetchone()[0])


def charge_report(db: sqlite3.Connection, report: Report, budget: float | None) -> Report:
    """Charge ``report``'s ``rho`` to the ledger and fill in its ``rho_total``, inside the
    caller's transaction; :class:`BudgetExhausted` (nothing charged) when the total would
    pass ``budget``. A report without ``rho`` (no DP noise) is returned as it is.

    Every recording is charged, also a report id recorded before: the noise is drawn anew
    each time a window is processed, and a second noisy view costs what the first did.
    """
    rho = report.stats.privacy.rho
    if rho is None:
        return report
    spent = rho_spent(db)
    total = spent + rho
    if budget is not None and total > budget * (1.0 + 1e-12):
        raise BudgetExhausted(
            f"privacy budget exhausted: releasing this window of {report.model_id} "
            f"{report.model_version} would bring the silo's cumulative zCDP to {total:g} "
            f"(spent {spent:g} + this window {rho:g}), past privacy.budget = {budget:g}; its "
            "counts are not sent. The window stays where it is and is not retried until it "
            "changes. To report again an operator must decide: raise privacy.budget (a weaker "
            "guarantee for the people in this silo's data) or lower privacy.rho (noisier counts)"
        )
    db.execute(
        "INSERT INTO privacy_ledger (report_id, model, rho, rho_total, time_ms)"
        " VALUES (?, ?, ?, ?, ?)",
        (report.report_id, f"{report.model_id}/{report.model_version}", rho, total, now_ms()),
    )
    stats = report.stats
    privacy = dataclasses.replace(stats.privacy, rho_total=total)
    return dataclasses.replace(report, stats=dataclasses.replace(stats, privacy=privacy))
