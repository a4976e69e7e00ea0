"""The silo's side of retraining: a SuperNode beside the data, and the gate
that scores a candidate model on the local holdout.

The candidate is judged exactly like production: its predictions on the
holdout go through the statistics engine, the privacy guards and the silo's
own policy (with ``stage: candidate``), and the result is reported as the
candidate version. Only that report, never a row, leaves the silo.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np

from agent.pipeline import judged_report
from agent.privacy import PrivacySettings, guard
from fedgov.data import iter_batches
from fedgov.policy import PolicyEngine
from fedgov.report import Report, now_ms
from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats

__all__ = ["evaluate_candidate", "weights_from_payload"]

log = logging.getLogger(__name__)


def weights_from_payload(doc: dict[str, Any]) -> list[np.ndarray]:
    return [
        np.asarray(doc["coef"], dtype=np.float64),
        np.asarray(doc["intercept"], dtype=np.float64),
    ]


def evaluate_candidate(
    spec: MonitoringSpec,
    weights: list[np.ndarray],
    holdout: Path,
    engine: PolicyEngine,
    *,
    silo_id: str,
    jurisdiction: str,
    chunk_rows: int,
    privacy: PrivacySettings,
    threshold: float = 0.5,
) -> Report:
    """The candidate's report on this silo's holdout: its own predictions replace the file's."""
    from fedgov.federated.model import FeatureMap, predict_proba

    features = FeatureMap.from_spec(spec)
    stats = WindowStats.zero(spec)
    start = now_ms()
    for batch in iter_batches(holdout, spec, chunk_rows=chunk_rows):
        p = predict_proba(weights, features.transform(batch))
        # The candidate's own probabilities replace the file's scores too, so its
        # AUC and calibration are its own (the spec's score column is optional).
        scored = dataclasses.replace(
            batch,
            y_pred=(p >= threshold).astype(np.int8),
            score=None if batch.score is None else np.asarray(p, dtype=np.float64),
        )
        stats = stats.fold(spec, scored)
    # The holdout does not enter secure rounds: its release is charged rho, not 2 rho.
    # A candidate is judged once, on a fixed holdout: it may spend more (candidate_rho).
    if privacy.rho is not None and privacy.candidate_rho is not None:
        privacy = dataclasses.replace(privacy, rho=privacy.candidate_rho)
    stats = guard(stats, privacy, in_secure_rounds=False)
    report = judged_report(
        spec,
        holdout,
        stats,
        engine,
        silo_id=silo_id,
        jurisdiction=jurisdiction,
        window=(start, now_ms()),
        stage="candidate",
    )
    log.info(
        "%s: candidate %s on holdout: allow=%s deny=%s",
        silo_id,
        spec.model_version,
        report.decision.allow,
        list(report.decision.deny),
    )
    return report
