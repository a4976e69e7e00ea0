"""Corrective actions taken on a model: retraining jobs, candidate versions, promotions.

Read from the jobs and model registry answers of the query API; a version's
lineage (the retraining that made it: Flower run id, silos, rounds, the
attribute reweighed, the trigger) is shown as the registry keeps it. The
timeline plot's events are exactly these rows, one event each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aggregator import answers as a
from aggregator.reports import document as d
from aggregator.reports.source import ReportArgs, ReportSource

__all__ = ["Actions", "corrective_blocks", "load_actions", "timeline_events"]

REANNOTATION_NOTE = (
    "Re-annotation requests: when a silo's policy asks for re-annotation, the aggregator "
    "writes a request file (failing slices by counts) into its reannotation folder; the "
    "query API does not expose these requests, so this report cannot list them. Read the "
    "aggregator's reannotation folder and its audit log for them."
)
ROLLBACK_NOTE = (
    "A promotion moves the earlier production version to 'retired'; a rollback promotes "
    "the version production held before. The registry answer keeps each version's current "
    "status, not the time of each promotion, so events are placed at the version's creation."
)


class Actions:
    """A model's jobs and registry versions inside the report's window, sorted."""

    def __init__(self, jobs: Sequence[a.JobRow], versions: Sequence[a.ModelVersion]) -> None:
        self.jobs = sorted(jobs, key=lambda j: (j.created_ms, j.job_id))
        self.versions = sorted(versions, key=lambda v: (v.created_ms, v.version))

    @property
    def times(self) -> list[int]:
        """When each action happened (evidence times for the report's as-of)."""
        return [j.created_ms for j in self.jobs] + [v.created_ms for v in self.versions]


def load_actions(source: ReportSource, args: ReportArgs) -> Actions:
    """The model's jobs and versions created in the report's window."""
    jobs = [
        j
        for j in source.jobs(model_id=args.model)
        if j.model == args.model and args.in_window(j.created_ms)
    ]
    versions = [
        v
        for v in source.models(model_id=args.model)
        if v.model == args.model and args.in_window(v.created_ms)
    ]
    return Actions(jobs, versions)


def timeline_events(actions: Actions) -> list[dict[str, Any]]:
    """One event per job and per registry version, oldest first."""
    events = [
        {
            "t_ms": j.created_ms,
            "kind": "retraining",
            "label": f"job {j.job_id}: {j.state} ({j.reason})"
            + (f", candidate {j.candidate_version}" if j.candidate_version else ""),
        }
        for j in actions.jobs
    ] + [
        {
            "t_ms": v.created_ms,
            "kind": v.status,
            "label": f"version {v.version}: {v.status}"
            + (f" [{', '.join(sorted(v.aliases))}]" if v.aliases else "")
            + (f", from {v.lineage['parent_version']}" if v.lineage.get("parent_version") else ""),
        }
        for v in actions.versions
    ]
    return sorted(events, key=lambda e: (e["t_ms"], e["kind"], e["label"]))


def _list(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in sorted(value, key=str))
    return "" if value is None else str(value)


def job_rows(actions: Actions) -> list[dict[str, Any]]:
    return [
        {
            "job_id": j.job_id,
            "version": j.version,
            "state": j.state,
            "reason": j.reason,
            "created_ms": j.created_ms,
            "candidate_version": j.candidate_version,
            "silos": _list(j.silos),
            "acked_silos": _list(j.acked_silos),
        }
        for j in actions.jobs
    ]


def version_rows(actions: Actions) -> list[dict[str, Any]]:
    return [
        {
            "version": v.version,
            "status": v.status,
            "aliases": _list(v.aliases),
            "created_ms": v.created_ms,
            "parent_version": _list(v.lineage.get("parent_version")),
            "job_id": _list(v.lineage.get("job_id")),
            "flower_run_id": _list(v.lineage.get("flower_run_id")),
            "silos": _list(v.lineage.get("silos")),
            "rounds": _list(v.lineage.get("rounds")),
            "reweigh_attribute": _list(v.lineage.get("reweigh_attribute")),
            "trigger": _list(v.lineage.get("trigger")),
            "spec_digest": v.spec_digest,
        }
        for v in actions.versions
    ]


def corrective_blocks(actions: Actions) -> list[dict[str, Any]]:
    """Jobs, versions with lineage, the timeline plot and what the API cannot show."""
    events = timeline_events(actions)
    return [
        d.table(
            [
                ("job_id", "Job", "text"),
                ("version", "Version retrained", "text"),
                ("state", "State", "text"),
                ("reason", "Reason", "text"),
                ("created_ms", "Created", "time"),
                ("candidate_version", "Candidate", "text"),
                ("silos", "Silos", "text"),
                ("acked_silos", "Silos that accepted", "text"),
            ],
            job_rows(actions),
            notes=[] if actions.jobs else ["No retraining job in the period."],
        ),
        d.table(
            [
                ("version", "Version", "text"),
                ("status", "Status", "text"),
                ("aliases", "Aliases", "text"),
                ("created_ms", "Created", "time"),
                ("parent_version", "Retrained from", "text"),
                ("job_id", "Job", "text"),
                ("flower_run_id", "Flower run", "text"),
                ("silos", "Training silos", "text"),
                ("rounds", "Rounds", "text"),
                ("reweigh_attribute", "Reweighed attribute", "text"),
                ("trigger", "Trigger", "text"),
                ("spec_digest", "Spec", "digest"),
            ],
            version_rows(actions),
            notes=[ROLLBACK_NOTE],
        ),
        d.plot(
            "timeline",
            {"events": events},
            f"{len(actions.jobs)} retraining job(s) and {len(actions.versions)} model "
            "version(s) over time: "
            + ("; ".join(f"{e['label']}" for e in events) or "none in the period"),
        ),
        d.text(REANNOTATION_NOTE),
    ]
