"""Prometheus metrics of the aggregator itself: ingest rate, rejects, latency.

Registered on an injected registry; label values come from bounded sets
(result, RPC method, silo).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["AggregatorMetrics"]


class AggregatorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
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
            "Calls refused because the certificate named another silo",
            registry=registry,
        )
        self.last_report = Gauge(
            "fedgov_aggregator_silo_last_report_timestamp_seconds",
            "When each silo's last accepted report arrived",
            ["silo"],
            registry=registry,
        )
        self.open_streams = Gauge(
            "fedgov_aggregator_command_streams", "Open command streams", registry=registry
        )
