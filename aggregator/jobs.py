"""Retraining triggers: open a job for a model version, unless one ended too recently.

A failed gate asks for retraining at every report; the store attaches the
triggers to the open job, and here an ended job holds new ones for a while
(a cool-down, longer after failures in a row). A new job is dispatched to
the silos serving the model and handed to the job runner (the retraining
coordinator), if the aggregator has one.
"""

from __future__ import annotations

import logging
from typing import Protocol

from aggregator._audit import Audit
from aggregator.silo_commands import CommandHub
from aggregator.store import JobRecord, Store
from fedgov.report import now_ms

__all__ = ["JobRunner", "JobTrigger"]

log = logging.getLogger(__name__)


class JobRunner(Protocol):
    def submit(self, job: JobRecord) -> object: ...


class JobTrigger:
    def __init__(self, store: Store, hub: CommandHub, audit: Audit) -> None:
        self._store = store
        self._hub = hub
        self._audit = audit
        self.runner: JobRunner | None = None
        self.cooldown_ms = 0  # after a job ends, ignore new triggers for this long
        # After a failed job, hold new triggers for this long, doubling with each
        # consecutive failure up to the maximum (see hold).
        self.retry_after_failure_ms = 5 * 60_000
        self.retry_after_failure_max_ms = 6 * 3_600_000

    def hold(self, model_id: str, model_version: str) -> tuple[JobRecord, int] | None:
        """The last ended job and when its hold on new triggers ends, if it still holds.

        Any ended job holds new triggers for ``cooldown_ms``. A failed one holds
        them at least ``retry_after_failure_ms``, doubled for each failure in a
        row, up to ``retry_after_failure_max_ms``: a job that cannot start (Flower
        missing, a silo down) would fail the same way at every report of a gate
        that keeps failing, so the next attempt waits, and each gives the
        operator longer to fix the cause. Open jobs absorb triggers in the store.
        """
        ended = self._store.ended_jobs(model_id, model_version)
        if not ended:
            return None
        last, hold = ended[-1], self.cooldown_ms
        if last.state == "failed":
            failures = 0
            for j in reversed(ended):
                if j.state != "failed":
                    break
                failures += 1
            backoff = self.retry_after_failure_ms * 2 ** min(failures - 1, 20)
            hold = max(hold, min(backoff, self.retry_after_failure_max_ms))
        until = last.updated_ms + hold
        return (last, until) if now_ms() < until else None

    def trigger(self, model_id: str, model_version: str, reason: str) -> JobRecord | None:
        """Open a job (or attach to the open one); None while an ended job holds triggers."""
        held = self.hold(model_id, model_version)
        if held is not None:
            last, until = held
            log.info(
                "retrain trigger for %s/%s held for another %.0f s after job %s %s",
                model_id,
                model_version,
                (until - now_ms()) / 1000,
                last.job_id,
                last.state,
            )
            self._audit(
                "job_trigger_cooldown",
                model=model_id,
                version=model_version,
                reason=reason,
                after_job=last.job_id,
                after_state=last.state,
                until_ms=until,
            )
            return None
        silos = [s.silo_id for s in self._store.list_silos() if s.serves(model_id, model_version)]
        job, created = self._store.open_job(model_id, model_version, reason, silos)
        self._audit(
            "job_opened" if created else "job_trigger_attached",
            job_id=job.job_id,
            model=model_id,
            version=model_version,
            state=job.state,
            reason=reason,
            silos=silos,
        )
        if created:
            log.info(
                "retraining job %s for %s/%s dispatched to %s",
                job.job_id,
                job.model_id,
                job.model_version,
                ", ".join(silos),
            )
            self._hub.notify(silos)
            if self.runner is not None:
                self.runner.submit(job)
        else:
            log.info("retrain trigger (%s) attached to job %s", reason, job.job_id)
        return job
