"""The aggregator's `fedgov` verbs.

``aggregator serve`` (:mod:`.verbs_serve`), ``query *`` (:mod:`.verbs_query`),
``model *`` (:mod:`.verbs_model`), ``jobs`` (:mod:`.verbs_jobs`) and
``silo approve`` (:mod:`.verbs_silo`), ``round open|list`` (:mod:`.verbs_round`) and
``privacy audit`` (:mod:`.verbs_privacy`), ``report`` and ``report verify``
(:mod:`.verbs_report`), ``dashboard`` (:mod:`.verbs_dashboard`); the
printers of their answers are in :mod:`.tables`. Registered through the
``fedgov.verbs`` entry-point group (see :mod:`fedgov.cli.main`); the
aggregator's modules are imported only when a verb runs.
"""

from __future__ import annotations

from aggregator.cli import (
    verbs_dashboard,
    verbs_jobs,
    verbs_model,
    verbs_privacy,
    verbs_query,
    verbs_report,
    verbs_round,
    verbs_serve,
    verbs_silo,
)
from fedgov.cli import Verbs

__all__ = ["register"]


def register(verbs: Verbs) -> None:
    verbs_serve.register(verbs)
    verbs_query.register(verbs)
    verbs_model.register(verbs)
    verbs_jobs.register(verbs)
    verbs_silo.register(verbs)
    verbs_round.register(verbs)
    verbs_privacy.register(verbs)
    verbs_report.register(verbs)
    verbs_dashboard.register(verbs)
