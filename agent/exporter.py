"""Prometheus exposition of the agent's latest statistics.

A custom Collector reads the newest report of each model version when
scraped; counters track the agent's own work. Everything lives on an
injected registry; label values come from bounded sets (silo, model,
version, feature, attribute, group).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from fedgov.report import Report

__all__ = ["AgentMetrics"]

_FAIRNESS = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
)
_GROUP = ("selection_rate", "tpr", "fpr")


class _LatestReports(Collector):
    def __init__(self, silo: str, jurisdiction: str) -> None:
        self._silo = silo
        self._jurisdiction = jurisdiction
        self._lock = threading.Lock()
        self._latest: dict[tuple[str, str], Report] = {}

    def update(self, report: Report) -> None:
        with self._lock:
            self._latest[(report.model_id, report.model_version)] = report

    def collect(self) -> Iterator[GaugeMetricFamily]:
        base = ["silo", "jurisdiction", "model", "version"]
        psi = GaugeMetricFamily(
            "fedgov_agent_feature_psi", "Population stability index of a feature vs the reference",
            labels=[*base, "feature"],
        )
        rows = GaugeMetricFamily("fedgov_agent_window_rows", "Rows in the latest window", labels=base)
        allow = GaugeMetricFamily(
            "fedgov_agent_policy_allow", "1 if the latest local decision allows, else 0", labels=base
        )
        fair = {
            name: GaugeMetricFamily(
                f"fedgov_agent_fairness_{name}", f"Between-group {name.replace('_', ' ')}",
                labels=[*base, "attribute"],
            )
            for name in _FAIRNESS
        }
        group = {
            name: GaugeMetricFamily(
                f"fedgov_agent_group_{name}", f"Per-group {name}", labels=[*base, "attribute", "group"]
            )
            for name in _GROUP
        }
        with self._lock:
            reports = list(self._latest.values())
        for r in reports:
            lab = [self._silo, self._jurisdiction, r.model_id, r.model_version]
            rows.add_metric(lab, r.stats.rows)
            allow.add_metric(lab, 1.0 if r.decision.allow else 0.0)
            for feat, m in ((r.metrics.get("drift") or {}).get("features") or {}).items():
                if m.get("psi") is not None:
                    psi.add_metric([*lab, feat], m["psi"])
            for attr, m in (r.metrics.get("fairness") or {}).items():
                for name in _FAIRNESS:
                    if m.get(name) is not None:
                        fair[name].add_metric([*lab, attr], m[name])
                for g, gm in (m.get("groups") or {}).items():
                    for name in _GROUP:
                        if gm.get(name) is not None:
                            group[name].add_metric([*lab, attr, g], gm[name])
        yield rows
        yield allow
        yield psi
        yield from fair.values()
        yield from group.values()


class AgentMetrics:
    def __init__(self, silo: str, jurisdiction: str, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.latest = _LatestReports(silo, jurisdiction)
        registry.register(self.latest)
        self.reports_sent = Counter(
            "fedgov_agent_reports_sent", "Reports acknowledged by the aggregator", registry=registry
        )
        self.reports_failed = Counter(
            "fedgov_agent_report_failures", "Report submissions that failed", registry=registry
        )
        self.commands = Counter(
            "fedgov_agent_commands_received", "Commands received from the aggregator",
            ["kind"], registry=registry,
        )
        self.outbox = Gauge(
            "fedgov_agent_outbox_reports", "Reports waiting in the outbox", registry=registry
        )
