"""Each silo's outbox backlog, read from the agents' metrics in Prometheus.

The agent exports ``fedgov_agent_outbox_reports`` (a gauge labelled ``silo``
and ``jurisdiction``: reports waiting for an acknowledgement, see
:mod:`agent.exporter`). The dashboard asks Prometheus (or Thanos Query) for
its newest value per silo over the HTTP query API; duplicates from HA
replicas collapse with ``max by (silo)``.
"""

from __future__ import annotations

import math

from aggregator.promql import PromQLClient

__all__ = ["OUTBOX_GAUGE", "OutboxBacklog"]

OUTBOX_GAUGE = "fedgov_agent_outbox_reports"


class OutboxBacklog:
    """Reports waiting in each silo's outbox, from the Prometheus API at ``url``."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.api = PromQLClient(url, timeout=timeout)  # the URL is checked here

    def per_silo(self) -> dict[str, int]:
        """silo -> reports in its outbox (silos Prometheus does not scrape are absent).

        Raises :class:`~fedgov.errors.TransportError` or
        :class:`~fedgov.errors.QueryError` as :class:`~aggregator.promql.PromQLClient` does.
        """
        rows = self.api.query(f"max by (silo) ({OUTBOX_GAUGE})")
        return {
            r["labels"]["silo"]: int(r["value"])
            for r in rows
            if r["labels"].get("silo") and math.isfinite(r["value"])
        }
