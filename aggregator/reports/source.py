"""Where a report's figures come from, and what every regime shares.

:class:`ReportSource` is the part of the query API the regimes read (the
methods of :class:`~aggregator.query_client.QueryClient` they call), so a
regime is a pure function of what the source answers and the
:class:`ReportArgs`; tests give it a fake built from real merged metrics.

The helpers here are the evidence every regime states the same way:
:func:`scope_of` (the fairness answer with the reports and windows it rests
on), :func:`as_of_ms` (the newest evidence time, capped by ``until``; never
the clock) and :func:`evidence` (report ids, the silos' anchored audit
heads, policy bundle digests, the spec digest and the privacy path of every
figure; the reports behind time series by count and digest,
:func:`series_evidence`); :func:`withheld_groups` reads the cells release
control withheld; :func:`assemble` makes a model's document of all of it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, Unpack

from aggregator import answers as a
from aggregator.reports import document as d
from fedgov.anchors import ReceivedHead
from fedgov.errors import ConfigError, QueryError

__all__ = [
    "ReportArgs",
    "ReportSource",
    "Scope",
    "anchors",
    "as_of_ms",
    "assemble",
    "evidence",
    "iso_time",
    "scope_block",
    "scope_facts",
    "scope_of",
    "series_evidence",
    "upto",
    "withheld_groups",
]


class ReportSource(Protocol):
    """The query API calls the regimes make (QueryClient's signatures)."""

    def fairness(
        self,
        model_id: str,
        *,
        model_version: str = "",
        jurisdiction_glob: str = "",
        since_ms: int = 0,
        source: str = "",
    ) -> a.Fairness: ...

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
    ) -> list[a.HistoryPoint]: ...

    def jobs(self, *, model_id: str = "") -> list[a.JobRow]: ...

    def models(self, *, model_id: str = "") -> list[a.ModelVersion]: ...

    def central(self, *, model_id: str = "") -> list[a.CentralRow]: ...

    def decisions(
        self, *, jurisdiction_glob: str = "", silo_id: str = ""
    ) -> list[a.DecisionRow]: ...

    def silos(
        self, *, stale_after_ms: int = 0, jurisdiction_glob: str = "", silo_id: str = ""
    ) -> list[a.SiloRow]: ...

    def drift(
        self, psi_threshold: float, *, silo_id: str = "", **filters: Unpack[a.DriftFilters]
    ) -> list[a.DriftRow]: ...

    def audit_heads(self, silo_id: str) -> list[ReceivedHead]: ...


