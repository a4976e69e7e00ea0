"""An agent configured with opa_url decides on the OPA sidecar, same contract."""

from __future__ import annotations

from pathlib import Path

from support.agents import agent_config
from support.opa_emulator import OpaEmulator

from agent.config import config_from_dict
from agent.service import Agent
from fedgov.policy import OpaEngine
from fedgov.synthetic import credit_data, write_table


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
            from agent.pipeline import build_report

            report = build_report(
                agent.models[0].spec,
                tmp_path / "in" / "w.parquet",
                agent.engine,
                silo_id="US-NY",
                jurisdiction="US-NY",
                chunk_rows=1000,
            )
            assert not report.decision.allow and "retrain" in report.decision.actions
            assert report.decision.bundle_digest == agent.engine.digest
            assert ("POST", "/v1/data/fedgov/decision") in opa.requests
        finally:
            agent.close()
