"""Prometheus exposition of the agent's latest statistics and of its own work.

A custom :class:`~prometheus_client.registry.Collector` reads the newest
report of each model version when scraped: drift per feature, fairness per
attribute and group (rates *and* the confusion counts behind them, so that
PromQL can merge silos exactly), the local policy decision, and cumulative
decision and violation counts. Ordinary counters, gauges and histograms
track reports, the outbox and command traffic. Everything lives on an
injected registry.

Label contract (deploy/README.md has the whole of it): every series carries
``silo`` and ``jurisdiction`` from the agent's config, so that series from
many sites stay apart in a global view and can be grouped by jurisdiction.
Other label values come from bounded sets: ``model``, ``version``,
``feature``, ``attribute``, ``group`` (declared in the monitoring spec, plus
``__other__``/``__missing__``), ``outcome`` (tn, fp, fn, tp), ``result``
(allow, deny), ``action`` (retrain, block, other), ``kind`` (command
kinds) and, for secure-aggregation rounds, ``outcome`` (completed, failed,
rejected). No report id, file name or row value is ever a label.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fedgov.report import Report

__all__ = ["AgentMetrics", "KNOWN_ACTIONS", "OUTCOME_CELLS"]

#: Policy actions exported by name; any other action is counted as ``other``.
KNOWN_ACTIONS = ("retrain", "block")
#: ``outcome`` label values, in the order of ``OutcomeCounts.counts[g].reshape(4)``.
OUTCOME_CELLS = ("tn", "fp", "fn", "tp")

_M = TypeVar("_M", Counter, Gauge, Histogram)

_BASE = ("silo", "jurisdiction", "model", "version")

# report metric key -> (metric name, HELP)
_FEATURE = {
    "psi": (
        "fedgov_agent_feature_psi",
        "Population stability index of a feature in the latest window against the reference",
    ),
    "psi_pvalue": (
        "fedgov_agent_feature_psi_pvalue",
        "p-value of the PSI under no drift (small means the drift is significant)",
    ),
    "jensen_shannon": (
        "fedgov_agent_feature_jensen_shannon",
        "Jensen-Shannon distance (base 2) of a feature against the reference",
    ),
    "ks": (
        "fedgov_agent_feature_ks",
        "Kolmogorov-Smirnov statistic of a numeric feature from binned counts",
    ),
    "missing_rate": (
        "fedgov_agent_feature_missing_ratio",
        "Share of rows in the latest window where the feature is missing",
    ),
}
_FAIRNESS = {
    "demographic_parity_difference": "Largest minus smallest selection rate across groups",
    "demographic_parity_ratio": (
        "Smallest over largest selection rate across groups (disparate impact; "
        "the four-fifths rule asks for >= 0.8)"
    ),
    "equalized_odds_difference": "Larger of the TPR and FPR differences across groups",
    "equalized_odds_ratio": "Smaller of the TPR and FPR ratios across groups",
    "equal_opportunity_difference": "Largest minus smallest true positive rate across groups",
    "auc_difference": (
        "Largest minus smallest ROC AUC across groups, from score histograms "
        "(only with a score column)"
    ),
    "max_calibration_error": (
        "Largest expected calibration error across groups, from score histograms "
        "(only with a score column)"
    ),
}
_GROUP = {
    "selection_rate": "Share of the group's rows predicted positive",
    "tpr": "True positive rate of the group",
    "fpr": "False positive rate of the group",
    "accuracy": "Accuracy of the group's predictions",
    "auc": "ROC AUC of the group's scores, from its score histogram (ties in a bin count 1/2)",
    "calibration_error": (
        "Expected calibration error of the group's scores, read at bin midpoints"
    ),
}

# Report and submission latencies: from milliseconds (a small CSV) to minutes
# (a large Parquet window, or an aggregator that needs retries).
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class _LatestReports(Collector):
    """Gauges from the newest report of each (model, version); counters of decisions."""

    def __init__(self, silo: str, jurisdiction: str) -> None:
        self._silo = silo
        self._jurisdiction = jurisdiction
        self._lock = threading.Lock()
        self._latest: dict[tuple[str, str], Report] = {}
        self._decisions: dict[tuple[str, str, str], int] = {}
        self._violations: dict[tuple[str, str], int] = {}

    def update(self, report: Report) -> None:
        key = (report.model_id, report.model_version)
        result = "allow" if report.decision.allow else "deny"
        with self._lock:
            self._latest[key] = report
            counted = (report.model_id, report.model_version, result)
            self._decisions[counted] = self._decisions.get(counted, 0) + 1
            self._violations[key] = self._violations.get(key, 0) + len(report.decision.deny)

    def describe(self) -> Iterator[Metric]:
        # Names only, so that registering does not collect (and registering
        # twice on one registry fails loudly instead of duplicating series).
        return self._families(with_samples=False)

    def collect(self) -> Iterator[Metric]:
        return self._families(with_samples=True)

    def _families(self, *, with_samples: bool) -> Iterator[Metric]:
        base = list(_BASE)
        rows = GaugeMetricFamily(
            "fedgov_agent_window_rows", "Rows in the latest window of a model version", labels=base
        )
        window_end = GaugeMetricFamily(
            "fedgov_agent_window_end_timestamp_seconds",
            "End of the latest reported window (Unix time)",
            labels=base,
        )
        feature = {
            key: GaugeMetricFamily(name, text, labels=[*base, "feature"])
            for key, (name, text) in _FEATURE.items()
        }
        fair = {
            key: GaugeMetricFamily(
                f"fedgov_agent_fairness_{key}", text, labels=[*base, "attribute"]
            )
            for key, text in _FAIRNESS.items()
        }
        group = {
            key: GaugeMetricFamily(
                f"fedgov_agent_group_{key}", text, labels=[*base, "attribute", "group"]
            )
            for key, text in _GROUP.items()
        }
        outcome_rows = GaugeMetricFamily(
            "fedgov_agent_group_outcome_rows",
            "Rows of a group by outcome cell (tn, fp, fn, tp) in the latest window, as sent to "
            "the aggregator (after the privacy guard: noised, or suppressed if configured)",
            labels=[*base, "attribute", "group", "outcome"],
        )
        allow = GaugeMetricFamily(
            "fedgov_agent_policy_allow",
            "1 if the latest local decision allows, else 0",
            labels=base,
        )
        deny = GaugeMetricFamily(
            "fedgov_agent_policy_deny_reasons",
            "Deny reasons (policy violations) in the latest local decision",
            labels=base,
        )
        warn = GaugeMetricFamily(
            "fedgov_agent_policy_warnings", "Warnings in the latest local decision", labels=base
        )
        action = GaugeMetricFamily(
            "fedgov_agent_policy_action_requested",
            "1 if the latest local decision requests the action (retrain, block, other)",
            labels=[*base, "action"],
        )
        decisions = CounterMetricFamily(
            "fedgov_agent_policy_decisions",
            "Local policy decisions since the agent started, by result (allow, deny)",
            labels=[*base, "result"],
        )
        violations = CounterMetricFamily(
            "fedgov_agent_policy_violations",
            "Deny reasons (policy violations) since the agent started",
            labels=base,
        )
        if with_samples:
            with self._lock:
                reports = list(self._latest.values())
                decided = dict(self._decisions)
                violated = dict(self._violations)
            for r in reports:
                lab = [self._silo, self._jurisdiction, r.model_id, r.model_version]
                rows.add_metric(lab, r.stats.rows)
                window_end.add_metric(lab, r.window_end_ms / 1000.0)
                _add_drift(feature, lab, r.metrics)
                _add_fairness(fair, group, lab, r.metrics)
                for attr, oc in r.stats.outcomes.items():
                    cells = np.asarray(oc.counts, dtype=np.int64).reshape(len(oc.groups), 4)
                    for g, row in zip(oc.groups, cells, strict=True):
                        for cell, value in zip(OUTCOME_CELLS, row, strict=True):
                            outcome_rows.add_metric([*lab, attr, g, cell], int(value))
                d = r.decision
                allow.add_metric(lab, 1.0 if d.allow else 0.0)
                deny.add_metric(lab, len(d.deny))
                warn.add_metric(lab, len(d.warn))
                for name, value in _actions(d.actions).items():
                    action.add_metric([*lab, name], value)
            for (model, version, result), n in sorted(decided.items()):
                decisions.add_metric([self._silo, self._jurisdiction, model, version, result], n)
            for (model, version), n in sorted(violated.items()):
                violations.add_metric([self._silo, self._jurisdiction, model, version], n)
        yield rows
        yield window_end
        yield from feature.values()
        yield from fair.values()
        yield from group.values()
        yield outcome_rows
        yield allow
        yield deny
        yield warn
        yield action
        yield decisions
        yield violations


def _add_drift(
    families: dict[str, GaugeMetricFamily], lab: list[str], metrics: dict[str, Any]
) -> None:
    for feat, m in ((metrics.get("drift") or {}).get("features") or {}).items():
        for key, family in families.items():
            value = m.get(key)
            if value is not None:
                family.add_metric([*lab, feat], float(value))


def _add_fairness(
    fair: dict[str, GaugeMetricFamily],
    group: dict[str, GaugeMetricFamily],
    lab: list[str],
    metrics: dict[str, Any],
) -> None:
    for attr, m in (metrics.get("fairness") or {}).items():
        for key, family in fair.items():
            if m.get(key) is not None:
                family.add_metric([*lab, attr], float(m[key]))
        for g, gm in (m.get("groups") or {}).items():
            for key, family in group.items():
                if gm.get(key) is not None:
                    family.add_metric([*lab, attr, g], float(gm[key]))


def _actions(requested: Sequence[str]) -> dict[str, float]:
    """Every known action with 0 or 1, plus ``other`` when something else was asked."""
    out = {name: 1.0 if name in requested else 0.0 for name in KNOWN_ACTIONS}
    if any(a not in KNOWN_ACTIONS for a in requested):
        out["other"] = 1.0
    return out


class _Bound:
    """A labelled metric with ``silo`` and ``jurisdiction`` already filled in.

    ``.labels(kind)`` fills the remaining labels; without further labels the
    object behaves as the child itself (``inc``, ``dec``, ``set``, ``observe``).
    """

    def __init__(self, parent: Any, silo: str, jurisdiction: str) -> None:
        self._parent = parent
        self._prefix = (silo, jurisdiction)

    def labels(self, *values: str) -> Any:
        return self._parent.labels(*self._prefix, *values)


class AgentMetrics:
    """All of an agent's metrics, registered on ``registry``.

    Attributes the runner drives: ``latest.update(report)`` for every new
    report; ``reports_sent``, ``reports_failed``, ``privacy_refused`` (``inc``); ``outbox``,
    ``privacy_budget_remaining`` (``set``/``dec``); ``commands.labels(kind).inc()``;
    ``secure_rounds.labels(outcome).inc()``; and the histograms
    ``report_seconds`` (read a window, count, decide) and ``submit_seconds``
    (send one report until acknowledged), used as ``with m.report_seconds.time():``.
    """

    def __init__(self, silo: str, jurisdiction: str, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.latest = _LatestReports(silo, jurisdiction)
        registry.register(self.latest)
        ids = ["silo", "jurisdiction"]

        def ours(cls: type[_M], name: str, documentation: str, **kw: Any) -> _M:
            """``cls`` on ``registry`` with this agent's silo and jurisdiction filled in."""
            return cls(name, documentation, ids, registry=registry, **kw).labels(silo, jurisdiction)

        self.reports_sent = ours(
            Counter, "fedgov_agent_reports_sent", "Reports acknowledged by the aggregator"
        )
        self.reports_failed = ours(
            Counter,
            "fedgov_agent_report_failures",
            "Report submissions that failed (the report stays in the outbox)",
        )
        self.commands = _Bound(
            Counter(
                "fedgov_agent_commands_received",
                "Commands received from the aggregator, by kind",
                [*ids, "kind"],
                registry=registry,
            ),
            silo,
            jurisdiction,
        )
        self.secure_rounds = _Bound(
            Counter(
                "fedgov_agent_secure_rounds",
                "Secure-aggregation rounds this silo was asked to take part in, by outcome "
                "(completed, failed, rejected)",
                [*ids, "outcome"],
                registry=registry,
            ),
            silo,
            jurisdiction,
        )
        self.outbox = ours(
            Gauge,
            "fedgov_agent_outbox_reports",
            "Reports waiting in the outbox for an acknowledgement",
        )
        self.privacy_budget_remaining = ours(
            Gauge,
            "fedgov_agent_privacy_budget_remaining",
            "zCDP rho this silo may still spend on reports in the clear (privacy.budget "
            "minus every window charged so far)",
        )
        self.privacy_refused = ours(
            Counter,
            "fedgov_agent_privacy_refused_windows",
            "Windows whose counts were not sent because they would pass privacy.budget",
        )
        self.report_seconds = ours(
            Histogram,
            "fedgov_agent_report_build_duration_seconds",
            "Time to read one window, count its statistics and evaluate the local policy",
            buckets=_LATENCY_BUCKETS,
        )
        self.submit_seconds = ours(
            Histogram,
            "fedgov_agent_report_submit_duration_seconds",
            "Time from sending a report to its acknowledgement, retries included",
            buckets=_LATENCY_BUCKETS,
        )
