"""Prometheus metrics of the aggregator: its own traffic, and the state in its store.

:class:`AggregatorMetrics` holds what the servicer updates (reports by
result, ingest latency, refused identities, command streams). Given a store
(``AggregatorMetrics(registry, store=store)`` or :meth:`~AggregatorMetrics.watch_store`),
it also registers a custom collector that reads, at scrape time: when each
silo was last seen, retraining jobs by state, retraining commands by status,
and the latest central decision of every jurisdiction group.

Everything is registered on an injected registry. Label values come from
bounded sets: ``result`` (accepted, duplicate, rejected), ``silo`` and
``jurisdiction`` (registered silos), ``model``, ``version``, ``state`` (job
states), ``status`` (pending, accepted, rejected) and ``jurisdiction_group``
(the central gate's configured globs).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter as Tally
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fedgov.errors import ConfigError

if TYPE_CHECKING:
    from aggregator.store import Store

__all__ = ["AggregatorMetrics", "StoreCollector", "serve_metrics"]

log = logging.getLogger(__name__)


class StoreCollector(Collector):
    """Reads the store when scraped. A store error costs that scrape these
    families, never the whole scrape; it is counted in
    ``fedgov_aggregator_store_collect_failures_total`` (seen from the next scrape on)."""

    def __init__(self, store: Store, failures: Counter | None = None) -> None:
        self._store = store
        self._failures = failures
        self._lock = threading.Lock()  # one scrape at a time reads the store

    def describe(self) -> Iterator[Metric]:
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        families = self._families()
        try:
            with self._lock:
                self._fill(*families)
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail because of the store
            log.warning("metrics: reading the store failed, its metrics are left out: %r", exc)
            if self._failures is not None:
                self._failures.inc()
            return iter(())
        return iter(families)

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, ...]:
        mv = ["model", "version"]
        group = [*mv, "jurisdiction_group"]
        return (
            GaugeMetricFamily(
                "fedgov_aggregator_silo_last_seen_timestamp_seconds",
                "When the aggregator last heard from a silo (registration or report; Unix time)",
                labels=["silo", "jurisdiction"],
            ),
            GaugeMetricFamily(
                "fedgov_aggregator_stored_reports", "Reports held in the store", labels=[]
            ),
            GaugeMetricFamily(
                "fedgov_aggregator_retrain_jobs",
                "Retraining jobs by state (dispatched, training, evaluating, promoted, ...)",
                labels=[*mv, "state"],
            ),
            GaugeMetricFamily(
                "fedgov_aggregator_retrain_commands",
                "Retraining commands sent to silos, by acknowledgement status",
                labels=[*mv, "status"],
            ),
            GaugeMetricFamily(
                "fedgov_aggregator_central_decision_allow",
                "1 if the latest central decision over a jurisdiction group's merged metrics "
                "allows, else 0",
                labels=group,
            ),
            GaugeMetricFamily(
                "fedgov_aggregator_central_decision_deny_reasons",
                "Deny reasons (violations) in the latest central decision of a jurisdiction group",
                labels=group,
            ),
            GaugeMetricFamily(
                "fedgov_aggregator_central_decision_silos",
                "Silos merged into the latest central decision of a jurisdiction group",
                labels=group,
            ),
            GaugeMetricFamily(
                "fedgov_aggregator_central_decision_secure",
                "1 if the latest central decision of a jurisdiction group judged an exact "
                "secure sum, 0 if the merged (noised) per-silo reports",
                labels=group,
            ),
            GaugeMetricFamily(
                "fedgov_aggregator_secure_rounds",
                "Secure aggregation rounds by status (open, completed, failed)",
                labels=["model", "status"],
            ),
        )

    def _fill(
        self,
        seen: GaugeMetricFamily,
        stored: GaugeMetricFamily,
        jobs: GaugeMetricFamily,
        commands: GaugeMetricFamily,
        allow: GaugeMetricFamily,
        deny: GaugeMetricFamily,
        silos: GaugeMetricFamily,
        secure: GaugeMetricFamily,
        rounds: GaugeMetricFamily,
    ) -> None:
        store = self._store
        for s in store.list_silos():
            seen.add_metric([s.silo_id, s.jurisdiction], s.last_seen_ms / 1000.0)
        stored.add_metric([], store.count_reports())
        states: Tally[tuple[str, str, str]] = Tally()
        statuses: Tally[tuple[str, str, str]] = Tally()
        for job in store.list_jobs():
            states[(job.model_id, job.model_version, job.state)] += 1
            for c in job.commands:
                statuses[(job.model_id, job.model_version, c.status)] += 1
        for labels, n in sorted(states.items()):
            jobs.add_metric(list(labels), n)
        for labels, n in sorted(statuses.items()):
            commands.add_metric(list(labels), n)
        for d in store.latest_central_decisions():
            lab = [d.model_id, d.model_version, d.jurisdiction_group]
            allow.add_metric(lab, 1.0 if d.decision.allow else 0.0)
            deny.add_metric(lab, len(d.decision.deny))
            silos.add_metric(lab, len(d.silos))
            secure.add_metric(lab, 1.0 if d.source else 0.0)
        by_status: Tally[tuple[str, str]] = Tally()
        for r in store.list_rounds():
            by_status[(r.model_id, r.status)] += 1
        for labels, n in sorted(by_status.items()):
            rounds.add_metric(list(labels), n)


class AggregatorMetrics:
    def __init__(self, registry: CollectorRegistry, *, store: Store | None = None) -> None:
        self.registry = registry
        self.reports = Counter(
            "fedgov_aggregator_reports",
            "Reports received, by result (accepted, duplicate, rejected)",
            ["result"],
            registry=registry,
        )
        self.ingest_seconds = Histogram(
            "fedgov_aggregator_ingest_duration_seconds",
            "Time from receiving a report to its acknowledgement (after the commit)",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=registry,
        )
        self.denied = Counter(
            "fedgov_aggregator_identity_denied",
            "Calls refused under mTLS: the certificate grants no role for the RPC, names "
            "another silo, or another jurisdiction than the request",
            registry=registry,
        )
        self.last_report = Gauge(
            "fedgov_aggregator_silo_last_report_timestamp_seconds",
            "When each silo's last accepted report arrived at this process (Unix time)",
            ["silo"],
            registry=registry,
        )
        self.open_streams = Gauge(
            "fedgov_aggregator_command_streams", "Open command streams", registry=registry
        )
        self.store_failures = Counter(
            "fedgov_aggregator_store_collect_failures",
            "Scrapes whose store-backed metrics were left out because the store failed",
            registry=registry,
        )
        self._store_collector: StoreCollector | None = None
        if store is not None:
            self.watch_store(store)

    def watch_store(self, store: Store) -> None:
        """Export the store's state (silos, jobs, central decisions) on every scrape."""
        if self._store_collector is not None:
            raise ValueError("AggregatorMetrics already watches a store")
        self._store_collector = StoreCollector(store, self.store_failures)
        self.registry.register(self._store_collector)


def serve_metrics(registry: CollectorRegistry, port: int, address: str = "127.0.0.1") -> int:
    """Serve ``registry`` as /metrics on ``address``:``port`` (a thread); the bound port.

    The default address is loopback, like the agent's: a Prometheus on another host
    or pod needs ``0.0.0.0`` (``--metrics-address``) said out loud.
    """
    try:
        server, _thread = start_http_server(port, addr=address, registry=registry)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"--metrics-address {address} --metrics-port {port}: cannot serve /metrics there "
            f"({getattr(exc, 'strerror', None) or exc}); pick a free port and a local address"
        ) from None
    return int(server.server_port)
