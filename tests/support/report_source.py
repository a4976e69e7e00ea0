"""A report source (the query API a regime reads) answering from real merged statistics.

Three silos (EU-DE drifting from its second window on, EU-FR, US-NY biased against
women) report ``windows`` daily windows of version 1.0.0 of
:func:`fedgov.synthetic.credit_data` with race/ethnicity (NYC LL144's categories,
two under 2%, some missing) and a score, folded into
:class:`~fedgov.stats.WindowStats` under one spec; then a retraining job promotes
1.0.1 (trained reweighing sex) and each silo reports one window of it, without the
bias. Metrics are :func:`fedgov.metrics.compute_metrics` of the (merged) statistics,
decisions the shipped default bundle's. It answers with the query API's own answer
types, filtered as the aggregator filters them: the newest reported version unless one
is named, each silo's newest window unless ``since`` is given, jurisdiction globs,
each silo's latest decision only. Tests compare a report's tables with a pandas
computation over the same rows (:meth:`FakeSource.rows`).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aggregator import answers as a
from aggregator.merge import matches_glob
from aggregator.reports.source import ReportArgs
from fedgov.anchors import ReceivedHead
from fedgov.errors import QueryError
from fedgov.metrics import compute_metrics
from fedgov.policy import RegoEngine, default_bundle_path, load_bundle
from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats, derive_spec, encode_columns
from fedgov.synthetic import credit_data

MODEL = "credit-risk"
DAY = 86_400_000
T0 = 1_735_689_600_000  # 2025-01-01T00:00Z
EU_BUNDLE = Path(__file__).resolve().parents[2] / "deploy" / "policies" / "eu"
#: silo -> (jurisdiction, drift of windows 1, 2, ..., bias, seed)
SILOS = {
    "de-1": ("EU-DE", 0.4, 0.0, 11),
    "fr-1": ("EU-FR", 0.0, 0.0, 21),
    "ny-1": ("US-NY", 0.0, 0.25, 31),
}
_DISTINCT = 4  # windows cycle over this many samples (many windows stay cheap)


def ll144_spec(rows: dict[str, np.ndarray], version: str = "1.0.0", **kw: Any) -> MonitoringSpec:
    """The spec of the credit data with race: sex, race/ethnicity, age band, their
    intersections with sex, a score (``model_id`` defaults to credit-risk)."""
    return derive_spec(
        rows,
        **(
            {
                "model_id": MODEL,
                "model_version": version,
                "label": "repaid",
                "prediction": "approved",
                "sensitive": ["sex", "race_ethnicity", "age_band"],
                "intersections": [("sex", "race_ethnicity"), ("sex", "age_band")],
                "categorical": ["purpose", "employment"],
                "score": "score",
                "reference_rho": None,
            }
            | kw
        ),
    )


@functools.cache
def _reference() -> dict[str, np.ndarray]:
    return credit_data(3000, seed=1, with_score=True, race=True)


@functools.cache
def spec_of(version: str) -> MonitoringSpec:
    return ll144_spec(_reference(), version)


@functools.cache
def _sample(rows: int, seed: int, drift: float, bias: float) -> dict[str, np.ndarray]:
    return credit_data(rows, seed=seed, drift=drift, bias=bias, with_score=True, race=True)


@functools.cache
def _folded(version: str, rows: int, seed: int, drift: float, bias: float) -> WindowStats:
    spec = spec_of(version)
    cols = _sample(rows, seed, drift, bias)
    return WindowStats.zero(spec).fold(spec, encode_columns(spec, cols))


@functools.cache
def _metrics(version: str, rows: int, seed: int, drift: float, bias: float) -> dict[str, Any]:
    return compute_metrics(spec_of(version), _folded(version, rows, seed, drift, bias))


@dataclass(frozen=True)
class Window:
    silo: str
    jurisdiction: str
    version: str
    end_ms: int
    sample: tuple[int, int, float, float]  # rows, seed, drift, bias
    report_id: str

    @property
    def stats(self) -> WindowStats:
        return _folded(self.version, *self.sample)

    @property
    def metrics(self) -> dict[str, Any]:
        return _metrics(self.version, *self.sample)

    @property
    def columns(self) -> dict[str, np.ndarray]:
        return _sample(*self.sample)


def make_windows(windows: int = 3, rows: int = 1500, *, promoted: bool = True) -> list[Window]:
    """Each silo's ``windows`` daily windows of 1.0.0, then (``promoted``) one of 1.0.1."""
    out = []
    for silo, (jur, drift, bias, seed) in sorted(SILOS.items()):
        for i in range(windows):
            sample = (rows, seed + i % _DISTINCT, drift if i else 0.0, bias)
            end = T0 + i * DAY + 1000 * seed
            out.append(Window(silo, jur, "1.0.0", end, sample, f"r-{silo}-{i}"))
        if promoted:
            end = T0 + (windows + 1) * DAY + 1000 * seed
            sample = (rows, seed + 100, 0.0, 0.0)
            out.append(Window(silo, jur, "1.0.1", end, sample, f"r-{silo}-fix"))
    return sorted(out, key=lambda w: (w.end_ms, w.silo))


