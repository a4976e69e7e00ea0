"""An agent configured with opa_url decides on the OPA sidecar, with policy_engine: opa-go
on OPA's engine in-process; same contract, same decisions."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.agents import EXACT, agent_config
from support.opa_emulator import OpaEmulator

from agent.config import config_from_dict
from agent.privacy import PrivacySettings
from agent.service import Agent
from fedgov.errors import ConfigError
from fedgov.policy import OpaEngine, OpaGoEngine, RegoEngine
from fedgov.report import Report
from fedgov.synthetic import credit_data, write_table


def _decide_window(agent: Agent, path: Path) -> Report:
    from agent.pipeline import build_report

    spec = agent.models[0].spec
    # Exact counts: two engines must decide on the same input, not on two noise draws.
    return build_report(
        spec,
        path,
        agent.engine,
        silo_id="US-NY",
        jurisdiction="US-NY",
        chunk_rows=1000,
        privacy=PrivacySettings(rho=None),
    )


def test_agent_decides_on_opa(tmp_path: Path, spec_file: Path) -> None:
    write_table(credit_data(2000, seed=4, bias=0.2), tmp_path / "in" / "w.parquet")
    with OpaEmulator() as opa:
        cfg = config_from_dict(
            agent_config(spec_file, "in", silo="US-NY", opa_url=opa.url),
            base=tmp_path,
        )
        agent = Agent(cfg)
        try:
            assert isinstance(agent.engine, OpaEngine)
            report = _decide_window(agent, tmp_path / "in" / "w.parquet")
            assert not report.decision.allow and "retrain" in report.decision.actions
            assert report.decision.bundle_digest == agent.engine.digest
            assert ("POST", "/v1/data/fedgov/decision") in opa.requests
        finally:
            agent.close()


def test_agent_decides_on_opa_go_as_on_regopy(tmp_path: Path, spec_file: Path) -> None:
    """policy_engine: opa-go decides in-process on OPA's evaluator, the same as regopy."""
    write_table(credit_data(2000, seed=4, bias=0.2), tmp_path / "in" / "w.parquet")
    decisions = {}
    for engine in ("opa-go", "regopy"):
        cfg = config_from_dict(
            agent_config(spec_file, "in", silo="US-NY", policy_engine=engine), base=tmp_path
        )
        agent = Agent(cfg)
        try:
            assert isinstance(agent.engine, OpaGoEngine if engine == "opa-go" else RegoEngine)
            decisions[engine] = _decide_window(agent, tmp_path / "in" / "w.parquet").decision
        finally:
            agent.close()
    assert not decisions["opa-go"].allow and "retrain" in decisions["opa-go"].actions
    assert decisions["opa-go"] == decisions["regopy"]


def test_opa_engine_without_url_is_a_config_error(tmp_path: Path, spec_file: Path) -> None:
    (tmp_path / "in").mkdir()
    cfg = config_from_dict(agent_config(spec_file, "in", policy_engine="opa"), base=tmp_path)
    with pytest.raises(ConfigError, match="needs opa_url"):
        Agent(cfg)


def test_decision_audit_record_carries_opa_decision_log_fields(
    tmp_path: Path, spec_file: Path
) -> None:
    """The decision record has OPA's decision-log fields; its input re-decides to its result."""
    import json

    from fedgov.audit import verify_chain
    from fedgov.errors import GovernanceError

    write_table(credit_data(2000, seed=4, bias=0.2), tmp_path / "in" / "w.parquet")
    unreachable = {"address": "127.0.0.1:1", "insecure": True, "retry_seconds": 0.1}
    cfg = agent_config(spec_file, "in", silo="US-NY", aggregator=unreachable, privacy=EXACT)
    agent = Agent(config_from_dict(cfg, base=tmp_path))
    try:
        with pytest.raises(GovernanceError):  # no aggregator: the report stays in the outbox
            agent.scan_once()
        log = agent.config.state_dir / "audit.jsonl"
        (rec,) = [
            r for r in map(json.loads, log.read_text().splitlines()) if r["kind"] == "decision"
        ]
        assert rec["path"] == "fedgov/decision"
        assert rec["bundles"] == {"fedgov": {"revision": agent.engine.digest}}
        assert rec["result"] == {k: rec[k] for k in ("allow", "deny", "actions")} | {
            "warn": rec["result"]["warn"]
        }
        assert rec["timestamp"].endswith("Z") and len(rec["decision_id"]) == 36
        assert rec["input"]["silo"] == "US-NY" and rec["input"]["sample_size"] == 2000
        again = agent.engine.evaluate(rec["input"]).to_dict()
        assert again == rec["result"] | {"bundle_digest": agent.engine.digest}
        assert verify_chain(log).ok
    finally:
        agent.close()
