"""One window of local data -> statistics -> metrics -> local decision -> report."""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.privacy import PrivacySettings, guard
from fedgov.data import SparkWindow, file_digest, fold_file, fold_spark
from fedgov.decision import decision_log
from fedgov.metrics import compute_metrics
from fedgov.policy import PolicyEngine, to_plain
from fedgov.report import Report, now_ms
from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats

__all__ = [
    "build_report",
    "build_window",
    "decision_log_fields",
    "judged_report",
    "policy_input",
    "report_id_for",
]

log = logging.getLogger(__name__)


def report_id_for(silo_id: str, spec: MonitoringSpec, input_digest: str) -> str:
    """Deterministic: re-processing the same window after a crash yields the same id,
    so the aggregator's idempotent ingest stores it once."""
    import hashlib

    key = "\x1f".join((silo_id, spec.model_id, spec.model_version, spec.digest, input_digest))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def policy_input(
    spec: MonitoringSpec,
    metrics: dict[str, Any],
    *,
    silo_id: str,
    jurisdiction: str,
    window: tuple[int, int],
    stage: str = "monitoring",
) -> dict[str, Any]:
    """The document the Rego policies see (the contract is in fedgov.policy).

    ``stage`` is ``monitoring`` for production windows and ``candidate`` when a
    retrained model is gated on a holdout before promotion.
    """
    return {
        "model": {"id": spec.model_id, "version": spec.model_version},
        "stage": stage,
        "silo": silo_id,
        "jurisdiction": jurisdiction,
        "window": {"start": _iso(window[0]), "end": _iso(window[1])},
        **metrics,
    }


def build_report(spec: MonitoringSpec, path: Path, engine: PolicyEngine, **kw: Any) -> Report:
    """The report of the window in ``path`` (guarded counts, metrics, decision); the
    keyword arguments are :func:`build_window`'s."""
    return build_window(spec, path, engine, **kw)[0]


def build_window(
    spec: MonitoringSpec,
    path: Path | SparkWindow,
    engine: PolicyEngine,
    *,
    silo_id: str,
    jurisdiction: str,
    chunk_rows: int,
    privacy: PrivacySettings | None = None,
) -> tuple[Report, WindowStats]:
    """The report of one window, its counts guarded (by default: discrete Gaussian noise,
    see :mod:`agent.privacy`; its ``rho_total`` is filled in when it is recorded), and
    the window's unguarded counts beside it: those stay in the silo (a secure
    aggregation round masks their sum over a period). A :class:`SparkWindow` is
    folded on its cluster (:func:`fedgov.data.fold_spark`) and named by its files."""
    folded, input_digest, start = _fold(spec, path, chunk_rows)
    # Metrics, decision, deny/warn strings and /metrics come from the guarded counts
    # only: they are post-processing of the noise and reveal nothing more.
    stats = guard(folded, privacy or PrivacySettings())
    end = max(now_ms(), start)
    report = judged_report(
        spec,
        path,
        stats,
        engine,
        silo_id=silo_id,
        jurisdiction=jurisdiction,
        window=(start, end),
        input_digest=input_digest,
    )
    log.info(
        "%s: %d rows, decision allow=%s deny=%s actions=%s",
        path.name,
        stats.rows,
        report.decision.allow,
        list(report.decision.deny),
        list(report.decision.actions),
    )
    return report, folded


def _fold(
    spec: MonitoringSpec, path: Path | SparkWindow, chunk_rows: int
) -> tuple[WindowStats, str, int]:
    """The window's counts, its input digest, and its start (ms): the file's mtime,
    or the newest file's of a Spark window."""
    if isinstance(path, SparkWindow):
        return fold_spark(path, spec, chunk_rows=chunk_rows), path.identity, path.modified_ms
    start = int(path.stat().st_mtime * 1000)
    # The file's digest is hashed beside the scan: hashlib frees the GIL, and
    # the page cache serves both reads.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fedgov-digest") as pool:
        hashing = pool.submit(file_digest, path)
        folded = fold_file(path, spec, chunk_rows=chunk_rows)
        return folded, hashing.result(), start


def judged_report(
    spec: MonitoringSpec,
    path: Path | SparkWindow,
    stats: WindowStats,
    engine: PolicyEngine,
    *,
    silo_id: str,
    jurisdiction: str,
    window: tuple[int, int],
    stage: str = "monitoring",
    input_digest: str | None = None,
) -> Report:
    """The report of one input file's guarded ``stats``: their metrics and the silo's
    policy decision on them at ``stage`` (see :func:`policy_input`). Its id derives
    from the file's digest (hashed here unless the caller already has it)."""
    metrics = compute_metrics(spec, stats)
    decision = engine.evaluate(
        policy_input(
            spec, metrics, silo_id=silo_id, jurisdiction=jurisdiction, window=window, stage=stage
        )
    )
    if input_digest is None:
        if isinstance(path, SparkWindow):
            input_digest = path.identity
        else:
            input_digest = file_digest(path)
    return Report(
        report_id=report_id_for(silo_id, spec, input_digest),
        silo_id=silo_id,
        jurisdiction=jurisdiction,
        model_id=spec.model_id,
        model_version=spec.model_version,
        window_start_ms=window[0],
        window_end_ms=window[1],
        spec_digest=spec.digest,
        stats=stats,
        metrics=metrics,
        decision=decision,
        input_digest=input_digest,
    )


def decision_log_fields(spec: MonitoringSpec, report: Report) -> dict[str, Any]:
    """OPA's decision-log fields for the report's decision (:func:`fedgov.decision.decision_log`).

    The input is rebuilt from the report (its metrics, window, silo), as the
    policy saw it; the decision id is the report id's UUID form, so a window
    re-read gives the same id.
    """
    inp: Any = policy_input(
        spec,
        report.metrics,
        silo_id=report.silo_id,
        jurisdiction=report.jurisdiction,
        window=(report.window_start_ms, report.window_end_ms),
    )
    try:
        inp = to_plain(inp)
    except ValueError:  # NaN and the like: the engine failed closed on it, JSON cannot carry it
        inp = None
    return decision_log(report.decision, inp, decision_id=_uuid_of(report.report_id))


def _uuid_of(report_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fedgov:report:{report_id}"))
