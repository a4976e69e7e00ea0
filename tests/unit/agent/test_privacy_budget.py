"""The silo's zCDP budget over time: every report says what it cost and the running total,
a window in secure rounds costs 2 rho, and the window that would pass the budget is not sent."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from support.agents import agent_config

from agent.config import config_from_dict
from agent.pipeline import build_report
from agent.privacy import BudgetExhausted, PrivacySettings
from agent.service import Agent
from agent.state import AgentState, Window
from fedgov.errors import GovernanceError
from fedgov.policy import RegoEngine, default_bundle_path
from fedgov.privacy import histogram_count
from fedgov.report import Report
from fedgov.spec import MonitoringSpec
from fedgov.synthetic import credit_data, write_table

RHO = 0.1


def _windows(folder: Path, n: int) -> list[Path]:
    return [write_table(credit_data(300, seed=40 + i), folder / f"w{i}.csv") for i in range(n)]


def _report(spec: MonitoringSpec, tmp_path: Path, privacy: PrivacySettings) -> Report:
    (path,) = _windows(tmp_path / "in", 1)
    engine = RegoEngine.from_bundle(default_bundle_path())
    return build_report(
        spec, path, engine, silo_id="EU-DE", jurisdiction="EU-DE", chunk_rows=1000, privacy=privacy
    )


@pytest.mark.parametrize(("secure", "per_window"), [(True, 2 * RHO), (False, RHO)])
def test_rho_total_grows_by_the_charge_of_each_window(
    tmp_path: Path, credit_spec: MonitoringSpec, secure: bool, per_window: float
) -> None:
    privacy = PrivacySettings(rho=RHO, budget=10.0, secure_aggregation=secure)
    engine = RegoEngine.from_bundle(default_bundle_path())
    state = AgentState(tmp_path / "state")
    try:
        totals = []
        for i, path in enumerate(_windows(tmp_path / "in", 3)):
            report = build_report(
                credit_spec,
                path,
                engine,
                silo_id="EU-DE",
                jurisdiction="EU-DE",
                chunk_rows=1000,
                privacy=privacy,
            )
            recorded = state.record_report(report, Window(f"k{i}", "1"), budget=privacy.budget)
            p = recorded.stats.privacy
            assert p.rho == pytest.approx(per_window) and p.delta == 1e-6
            assert p.sigma == pytest.approx((histogram_count(recorded.stats) / 2 / RHO) ** 0.5)
            totals.append(p.rho_total)
        assert totals == pytest.approx([per_window, 2 * per_window, 3 * per_window])
        assert state.rho_spent() == pytest.approx(3 * per_window)
        # What goes out is what was recorded: the outbox holds the running totals.
        sent = [r.stats.privacy.rho_total for r in state.outbox.pending()]
        assert sent == pytest.approx(totals)
    finally:
        state.close()


def test_budget_refuses_the_window_that_would_pass_it(
    tmp_path: Path, spec_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Budget 0.5, 0.2 a window: two windows go out, the third is refused (not in the
    outbox, logged, audited, counted); the remaining budget is a gauge."""
    _windows(tmp_path / "in", 3)
    unreachable = {"address": "127.0.0.1:1", "insecure": True, "retry_seconds": 0.1}
    doc = agent_config(spec_file, "in", aggregator=unreachable, privacy={"rho": RHO, "budget": 0.5})
    registry = CollectorRegistry()
    agent = Agent(config_from_dict(doc, base=tmp_path), registry=registry)
    labels = {"silo": "EU-DE", "jurisdiction": "EU-DE"}
    try:
        assert registry.get_sample_value("fedgov_agent_privacy_budget_remaining", labels) == 0.5
        with caplog.at_level(logging.ERROR), pytest.raises(GovernanceError):
            agent.scan_once()  # no aggregator: what was recorded stays in the outbox
        pending = agent.outbox.pending()
        assert [r.stats.privacy.rho_total for r in pending] == pytest.approx([0.2, 0.4])
        refused = registry.get_sample_value("fedgov_agent_privacy_refused_windows_total", labels)
        assert refused == 1.0
        remaining = registry.get_sample_value("fedgov_agent_privacy_budget_remaining", labels)
        assert remaining == pytest.approx(0.1)
        message = " ".join(r.getMessage() for r in caplog.records if "budget" in r.getMessage())
        assert "past privacy.budget = 0.5" in message and "not sent" in message
        assert "raise privacy.budget" in message and "lower privacy.rho" in message
        log = agent.config.state_dir / "audit.jsonl"
        kinds = [json.loads(line)["kind"] for line in log.read_text().splitlines()]
        assert kinds.count("privacy_budget_exhausted") == 1
        # The refused window is kept as done: the next scan neither sends nor re-refuses it.
        with pytest.raises(GovernanceError):
            agent.scan_once()
        assert len(agent.outbox) == 2
        assert registry.get_sample_value("fedgov_agent_privacy_refused_windows_total", labels) == 1
    finally:
        agent.close()


def test_refusal_records_nothing(tmp_path: Path, credit_spec: MonitoringSpec) -> None:
    report = _report(credit_spec, tmp_path, PrivacySettings(rho=RHO))
    state = AgentState(tmp_path / "state")
    try:
        with pytest.raises(BudgetExhausted, match="past privacy.budget = 0.1"):
            state.record_report(report, Window("k", "1"), budget=0.1)
        assert len(state.outbox) == 0 and state.rho_spent() == 0.0
        assert state.processed_windows() == {}
    finally:
        state.close()


def test_exact_counts_opt_out_charges_nothing(tmp_path: Path, credit_spec: MonitoringSpec) -> None:
    report = _report(credit_spec, tmp_path, PrivacySettings(rho=None))
    assert report.stats.rows == 300 and not report.stats.privacy.noised
    state = AgentState(tmp_path / "state")
    try:
        assert state.record_report(report, budget=None).stats.privacy.rho_total is None
        assert state.rho_spent() == 0.0
    finally:
        state.close()
