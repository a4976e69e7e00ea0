"""``summary``: the one-page overview across every model (or the one ``--model`` names).

Per model its newest version and the one in production; per jurisdiction and
model the latest decision of its silos (how many allow, how many deny); the
central gate's latest decisions with their privacy path; open retraining jobs;
and silos that went silent. Everything is read as of the newest evidence time
(model versions, decisions' windows, central decisions, jobs; not a silo's last
contact, which moves without new evidence) not after ``until`` (a silo is stale
when silent for :data:`STALE_AFTER_MS` before that time, not before the clock), so
the same store gives the same page.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from aggregator import answers as a
from aggregator.reports import document as d
from aggregator.reports.source import ReportArgs, ReportSource, anchors, iso_time, upto
from aggregator.store import ENDED_JOB_STATES

__all__ = ["STALE_AFTER_MS", "build"]

STALE_AFTER_MS = 24 * 3_600_000


def _in(rows: Iterable[Any], when: str, args: ReportArgs) -> list[Any]:
    """Rows whose time ``when`` lies in [since, until] (0: unbounded)."""
    return [r for r in rows if args.in_window(getattr(r, when))]


def _models(versions: list[a.ModelVersion]) -> dict[str, Any]:
    by_model: dict[str, list[a.ModelVersion]] = defaultdict(list)
    for v in versions:
        by_model[v.model].append(v)
    rows = []
    for model, vs in sorted(by_model.items()):
        newest = max(vs, key=lambda v: (v.created_ms, v.version))
        prod = [v.version for v in vs if "production" in v.aliases or v.status == "production"]
        rows.append(
            {
                "model": model,
                "latest": newest.version,
                "status": newest.status,
                "created": newest.created_ms,
                "production": ", ".join(sorted(prod)) or "none",
                "spec": newest.spec_digest,
            }
        )
    cols = [
        ("model", "Model", "text"),
        ("latest", "Newest version", "text"),
        ("status", "Its status", "text"),
        ("created", "Registered", "time"),
        ("production", "In production", "text"),
        ("spec", "Spec digest", "digest"),
    ]
    return d.table(cols, rows)


def _decisions(decisions: list[a.DecisionRow]) -> dict[str, Any]:
    by_key: dict[tuple[str, str], list[a.DecisionRow]] = defaultdict(list)
    for r in decisions:
        by_key[(r.jurisdiction, r.model)].append(r)
    rows = []
    for (jur, model), rs in sorted(by_key.items()):
        reasons = sorted({reason for r in rs for reason in r.deny})
        rows.append(
            {
                "jurisdiction": jur,
                "model": model,
                "versions": ", ".join(sorted({r.version for r in rs})),
                "allow": sum(r.allow for r in rs),
                "deny": sum(not r.allow for r in rs),
                "reasons": "; ".join(reasons) or "none",
                "newest": max(r.window_end_ms for r in rs),
            }
        )
    cols = [
        ("jurisdiction", "Jurisdiction", "text"),
        ("model", "Model", "text"),
        ("versions", "Versions", "text"),
        ("allow", "Silos allowing", "int"),
        ("deny", "Silos denying", "int"),
        ("reasons", "Deny reasons", "text"),
        ("newest", "Newest window ends", "time"),
    ]
    return d.table(cols, rows, notes=["Each silo's latest decision per model version."])


def _central(central: list[a.CentralRow]) -> dict[str, Any]:
    rows = [
        {
            "model": c.model,
            "version": c.version,
            "group": c.group,
            "silos": len(c.silos),
            "rows": c.rows,
            "decision": "allow" if c.allow else "deny",
            "reasons": "; ".join(c.deny) or "none",
            "source": c.source or "per-silo reports",
            "evaluated": c.evaluated_ms,
        }
        for c in sorted(central, key=lambda c: (c.model, c.version, c.group))
    ]
    cols = [
        ("model", "Model", "text"),
        ("version", "Version", "text"),
        ("group", "Jurisdiction group", "text"),
        ("silos", "Silos", "int"),
        ("rows", "Rows", "int"),
        ("decision", "Decision", "text"),
        ("reasons", "Deny reasons", "text"),
        ("source", "Privacy path", "text"),
        ("evaluated", "Evaluated", "time"),
    ]
    return d.table(cols, rows)


def _jobs(jobs: list[a.JobRow]) -> dict[str, Any]:
    rows = [
        {
            "job": j.job_id,
            "model": j.model,
            "version": j.version,
            "state": j.state,
            "reason": j.reason,
            "created": j.created_ms,
            "silos": len(j.silos),
            "acked": len(j.acked_silos),
        }
        for j in sorted(jobs, key=lambda j: (j.created_ms, j.job_id))
        if j.state not in ENDED_JOB_STATES
    ]
    cols = [
        ("job", "Job", "text"),
        ("model", "Model", "text"),
        ("version", "Version", "text"),
        ("state", "State", "text"),
        ("reason", "Reason", "text"),
        ("created", "Created", "time"),
        ("silos", "Silos", "int"),
        ("acked", "Silos that accepted", "int"),
    ]
    return d.table(cols, rows, notes=[f"Open: not yet {', '.join(ENDED_JOB_STATES)}."])


def _stale(silos: list[a.SiloRow], as_of: int) -> dict[str, Any]:
    rows = [
        {
            "silo": s.silo,
            "jurisdiction": s.jurisdiction,
            "last_seen": s.last_seen_ms,
            "silent_hours": (as_of - s.last_seen_ms) // 3_600_000,
        }
        for s in sorted(silos, key=lambda s: s.silo)
        if as_of - s.last_seen_ms > STALE_AFTER_MS
    ]
    cols = [
        ("silo", "Silo", "text"),
        ("jurisdiction", "Jurisdiction", "text"),
        ("last_seen", "Last seen", "time"),
        ("silent_hours", "Silent for (hours)", "int"),
    ]
    note = f"Silent for more than {STALE_AFTER_MS // 3_600_000} hours before {iso_time(as_of)}."
    return d.table(cols, rows, notes=[note])


def build(source: ReportSource, args: ReportArgs) -> dict[str, Any]:
    """The overview page as a report document."""
    glob = args.jurisdictions
    versions = _in(source.models(model_id=args.model), "created_ms", args)
    decisions = [
        r
        for r in _in(source.decisions(jurisdiction_glob=glob), "window_end_ms", args)
        if not args.model or r.model == args.model
    ]
    central = _in(source.central(model_id=args.model), "evaluated_ms", args)
    jobs = _in(source.jobs(model_id=args.model), "created_ms", args)
    silos = [
        s
        for s in source.silos(jurisdiction_glob=glob)
        if not args.until_ms or s.registered_ms <= args.until_ms
    ]
    as_of = upto(
        [v.created_ms for v in versions]
        + [r.window_end_ms for r in decisions]
        + [c.evaluated_ms for c in central]
        + [j.created_ms for j in jobs],
        args.until_ms,
    )
    scope = {
        "models": sorted({v.model for v in versions}),
        "jurisdictions": sorted({s.jurisdiction for s in silos}),
        "silos": sorted(s.silo for s in silos),
    }
    sections = [
        d.section(
            "scope",
            "Scope",
            [
                d.facts(
                    [
                        ("As of", iso_time(as_of) or "no evidence yet"),
                        ("Models", ", ".join(scope["models"]) or "none"),
                        ("Jurisdiction filter", glob or "every jurisdiction"),
                        ("Silos", len(silos)),
                    ]
                )
            ],
        ),
        d.section("models", "Models", [_models(versions)]),
        d.section("decisions", "Latest decisions by jurisdiction", [_decisions(decisions)]),
        d.section("central", "Central decisions", [_central(central)]),
        d.section("jobs", "Open retraining jobs", [_jobs(jobs)]),
        d.section("stale", "Stale silos", [_stale(silos, as_of)]),
    ]
    report_ids = sorted({r.report_id for r in decisions})
    return d.document(
        regime="summary",
        title="Compliance summary" + (f": {args.model}" if args.model else ": every model"),
        arguments=args.to_arguments(),
        as_of_ms=as_of,
        model={"id": args.model or "*", "version": args.version},
        scope=scope,
        sections=sections,
        evidence={
            "report_ids": report_ids,
            **anchors(source, scope["silos"], report_ids),
            "spec_digests": sorted({f"{v.model}/{v.version}: {v.spec_digest}" for v in versions}),
            "privacy": [
                {"figure": f"central/{c.model}/{c.version}/{c.group}", "source": c.source}
                for c in sorted(central, key=lambda c: (c.model, c.version, c.group))
            ],
        },
    )
