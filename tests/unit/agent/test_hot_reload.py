"""The agent swaps in a changed bundle only if it compiles; a broken one is refused."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from support.agents import agent_config

from agent.config import config_from_dict
from agent.service import Agent
from fedgov.audit import verify_chain
from fedgov.policy import default_bundle_path


@pytest.fixture
def agent(tmp_path: Path, spec_file: Path) -> Agent:
    bundle = tmp_path / "policy"
    shutil.copytree(default_bundle_path(), bundle)
    (tmp_path / "in").mkdir()
    cfg = config_from_dict(
        agent_config(spec_file, "in", policy="policy"),
        base=tmp_path,
    )
    a = Agent(cfg)
    yield a
    a.close()


def _kinds(agent: Agent) -> list[str]:
    lines = (agent.config.state_dir / "audit.jsonl").read_text().splitlines()
    return [json.loads(line)["kind"] for line in lines]


def test_unchanged_bundle_is_not_reloaded(agent: Agent) -> None:
    assert agent.reload_policy_if_changed() is False
    assert _kinds(agent) == ["policy_loaded"]


def test_broken_bundle_rejected_previous_keeps_serving(
    agent: Agent, caplog: pytest.LogCaptureFixture
) -> None:
    serving = agent.engine
    policy = agent.config.policy / "policy.rego"
    policy.write_text(policy.read_text() + "\nthis is not rego {\n")
    caplog.set_level(logging.ERROR)
    assert agent.reload_policy_if_changed() is False
    assert agent.engine is serving
    assert "rejected" in caplog.text and "policy.rego" in caplog.text
    # Logged and audited once, not on every poll.
    assert agent.reload_policy_if_changed() is False
    assert _kinds(agent).count("policy_rejected") == 1
    decision = agent.engine.evaluate({"sample_size": 10})
    assert decision.bundle_digest == serving.digest
    assert verify_chain(agent.config.state_dir / "audit.jsonl").ok


def test_valid_change_is_swapped_in(agent: Agent) -> None:
    old = agent.engine.digest
    data = agent.config.policy / "data.json"
    doc = json.loads(data.read_text())
    doc["fedgov"]["thresholds"]["psi_max"] = 0.5
    data.write_text(json.dumps(doc))
    assert agent.reload_policy_if_changed() is True
    assert agent.engine.digest != old
    assert _kinds(agent)[-1] == "policy_reloaded"
