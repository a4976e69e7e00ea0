"""The agent exports per-group AUC and calibration error when the spec has a score."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from agent.exporter import AgentMetrics
from fedgov.metrics import compute_metrics
from fedgov.policy import Decision
from fedgov.report import Report
from fedgov.stats import WindowStats, derive_spec, encode_columns
from fedgov.synthetic import credit_data


def test_score_metrics_are_exported_per_attribute_and_group() -> None:
    cols = credit_data(1500, seed=3, with_score=True)
    spec = derive_spec(
        cols, model_id="m", model_version="1", label="repaid", prediction="approved",
        sensitive=["sex"], categorical=["purpose", "employment"], score="score",
    )  # fmt: skip
    stats = WindowStats.zero(spec).fold(spec, encode_columns(spec, cols))
    metrics = compute_metrics(spec, stats)
    registry = CollectorRegistry()
    AgentMetrics("EU-DE", "EU-DE", registry).latest.update(
        Report(
            report_id="r1",
            silo_id="EU-DE",
            jurisdiction="EU-DE",
            model_id="m",
            model_version="1",
            window_start_ms=0,
            window_end_ms=1,
            spec_digest=spec.digest,
            stats=stats,
            metrics=metrics,
            decision=Decision(allow=True),
        )  # fmt: skip
    )
    labels = {"silo": "EU-DE", "jurisdiction": "EU-DE", "model": "m", "version": "1"}
    sex = metrics["fairness"]["sex"]
    for group in ("F", "M"):
        for key in ("auc", "calibration_error"):
            value = registry.get_sample_value(
                f"fedgov_agent_group_{key}", labels | {"attribute": "sex", "group": group}
            )
            assert value == pytest.approx(sex["groups"][group][key], rel=1e-12)
    for key in ("auc_difference", "max_calibration_error"):
        value = registry.get_sample_value(
            f"fedgov_agent_fairness_{key}", labels | {"attribute": "sex"}
        )
        assert value == pytest.approx(sex[key], rel=1e-12)
    # an empty slot has no AUC: no sample rather than NaN
    missing = labels | {"attribute": "sex", "group": "__missing__"}
    assert registry.get_sample_value("fedgov_agent_group_auc", missing) is None
