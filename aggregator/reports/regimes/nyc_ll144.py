"""``nyc-ll144``: the summary of a bias audit under NYC Local Law 144 (6 RCNY 5-300ff.).

For sex, race/ethnicity and every sex x race/ethnicity intersection, the tables of
:mod:`._ll144_tables` (individuals, selected, selection rate, impact ratio; the
scoring-rate variant; unknown category counted; categories under 2% marked;
withheld figures shown as withheld). Then "Corrective actions since the audit": the
retraining jobs of the audited version (state, reason, candidate) and, when a later
version was promoted, that version's selection rates and impact ratios for the same
attributes, so a reader sees whether the fix worked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from aggregator import answers as a
from aggregator.reports import document as d
from aggregator.reports.regimes._ll144_tables import ATTR_SEP, attribute_blocks, intersection
from aggregator.reports.source import (
    ReportArgs,
    ReportSource,
    Scope,
    assemble,
    iso_time,
    scope_facts,
)
from aggregator.reports.source import scope_of as _scope_of
from fedgov.errors import QueryError

__all__ = ["build", "promoted_after"]

_JOB_COLUMNS = (
    ("job", "Job", "text"),
    ("state", "State", "text"),
    ("reason", "Reason", "text"),
    ("created", "Opened", "time"),
    ("candidate", "Candidate version", "text"),
)


def promoted_after(versions: list[a.ModelVersion], audited: str) -> a.ModelVersion | None:
    """The newest version promoted after ``audited``: retrained from it (its lineage says
    so) or registered after it, and now promoted or in production."""
    base = next((v for v in versions if v.version == audited), None)
    later = [
        v
        for v in versions
        if v.version != audited
        and (v.status == "promoted" or "production" in v.aliases)
        and (
            v.lineage.get("parent_version") == audited
            or base is None
            or v.created_ms > base.created_ms
        )
    ]
    return max(later, key=lambda v: (v.created_ms, v.version), default=None)


def _parts(args: ReportArgs, fair: Mapping[str, Any]) -> list[tuple[str, str, str | None, str]]:
    """(section id, title, the spec's attribute or None, what to say when it is absent)."""
    declared = ", ".join(sorted(k for k in fair if ATTR_SEP not in k)) or "none"
    sex, race = args.sex_attribute, args.race_attribute

    def missing(what: str, option: str) -> str:
        return (
            f"The monitoring spec of {args.model} declares no {what} (its sensitive attributes: "
            f"{declared}); nothing is reported here. If it is under another name, give it "
            f"with {option}."
        )

    return [
        (
            "sex",
            "Sex",
            sex if sex in fair else None,
            missing(f"attribute {sex!r}", "--sex-attribute"),
        ),
        (
            "race",
            "Race/ethnicity",
            race if race in fair else None,
            missing(f"attribute {race!r}", "--race-attribute"),
        ),
        (
            "intersection",
            "Sex x race/ethnicity",
            intersection(fair, sex, race),
            missing(f"intersection of {sex!r} and {race!r}", "an intersection in the spec"),
        ),
    ]


def _corrective(
    source: ReportSource, args: ReportArgs, audited: a.Fairness
) -> tuple[dict[str, Any], dict[str, str], Scope | None, list[int]]:
    """The corrective-actions section, its figures' privacy paths, the promoted version's
    scope (None if no later version was promoted or it has no report) and the times."""
    jobs = sorted(
        (
            j
            for j in source.jobs(model_id=args.model)
            if j.model == args.model
            and j.version == audited.version
            and args.in_window(j.created_ms)
        ),
        key=lambda j: (j.created_ms, j.job_id),
    )
    rows = [
        {
            "job": j.job_id,
            "state": j.state,
            "reason": j.reason,
            "created": j.created_ms,
            "candidate": j.candidate_version or "none yet",
        }
        for j in jobs
    ]
    versions = [v for v in source.models(model_id=args.model) if args.in_window(v.created_ms)]
    blocks: list[dict[str, Any]] = [
        d.text(
            f"Retraining jobs opened for version {audited.version} and the version promoted "
            "after it, with its selection rates and impact ratios for the same categories."
        ),
        d.table(
            _JOB_COLUMNS,
            rows,
            notes=[] if rows else [f"No retraining job for version {audited.version}."],
        ),
    ]
    times = [j.created_ms for j in jobs]
    promoted = promoted_after(versions, audited.version)
    if promoted is None:
        blocks.append(d.text(f"No version was promoted after {audited.version}."))
        return d.section("corrective", _TITLE, blocks), {}, None, times
    times.append(promoted.created_ms)
    lineage = promoted.lineage
    blocks.append(
        d.facts(
            [
                ("Promoted version", promoted.version),
                ("Retrained from", str(lineage.get("parent_version", "not recorded"))),
                ("Job", str(lineage.get("job_id", "not recorded"))),
                ("Reweighed attribute", str(lineage.get("reweigh_attribute", "none"))),
                ("Registered", iso_time(promoted.created_ms)),
            ]
        )
    )
    try:
        later = _scope_of(source, dataclasses.replace(args, version=promoted.version))
    except QueryError as exc:
        blocks.append(d.text(f"No merged figures of version {promoted.version} yet: {exc}"))
        return d.section("corrective", _TITLE, blocks), {}, None, times
    figures: dict[str, str] = {}
    fair = later.fairness.metrics.get("fairness", {})
    for sid, title, attr, _ in _parts(args, fair):
        if attr is None:
            continue
        shown = f"{title}, version {promoted.version}"
        more, kinds = attribute_blocks(shown, attr, later.fairness, scoring=False)
        blocks += [d.text(f"{shown}: selection rates and impact ratios."), *more]
        figures |= {f"corrective/{sid}/{k}": later.fairness.source for k in kinds}
    return d.section("corrective", _TITLE, blocks), figures, later, times


_TITLE = "Corrective actions since the audit"


def build(source: ReportSource, args: ReportArgs) -> dict[str, Any]:
    """The bias audit summary of ``args.model`` as a report document."""
    scope = _scope_of(source, args)
    ans = scope.fairness
    fair: Mapping[str, Any] = ans.metrics.get("fairness", {})
    sections = [
        d.section(
            "audit",
            "Audit scope and data source",
            [
                d.text(
                    "Summary of the results of a bias audit of an automated employment decision "
                    "tool under NYC Local Law 144 of 2021 and its rules (6 RCNY 5-300 ff.), "
                    "computed from the aggregator's merged counts: no individual's data left "
                    "the silos that hold it."
                ),
                d.facts(scope_facts(scope, args)),
            ],
        )
    ]
    figures: dict[str, str] = {}
    for sid, title, attr, missing in _parts(args, fair):
        if attr is None:
            sections.append(d.section(sid, title, [d.text(missing)]))
            continue
        blocks, kinds = attribute_blocks(title, attr, ans)
        sections.append(d.section(sid, title, blocks))
        figures |= {f"{sid}/{k}": ans.source for k in kinds}
    corrective, fixed, later, times = _corrective(source, args, ans)
    sections.append(corrective)
    extra: dict[str, Any] = {}
    if later is not None:
        times += later.window_ends
        extra["corrective"] = {
            "version": later.fairness.version,
            "report_ids": list(later.report_ids),
            "spec_digest": later.spec_digest,
        }
    return assemble(
        "nyc-ll144",
        f"Bias audit summary: {ans.model} {ans.version} (NYC Local Law 144)",
        source,
        args,
        scope,
        sections,
        figures | fixed,
        times=times,
        **extra,
    )