@dataclass
class FakeSource:
    """The ReportSource calls, answered from the windows' statistics."""

    windows: list[Window]
    source_text: str = "per-silo reports, unprotected (exact counts)"
    withheld: tuple[dict[str, Any], ...] = ()
    calls: list[str] = field(default_factory=list)

    @property
    def first_windows(self) -> int:
        return sum(1 for w in self.windows if w.version == "1.0.0") // len(SILOS)

    @property
    def job_ms(self) -> int:
        return T0 + self.first_windows * DAY + 60

    def merged_windows(self, version: str = "", glob: str = "", since_ms: int = 0) -> list[Window]:
        kept = [w for w in self.windows if matches_glob(w.jurisdiction, glob)]
        if not kept:
            raise QueryError(f"no reports for model {MODEL!r} in jurisdictions {glob!r}")
        version = version or max(kept, key=lambda w: w.end_ms).version
        kept = [w for w in kept if w.version == version]
        if since_ms:
            return [w for w in kept if w.end_ms >= since_ms]
        newest: dict[str, Window] = {}
        for w in kept:
            if w.silo not in newest or w.end_ms > newest[w.silo].end_ms:
                newest[w.silo] = w
        return sorted(newest.values(), key=lambda w: w.silo)

    def rows(self, version: str = "", glob: str = "") -> pd.DataFrame:
        """The pooled rows of the windows :meth:`fairness` merges (the oracle's input)."""
        ws = self.merged_windows(version, glob)
        return pd.concat([pd.DataFrame(w.columns) for w in ws], ignore_index=True)

    # -- the query API ---------------------------------------------------------------
    def fairness(
        self,
        model_id: str,
        *,
        model_version: str = "",
        jurisdiction_glob: str = "",
        since_ms: int = 0,
        source: str = "",
    ) -> a.Fairness:
        self.calls.append(f"fairness {model_version} {jurisdiction_glob}")
        ws = self.merged_windows(model_version, jurisdiction_glob, since_ms)
        if not ws:
            raise QueryError(f"no reports for model {model_id!r} since {since_ms}")
        version = ws[0].version
        stats = functools.reduce(lambda x, y: x.merge(y), (w.stats for w in ws))
        return a.Fairness(
            model=model_id,
            version=version,
            silos=tuple(sorted({w.silo for w in ws})),
            jurisdictions=tuple(sorted({w.jurisdiction for w in ws})),
            rows=stats.rows,
            reports=len(ws),
            metrics=compute_metrics(spec_of(version), stats),
            source=self.source_text,
            spec_digest=spec_of(version).digest,
            report_ids=tuple(sorted(w.report_id for w in ws)),
            withheld=self.withheld,
        )

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
        for w in self.windows:
            if not matches_glob(w.jurisdiction, jurisdiction_glob) or w.end_ms < since_ms:
                continue
            if silo_id and w.silo != silo_id:
                continue
            value: Any = w.metrics
            for part in path:
                value = value.get(part) if isinstance(value, dict) else None
            number = float(value) if isinstance(value, (int, float)) else None
            out.append(
                a.HistoryPoint(w.silo, w.jurisdiction, w.version, w.end_ms, number, w.report_id)
            )
        if out and all(p.value is None for p in out):
            raise QueryError(f"metric {metric!r} is in none of the {len(out)} report(s)")
        return out

    def decisions(self, *, jurisdiction_glob: str = "", silo_id: str = "") -> list[a.DecisionRow]:
        """Each silo's latest decision per version (as the query API keeps them)."""
        latest: dict[tuple[str, str], Window] = {}
        for w in self.windows:
            if matches_glob(w.jurisdiction, jurisdiction_glob) and (
                not silo_id or w.silo == silo_id
            ):
                latest[(w.silo, w.version)] = w
        return [_decision(w) for _, w in sorted(latest.items())]

    # fmt: off
    def central(self, *, model_id: str = "") -> list[a.CentralRow]:
        return [a.CentralRow(
            MODEL, "1.0.0", "EU-*", ("de-1", "fr-1"), 12_000, False,
            ("drift: feature income has PSI 0.41 > 0.2",), (), ("retrain",), T0 + 2 * DAY + 5,
            "per-silo reports",
        )]

    def jobs(self, *, model_id: str = "") -> list[a.JobRow]:
        every = ("de-1", "fr-1", "ny-1")
        return [
            a.JobRow("job-1", MODEL, "1.0.0", "promoted", "fairness: sex", self.job_ms,
                     every, every, "", "1.0.1"),
            a.JobRow("job-0", MODEL, "1.0.0", "failed", "drift: feature income",
                     self.job_ms - 30, ("ny-1",), (), "no holdout", ""),
        ]

    def models(self, *, model_id: str = "") -> list[a.ModelVersion]:
        lineage = {
            "job_id": "job-1", "parent_version": "1.0.0", "flower_run_id": 4242,
            "silos": ["de-1", "fr-1", "ny-1"], "rounds": 3, "reweigh_attribute": "sex",
            "trigger": "fairness: sex",
        }
        promoted = any(w.version == "1.0.1" for w in self.windows)
        fix = a.ModelVersion(MODEL, "1.0.1", "promoted", self.job_ms + 900,
                             spec_of("1.0.1").digest, ("production",), lineage, 100)
        status, aliases = ("retired", ()) if promoted else ("promoted", ("production",))
        first = a.ModelVersion(MODEL, "1.0.0", status, T0 - DAY, spec_of("1.0.0").digest,
                               aliases, {}, 100)
        return [fix, first] if promoted else [first]
    # fmt: on

    def silos(
        self, *, stale_after_ms: int = 0, jurisdiction_glob: str = "", silo_id: str = ""
    ) -> list[a.SiloRow]:
        eu, default = _digest(EU_BUNDLE), _digest(default_bundle_path())
        models = tuple(sorted({f"{MODEL}/{w.version}" for w in self.windows}))
        return [
            a.SiloRow(
                s, j, T0 - DAY, self.windows[-1].end_ms, models, eu if s == "de-1" else default
            )
            for s, (j, *_) in sorted(SILOS.items())
            if matches_glob(j, jurisdiction_glob) and (not silo_id or silo_id == s)
        ]

    def drift(self, psi_threshold: float, **_: Any) -> list[a.DriftRow]:
        return []

    def audit_heads(self, silo_id: str) -> list[ReceivedHead]:
        mine = [w for w in self.windows if w.silo == silo_id]
        return [
            ReceivedHead(i + 1, f"h-{w.report_id}", w.report_id, w.end_ms)
            for i, w in enumerate(mine)
        ]


