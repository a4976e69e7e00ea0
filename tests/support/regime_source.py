"""A report source answering from real statistics, for the regime builders' tests.

Three silos (EU-DE drifted, EU-FR, US-NY biased against women), three daily
windows each, of :func:`fedgov.synthetic.credit_data` folded into
:class:`~fedgov.stats.WindowStats` under the credit spec; metrics by
:func:`fedgov.metrics.compute_metrics`, decisions by the shipped default bundle,
merged figures from the merged statistics. It answers the query API's calls
with the query API's own answer types, filtered as the aggregator filters them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aggregator import answers as a
from aggregator.merge import matches_glob
from fedgov.metrics import compute_metrics
from fedgov.policy import RegoEngine, default_bundle_path, load_bundle
from fedgov.stats import WindowStats
from fedgov.synthetic import credit_data
from support.specs import derive_credit_spec, stats_of

MODEL = "credit-risk"
DAY = 86_400_000
T0 = 1_735_689_600_000  # 2025-01-01T00:00Z
EU_BUNDLE = Path(__file__).resolve().parents[2] / "deploy" / "policies" / "eu"

#: silo -> (jurisdiction, drift per window, bias, seed)
SILOS = {
    "de-1": ("EU-DE", (0.0, 0.4, 0.8), 0.0, 11),
    "fr-1": ("EU-FR", (0.0, 0.0, 0.0), 0.0, 21),
    "ny-1": ("US-NY", (0.0, 0.0, 0.0), 0.25, 31),
}


@dataclass(frozen=True)
class Args:
    model: str = MODEL
    version: str | None = "1.0.0"
    regime: str = "eu-ai-act"
    jurisdictions: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    model_card: str | Path | None = None
    policies: tuple[Path, ...] = ()


@dataclass
class Window:
    silo: str
    jurisdiction: str
    end_ms: int
    stats: WindowStats
    metrics: dict[str, Any]
    report_id: str


@dataclass
class RegimeSource:
    windows: list[Window]
    calls: list[str] = field(default_factory=list)

    # -- the query API ---------------------------------------------------------------
    def silos(
        self, *, stale_after_ms: int = 0, jurisdiction_glob: str = "", silo_id: str = ""
    ) -> list[a.SiloRow]:
        eu = load_bundle(EU_BUNDLE).digest
        default = load_bundle(default_bundle_path()).digest
        return [
            a.SiloRow(s, j, T0, T0 + 10 * DAY, (f"{MODEL}/1.0.0",), eu if s == "de-1" else default)
            for s, (j, *_) in sorted(SILOS.items())
            if matches_glob(j, jurisdiction_glob) and (not silo_id or silo_id == s)
        ]

    def history(
        self,
        model_id: str,
        metric: str,
        *,
        feature: str = "",
        attribute: str = "",
        since_ms: int = 0,
        jurisdiction_glob: str = "",
        silo_id: str = "",
    ) -> list[a.HistoryPoint]:
        self.calls.append(f"history {metric} {feature or attribute}")
        if feature:
            path: tuple[str, ...] = ("drift", "features", feature, metric)
        elif attribute:
            path = ("fairness", attribute, metric)
        else:
            path = (metric,)
        out = []
        for w in self._windows(jurisdiction_glob, since_ms):
            value: Any = w.metrics
            for part in path:
                value = value.get(part) if isinstance(value, dict) else None
            out.append(
                a.HistoryPoint(w.silo, w.jurisdiction, "1.0.0", w.end_ms, value, w.report_id)
            )
        return out

    def fairness(
        self,
        model_id: str,
        *,
        model_version: str = "",
        jurisdiction_glob: str = "",
        since_ms: int = 0,
        source: str = "",
    ) -> a.Fairness:
        ws = self._windows(jurisdiction_glob, since_ms)
        stats = functools.reduce(lambda x, y: x.merge(y), (w.stats for w in ws))
        return a.Fairness(
            model=MODEL,
            version="1.0.0",
            silos=tuple(sorted({w.silo for w in ws})),
            jurisdictions=tuple(sorted({w.jurisdiction for w in ws})),
            rows=stats.rows,
            reports=len(ws),
            metrics=compute_metrics(_spec(), stats),
            source="per-silo reports, unprotected (exact counts)",
        )

    def decisions(self, *, jurisdiction_glob: str = "", silo_id: str = "") -> list[a.DecisionRow]:
        engine = _engine()
        out = []
        for w in self._windows(jurisdiction_glob, 0):
            dec = engine.evaluate(
                w.metrics
                | {
                    "model": {"id": MODEL, "version": "1.0.0"},
                    "silo": w.silo,
                    "jurisdiction": w.jurisdiction,
                }
            )
            out.append(
                a.DecisionRow(
                    w.silo,
                    w.jurisdiction,
                    MODEL,
                    "1.0.0",
                    dec.allow,
                    tuple(dec.deny),
                    tuple(dec.warn),
                    tuple(dec.actions),
                    w.end_ms,
                    w.report_id,
                )
            )
        return out

    def central(self, *, model_id: str = "") -> list[a.CentralRow]:
        return [
            a.CentralRow(
                MODEL,
                "1.0.0",
                "EU-*",
                ("de-1", "fr-1"),
                12_000,
                False,
                ("drift: feature income has PSI 0.41 > 0.2",),
                (),
                ("retrain",),
                T0 + 2 * DAY + 5,
                "per-silo reports",
            )
        ]

    def jobs(self, *, model_id: str = "") -> list[a.JobRow]:
        return [
            a.JobRow(
                "job-1",
                MODEL,
                "1.0.0",
                "promoted",
                "drift: feature income",
                T0 + DAY + 60,
                ("de-1", "fr-1", "ny-1"),
                ("de-1", "fr-1", "ny-1"),
                "",
                "1.0.1",
            ),
            a.JobRow(
                "job-0",
                MODEL,
                "1.0.0",
                "failed",
                "fairness: sex",
                T0 + DAY + 30,
                ("ny-1",),
                (),
                "no holdout",
                "",
            ),
        ]

    def models(self, *, model_id: str = "") -> list[a.ModelVersion]:
        lineage = {
            "job_id": "job-1",
            "parent_version": "1.0.0",
            "flower_run_id": 4242,
            "silos": ["de-1", "fr-1", "ny-1"],
            "rounds": 3,
            "reweigh_attribute": "sex",
            "trigger": "drift: feature income",
        }
        return [
            a.ModelVersion(
                MODEL,
                "1.0.1",
                "promoted",
                T0 + DAY + 900,
                _spec().digest,
                ("production",),
                lineage,
                100,
            ),
            a.ModelVersion(MODEL, "1.0.0", "retired", T0 - DAY, _spec().digest, (), {}, 100),
        ]

    def _windows(self, glob: str, since_ms: int) -> list[Window]:
        return [
            w for w in self.windows if matches_glob(w.jurisdiction, glob) and w.end_ms >= since_ms
        ]


@functools.cache
def _spec() -> Any:
    return derive_credit_spec(with_score=True, score="score")


@functools.cache
def _engine() -> RegoEngine:
    return RegoEngine.from_bundle(default_bundle_path())


@functools.cache
def _windows() -> tuple[Window, ...]:
    spec = _spec()
    out = []
    for silo, (jur, drifts, bias, seed) in sorted(SILOS.items()):
        for i, drift in enumerate(drifts):
            cols = credit_data(1500, seed=seed + i, drift=drift, bias=bias, with_score=True)
            stats = stats_of(spec, cols)
            out.append(
                Window(
                    silo,
                    jur,
                    T0 + i * DAY + 1000 * seed,
                    stats,
                    compute_metrics(spec, stats),
                    f"r-{silo}-{i}",
                )
            )
    return tuple(sorted(out, key=lambda w: (w.end_ms, w.silo)))


def regime_source() -> RegimeSource:
    """A fresh source over the (cached) windows."""
    return RegimeSource(list(_windows()))
