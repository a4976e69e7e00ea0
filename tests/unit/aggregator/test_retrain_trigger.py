"""A gate that keeps failing does not open a job per report: ended jobs hold new triggers.

The reported storm: with Flower missing, every job failed at once and each
next report of the failing gate opened a new one (five in one demo run).
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

import pytest
from support.reports import report_of
from support.servers import registered_handler
from support.specs import stats_of

from aggregator.handler import AggregatorHandler
from aggregator.retrain import TrainingSettings
from fedgov.metrics import compute_metrics
from fedgov.policy import Decision
from fedgov.report import Report
from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats
from fedgov.synthetic import credit_data

SILOS = ("EU-DE", "EU-FR", "US-NY")


@pytest.fixture
def handler(tmp_path: Path, credit_spec: MonitoringSpec) -> AggregatorHandler:
    return registered_handler(tmp_path / "a.db", credit_spec, SILOS)


@pytest.fixture(scope="module")
def stats(credit_spec: MonitoringSpec) -> WindowStats:
    return stats_of(credit_spec, credit_data(500, seed=1))


def _violation(spec: MonitoringSpec, stats: WindowStats, n: int) -> Report:
    """Report ``n`` of a silo whose local gate denies and asks for retraining."""
    return report_of(
        spec, stats, f"r{n}", silo=SILOS[n % len(SILOS)],
        window_start_ms=n * 1000, window_end_ms=(n + 1) * 1000,
        metrics=compute_metrics(spec, stats),
        decision=Decision(allow=False, deny=("biased",), actions=("retrain",)),
    )  # fmt: skip


def test_a_job_that_cannot_start_fails_in_words_and_opens_no_other(
    handler: AggregatorHandler,
    credit_spec: MonitoringSpec,
    stats: WindowStats,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    empty = tmp_path / "env" / "bin"  # an environment without flwr, and nothing on PATH
    empty.mkdir(parents=True)
    monkeypatch.setattr(sys, "executable", str(empty / "python"))
    monkeypatch.setattr(sysconfig, "get_path", lambda name, *a, **k: str(empty))
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    coordinator = handler.start_retraining(TrainingSettings(), workdir=tmp_path / "retrain")
    try:
        handler.ingest(_violation(credit_spec, stats, 0))
        coordinator.wait(30)
        (job,) = handler.list_jobs()
        assert job.state == "failed"
        assert job.detail == (
            f"cannot start Flower's SuperLink: 'flower-superlink' not found in {empty} or on "
            f"PATH; install flwr in this environment (the one of {empty / 'python'})"
        )
        for n in range(1, 6):  # the gate keeps failing at every report
            handler.ingest(_violation(credit_spec, stats, n))
        coordinator.wait(30)
        assert [j.job_id for j in handler.list_jobs()] == [job.job_id]
    finally:
        coordinator.close()


def test_failed_jobs_hold_triggers_longer_each_time_in_a_row(
    handler: AggregatorHandler,
    credit_spec: MonitoringSpec,
    stats: WindowStats,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handler.retry_after_failure_ms = 60_000
    handler.retry_after_failure_max_ms = 200_000
    store = handler.store
    clock = {"now": 0}
    monkeypatch.setattr("aggregator.jobs.now_ms", lambda: clock["now"])
    reports = iter(range(100))

    def jobs_after_a_trigger_at(t: int) -> int:
        clock["now"] = t
        handler.ingest(_violation(credit_spec, stats, next(reports)))
        return len(handler.list_jobs())

    assert jobs_after_a_trigger_at(0) == 1
    ended = [store.transition_job(handler.list_jobs()[-1].job_id, "failed").updated_ms]
    for hold, jobs in ((60_000, 2), (120_000, 3), (200_000, 4)):  # doubled, then capped
        assert jobs_after_a_trigger_at(ended[-1] + hold - 1000) == jobs - 1
        assert jobs_after_a_trigger_at(ended[-1] + hold + 1000) == jobs
        ended.append(store.transition_job(handler.list_jobs()[-1].job_id, "failed").updated_ms)
    # A job that ends otherwise (here: rejected) resets the count; cooldown_ms is 0.
    assert jobs_after_a_trigger_at(ended[-1] + 1000) == 4  # job 4's failure holds for 200 s
    assert jobs_after_a_trigger_at(ended[-1] + 201_000) == 5
    job = store.transition_job(handler.list_jobs()[-1].job_id, "training")
    job = store.transition_job(job.job_id, "evaluating", candidate_version="1.0.1")
    job = store.transition_job(job.job_id, "rejected", detail="gate failed")
    assert jobs_after_a_trigger_at(job.updated_ms + 1) == 6
    failed = store.transition_job(handler.list_jobs()[-1].job_id, "failed").updated_ms
    assert jobs_after_a_trigger_at(failed + 59_000) == 6
    assert jobs_after_a_trigger_at(failed + 61_000) == 7