@dataclass(frozen=True)
class ReportArgs:
    """What a report was asked for; stored in the document as its ``arguments``, so
    ``fedgov report verify`` re-derives it from the same question."""

    model: str
    version: str = ""
    regime: str = "nyc-ll144"
    jurisdictions: str = ""  # a glob, "" = every jurisdiction
    since_ms: int = 0  # 0: each silo's newest report
    until_ms: int = 0  # 0: no upper bound
    model_card: Path | None = None
    sex_attribute: str = "sex"  # nyc-ll144: the spec's attribute for sex
    race_attribute: str = "race_ethnicity"  # nyc-ll144: ... for race/ethnicity
    policies: tuple[str, ...] = ()  # policy bundle folders whose thresholds a report shows

    def to_arguments(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["model_card"] = None if self.model_card is None else str(self.model_card)
        out["policies"] = [str(p) for p in self.policies]
        return out

    @classmethod
    def from_arguments(cls, arguments: Mapping[str, Any]) -> ReportArgs:
        """The arguments a document records, checked (a document is user input)."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(arguments) - set(known))
        if unknown or "model" not in arguments:
            raise ConfigError(
                f"report arguments: unknown keys {unknown} or no 'model'; "
                "the document was not made by `fedgov report`"
            )
        values = dict(arguments)
        for name in ("since_ms", "until_ms"):
            if not isinstance(values.get(name, 0), int):
                raise ConfigError(f"report arguments: {name} must be an integer")
        card = values.get("model_card")
        values["model_card"] = None if card in (None, "") else Path(str(card))
        policies = values.get("policies", ())
        if not isinstance(policies, (list, tuple)) or not all(isinstance(p, str) for p in policies):
            raise ConfigError("report arguments: policies must be a list of folder names")
        values["policies"] = tuple(policies)
        return cls(**values)

    def in_window(self, t_ms: int) -> bool:
        """``t_ms`` lies in [since, until] (0: unbounded)."""
        return self.since_ms <= t_ms and (not self.until_ms or t_ms <= self.until_ms)


def upto(times: Iterable[int], until_ms: int) -> int:
    """The newest of ``times`` not after ``until_ms`` (0: no bound); 0 if none."""
    kept = [t for t in times if not until_ms or t <= until_ms]
    return max(kept, default=0)


@dataclass(frozen=True)
class Scope:
    """The merged figures of a report and the reports and windows they rest on."""

    fairness: a.Fairness
    report_ids: tuple[str, ...]
    windows: tuple[a.HistoryPoint, ...]  # one per report, oldest first
    spec_digest: str
    # Every sample_size point the history query answered (each window in scope, all
    # versions): the cadence table reads them instead of asking again.
    sample_sizes: tuple[a.HistoryPoint, ...] = ()

    @property
    def window_ends(self) -> tuple[int, ...]:
        return tuple(p.window_end_ms for p in self.windows)


def scope_of(source: ReportSource, args: ReportArgs) -> Scope:
    """The fairness answer for ``args`` with its report ids, windows and spec digest.

    The query API merges each silo's newest report (or every window since
    ``since``); it cannot merge up to a past time, so ``until`` before a merged
    window is refused rather than shown with figures from after it.
    """
    ans = source.fairness(
        args.model,
        model_version=args.version,
        jurisdiction_glob=args.jurisdictions,
        since_ms=args.since_ms,
    )
    answered = tuple(
        source.history(
            args.model, "sample_size", since_ms=args.since_ms, jurisdiction_glob=args.jurisdictions
        )
    )
    points = [p for p in answered if p.version == ans.version and p.silo in ans.silos]
    ids = ans.report_ids
    wanted = set(ids)
    windows = tuple(
        sorted(
            (p for p in points if p.report_id in wanted),
            key=lambda p: (p.window_end_ms, p.silo, p.report_id),
        )
    )
    if ans.reports == 0:  # a secure sum: the windows of its silos in scope
        windows = tuple(sorted(points, key=lambda p: (p.window_end_ms, p.silo, p.report_id)))
    late = [p for p in windows if args.until_ms and p.window_end_ms > args.until_ms]
    if late and (ans.reports or not args.since_ms):
        raise QueryError(
            f"--until {args.until_ms}: the merged figures include {len(late)} window(s) ending "
            f"after it (report {late[0].report_id} of {late[0].silo}); the query API merges "
            "each silo's newest report: leave --until out or set it after the newest window"
        )
    return Scope(ans, tuple(sorted(ids)), windows, ans.spec_digest, answered)


def as_of_ms(scope: Scope, args: ReportArgs, *more: Iterable[int]) -> int:
    """The newest evidence time (the merged windows, and ``more``) not after ``until``."""
    times = list(scope.window_ends)
    for extra in more:
        times.extend(extra)
    return upto(times, args.until_ms)


def anchors(
    source: ReportSource, silos: Iterable[str], report_ids: Iterable[str]
) -> dict[str, Any]:
    """The audit heads the ``silos`` sent with ``report_ids``, and each silo's policy bundle."""
    wanted, silos = set(report_ids), sorted(set(silos))
    heads = [
        {"silo": silo, "seq": h.seq, "hash": h.hash, "report_id": h.report_id}
        for silo in silos
        for h in source.audit_heads(silo)
        if h.report_id in wanted
    ]
    bundles = {s.silo: s.policy_bundle_digest for s in source.silos() if s.silo in set(silos)}
    return {
        "audit_heads": sorted(heads, key=lambda h: (h["silo"], h["seq"], h["report_id"])),
        "policy_bundles": dict(sorted(bundles.items())),
    }


