"""The live compliance view: `fedgov dashboard`, read-only pages over the query API.

A separate process and a client of the aggregator's query API with one
certificate (operator, auditor or silo; the certificate's role decides what
it sees, the aggregator scoping a silo to its own rows). It serves
server-rendered HTML behind a token (:mod:`.auth`): the models x
jurisdictions matrix, a model page with the reports' plots, silo health,
the jobs timeline and report downloads (:mod:`.views`, :mod:`.server`).
"""

from aggregator.dashboard.auth import load_or_create_token
from aggregator.dashboard.backlog import OutboxBacklog
from aggregator.dashboard.server import RunningDashboard, create_dashboard
from aggregator.dashboard.views import Dashboard

__all__ = [
    "Dashboard",
    "OutboxBacklog",
    "RunningDashboard",
    "create_dashboard",
    "load_or_create_token",
]
