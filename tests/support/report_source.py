"""A report source (the query API a regime reads) built from real merged metrics.

The rows are the synthetic credit data with its race/ethnicity column (NYC LL144's
categories, two under 2%, some missing), folded per silo under a derived spec and
merged (:meth:`WindowStats.merge`) as the aggregator merges them; the metrics are
:func:`fedgov.metrics.compute_metrics` of the merged statistics. Tests compare a
report's tables with a pandas computation on the same rows (:attr:`FakeSource.rows`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from aggregator import answers as a
from fedgov.anchors import ReceivedHead
from fedgov.metrics import compute_metrics
from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats, derive_spec, encode_columns
from fedgov.synthetic import credit_data

SILOS = (("US-NY-1", "US-NY"), ("US-NY-2", "US-NY"), ("US-CA-1", "US-CA"))
DAY_MS = 86_400_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def silo_rows(rows: int = 4000, seed: int = 11) -> dict[str, dict[str, np.ndarray]]:
    """Each silo's rows (US-NY's with bias against women)."""
    out = {}
    for i, (silo, _) in enumerate(SILOS):
        bias = 0.15 if "NY" in silo else 0.0
        out[silo] = credit_data(rows, seed=seed + i, bias=bias, with_score=True, race=True)
    return out


def ll144_spec(rows: dict[str, np.ndarray], **kw: Any) -> MonitoringSpec:
    return derive_spec(
        rows,
        model_id="hiring",
        model_version="1.0.0",
        label="repaid",
        prediction="approved",
        sensitive=["sex", "race_ethnicity", "age_band"],
        intersections=[("sex", "race_ethnicity")],
        categorical=["purpose", "employment"],
        score="score",
        reference_rho=None,
        **kw,
    )


@dataclass
class FakeSource:
    """The ReportSource calls, answered from the silos' merged statistics."""

    spec: MonitoringSpec
    per_silo: dict[str, dict[str, np.ndarray]]
    source_text: str = "per-silo reports, unprotected (exact counts)"
    withheld: tuple[Any, ...] = ()
    metrics_patch: dict[str, Any] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    @property
    def rows(self) -> pd.DataFrame:
        """Every silo's rows, pooled (the oracle's input)."""
        return pd.concat([pd.DataFrame(c) for c in self.per_silo.values()], ignore_index=True)

    def merged(self) -> WindowStats:
        total = WindowStats.zero(self.spec)
        for cols in self.per_silo.values():
            total = total.merge(
                WindowStats.zero(self.spec).fold(self.spec, encode_columns(self.spec, cols))
            )
        return total

    def _rid(self, silo: str) -> str:
        return f"r-{silo}"

    def fairness(self, model_id: str, **_: Any) -> a.Fairness:
        self.calls.append("fairness")
        metrics = compute_metrics(self.spec, self.merged())
        for attr, groups in self.metrics_patch.items():
            for g, extra in groups.items():
                if g.startswith("_"):
                    metrics["fairness"][attr][g[1:]] = extra
                else:
                    metrics["fairness"][attr]["groups"][g].update(extra)
        fair = a.Fairness(
            model=model_id,
            version=self.spec.model_version,
            silos=tuple(sorted(self.per_silo)),
            jurisdictions=tuple(sorted({j for s, j in SILOS if s in self.per_silo})),
            rows=sum(len(c["sex"]) for c in self.per_silo.values()),
            reports=len(self.per_silo),
            metrics=metrics,
            source=self.source_text,
            spec_digest=self.spec.digest,
            report_ids=tuple(self._rid(s) for s in sorted(self.per_silo)),
            withheld=self.withheld,
        )
        return fair

    def history(self, model_id: str, metric: str, **_: Any) -> list[a.HistoryPoint]:
        return [
            a.HistoryPoint(
                silo,
                dict(SILOS)[silo],
                self.spec.model_version,
                T0 + i * DAY_MS,
                float(len(c["sex"])),
                self._rid(silo),
            )
            for i, (silo, c) in enumerate(sorted(self.per_silo.items()))
        ]

    def jobs(self, *, model_id: str = "") -> list[a.JobRow]:
        return []

    def models(self, *, model_id: str = "") -> list[a.ModelVersion]:
        return [
            a.ModelVersion(
                "hiring",
                self.spec.model_version,
                "production",
                T0,
                self.spec.digest,
                ("production",),
                {},
                0,
            )
        ]

    def central(self, *, model_id: str = "") -> list[a.CentralRow]:
        return []

    def decisions(self, **_: Any) -> list[a.DecisionRow]:
        return []

    def silos(self, **_: Any) -> list[a.SiloRow]:
        return [
            a.SiloRow(s, j, T0, T0 + DAY_MS, ("hiring/1.0.0",), f"sha256:bundle-{j}")
            for s, j in SILOS
            if s in self.per_silo
        ]

    def drift(self, psi_threshold: float, **_: Any) -> list[a.DriftRow]:
        return []

    def audit_heads(self, silo_id: str = "") -> list[ReceivedHead]:
        return [ReceivedHead(3, f"h-{silo_id}", self._rid(silo_id), T0)]


def fake_source(rows: int = 4000, **kw: Any) -> FakeSource:
    per_silo = silo_rows(rows)
    pooled = {
        k: np.concatenate([c[k] for c in per_silo.values()]) for k in next(iter(per_silo.values()))
    }
    return FakeSource(ll144_spec(pooled), per_silo, **kw)


def replace(src: FakeSource, **kw: Any) -> FakeSource:
    return dataclasses.replace(src, **kw)