@functools.cache
def _digest(path: Path) -> str:
    return load_bundle(path).digest


@functools.cache
def _engine() -> RegoEngine:
    return RegoEngine.from_bundle(default_bundle_path())


def _decision(w: Window) -> a.DecisionRow:
    dec = _engine().evaluate(
        w.metrics
        | {
            "model": {"id": MODEL, "version": w.version},
            "silo": w.silo,
            "jurisdiction": w.jurisdiction,
        }
    )
    return a.DecisionRow(
        w.silo,
        w.jurisdiction,
        MODEL,
        w.version,
        dec.allow,
        tuple(dec.deny),
        tuple(dec.warn),
        tuple(dec.actions),
        w.end_ms,
        w.report_id,
    )


def fake_source(
    windows: int = 3, rows: int = 1500, *, promoted: bool = True, **kw: Any
) -> FakeSource:
    """A fresh source over (cached) windows; ``kw``: source_text, withheld."""
    return FakeSource(make_windows(windows, rows, promoted=promoted), **kw)


MODEL_CARD = """\
owner: Credit Risk Team
purpose: score consumer credit applications
intended_use: a first-line decision aid; a person reviews every decline
contact: credit-risk@example.org
deployment_context: retail branches in DE, FR and NY
known_limitations:
  - trained on applicants aged 18 to 90
"""


def write_model_card(folder: Path) -> Path:
    """:data:`MODEL_CARD` as ``folder/card.yaml``."""
    path = folder / "card.yaml"
    path.write_text(MODEL_CARD)
    return path


def report_args(regime: str, **kw: Any) -> ReportArgs:
    """The arguments of ``regime``'s report of :data:`MODEL` 1.0.0 (every model for the
    summary); ``kw`` replace any."""
    model = (
        {"model": "", "version": ""}
        if regime == "summary"
        else {"model": MODEL, "version": "1.0.0"}
    )
    return ReportArgs(**(model | {"regime": regime} | kw))


def replace(src: FakeSource, **kw: Any) -> FakeSource:
    return dataclasses.replace(src, calls=[], **kw)