def evidence(
    source: ReportSource,
    scope: Scope,
    figures: Mapping[str, str] | Iterable[str],
    *,
    series_ids: Iterable[str] = (),
) -> dict[str, Any]:
    """What the figures rest on: the report ids of the point-in-time merged figures,
    each silo's audit heads sent with those reports, policy bundle digests per silo, the
    spec digest and each figure's privacy path (``figures``: names, whose path is the
    merged answer's ``source``, or name -> path). ``series_ids``: the reports the time
    series rest on, given by their number and a digest (:func:`series_evidence`)."""
    ans = scope.fairness
    sent = set(scope.report_ids) | {p.report_id for p in scope.windows}
    paths = dict(figures) if isinstance(figures, Mapping) else {f: ans.source for f in figures}
    out = {
        "report_ids": list(scope.report_ids),
        **anchors(source, ans.silos, sent),
        "spec_digest": scope.spec_digest,
        "secure_period": ans.period,
        "secure_rounds": list(ans.round_ids),
        "privacy": [{"figure": f, "source": paths[f]} for f in sorted(paths)],
    }
    series = sorted(set(series_ids))
    if series:
        out["series_reports"] = series_evidence(series)
    return out


def series_evidence(report_ids: Iterable[str]) -> dict[str, Any]:
    """The reports behind a report's time series, bounded: their number and the SHA-256
    of their sorted ids joined by newlines (``verify`` re-derives both from the store)."""
    ids = sorted(set(report_ids))
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()
    return {"count": len(ids), "sha256": f"sha256:{digest}"}


def withheld_groups(ans: a.Fairness) -> dict[tuple[str, str], int]:
    """(attribute, group) -> rows, for the outcome groups release control withheld."""
    return {
        (str(w["name"]), str(w["group"])): int(w["rows"])
        for w in ans.withheld
        if w.get("table") == "outcome" and w.get("group")
    }


def assemble(
    regime: str,
    title: str,
    source: ReportSource,
    args: ReportArgs,
    scope: Scope,
    sections: Iterable[dict[str, Any]],
    figures: Mapping[str, str] | Iterable[str],
    *,
    times: Iterable[int] = (),
    series_ids: Iterable[str] = (),
    **more_evidence: Any,
) -> dict[str, Any]:
    """The document of a model's report: its arguments, as-of time (the merged windows
    and ``times``), model, scope and evidence, with ``sections``."""
    ans = scope.fairness
    return d.document(
        regime=regime,
        title=title,
        arguments=args.to_arguments(),
        as_of_ms=as_of_ms(scope, args, times),
        model={"id": ans.model, "version": ans.version, "spec_digest": scope.spec_digest},
        scope=scope_block(scope),
        sections=sections,
        evidence=evidence(source, scope, figures, series_ids=series_ids) | more_evidence,
    )


def iso_time(ms: int) -> str:
    """A stored time as UTC ISO 8601 to the second ("" for 0: unset)."""
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def scope_facts(scope: Scope, args: ReportArgs) -> list[tuple[str, Any]]:
    """The date range and data source every regime states: windows, silos, reports, path."""
    ans, ends = scope.fairness, scope.window_ends
    since = iso_time(args.since_ms) or "each silo's newest report"
    return [
        ("Model", f"{ans.model} version {ans.version}"),
        ("Since", since),
        ("Until", iso_time(args.until_ms) or "the newest report"),
        ("Windows covered", len(ends)),
        ("First window ends", iso_time(min(ends, default=0)) or "none"),
        ("Last window ends", iso_time(max(ends, default=0)) or "none"),
        ("Jurisdictions", ", ".join(ans.jurisdictions) or "none"),
        ("Jurisdiction filter", args.jurisdictions or "every jurisdiction"),
        ("Silos", ", ".join(ans.silos) or "none"),
        ("Reports merged", ans.reports),
        ("Secure-sum period", ans.period or "none (per-silo reports)"),
        ("Individuals (rows)", ans.rows),
        ("Privacy path", ans.source),
        ("Spec digest", scope.spec_digest),
    ]


def scope_block(scope: Scope) -> dict[str, Any]:
    """The document's ``scope``: who and what the figures cover."""
    ans, ends = scope.fairness, scope.window_ends
    return {
        "silos": list(ans.silos),
        "jurisdictions": list(ans.jurisdictions),
        "rows": ans.rows,
        "reports": ans.reports,
        "source": ans.source,
        "period": ans.period,
        "windows": {
            "count": len(ends),
            "first_end_ms": min(ends, default=0),
            "last_end_ms": max(ends, default=0),
        },
    }
