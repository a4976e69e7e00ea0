"""Compliance queries over PromQL, against Prometheus or Thanos Query.

The aggregator answers ``fedgov query drift|fairness`` from its store. Where
the agents are scraped by Prometheus (one per site, joined by federation or
a Thanos querier), the same questions can be put to that global view over
its HTTP API (``POST /api/v1/query``) without touching the aggregator:

* :meth:`PromQLClient.drift` returns rows of the same shape as
  :meth:`aggregator.query_client.QueryClient.drift`;
* :meth:`PromQLClient.disparate_impact` returns the disparate impact
  (demographic parity ratio, fairlearn's definition) per jurisdiction, or
  merged over every silo a glob selects, computed in PromQL from the
  per-group confusion counts the agents export, summed across silos. It is
  therefore the figure the aggregator computes from summed counts, not an
  average of silo ratios.

What differs from the aggregator's answers, by construction:

* Prometheus holds the *latest* window of each silo and model version (the
  agent exports its newest report). A drift query with ``since_ms`` keeps
  the silos whose latest window ended at or after it, and never returns an
  older window; ``report_id`` is ``""`` because a report id is not a label
  (it is unbounded).
* Without ``model_version`` the rows cover every version still exported,
  one row per version (the aggregator picks the newest).

Series are first reduced to one per silo (``max by (silo, ...)``), so
duplicates from HA replicas or from a silo scraped twice are counted once
even when the querier does not deduplicate. Labels follow the contract in
deploy/README.md.

The pieces: the expressions (``_exprs``), the HTTP client of the query API
(``_api``), and the compliance queries joining its answers into rows (``_client``).
"""

from aggregator.promql._client import PromQLClient
from aggregator.promql._exprs import RESERVED_GROUP_RE as RESERVED_GROUP_RE
from aggregator.promql._exprs import (
    disparate_impact_expr,
    drift_expr,
    glob_to_regex,
    promql_string,
    selection_rate_expr,
)

__all__ = [
    "PromQLClient",
    "disparate_impact_expr",
    "drift_expr",
    "glob_to_regex",
    "promql_string",
    "selection_rate_expr",
]
