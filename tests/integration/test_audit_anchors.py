"""Anchored audit logs end to end: a real aggregator on port 0, a real agent, the CLI.

The agent's head travels with each report and the aggregator keeps it; each
acknowledgement carries the aggregator's signed checkpoint, which the agent
keeps in agent.db. Cutting either log below what was anchored then fails
`fedgov audit verify`, as a user runs it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.agents import silo_config
from support.cli import no_traceback, run_fedgov
from support.servers import running_aggregator

from agent.config import config_from_dict
from agent.service import Agent
from agent.state import AgentState
from aggregator.server import RunningServer
from fedgov.audit import AuditLog
from fedgov.checkpoints import CheckpointKey
from fedgov.spec import MonitoringSpec
from fedgov.synthetic import credit_data, write_table

pytestmark = pytest.mark.integration


@pytest.fixture
def anchored(tmp_path: Path, credit_spec: MonitoringSpec) -> Iterator[RunningServer]:
    """An aggregator keeping an audit log whose checkpoints it signs, EU-DE registered."""
    key = CheckpointKey.load_or_create(tmp_path / "agg.db.checkpoint.key")
    audit = AuditLog(tmp_path / "agg.db.audit.jsonl")
    with running_aggregator(
        tmp_path / "agg.db", credit_spec, audit=audit, checkpoint_key=key
    ) as running:
        running.handler.checkpoints.every_ms = 0  # a checkpoint in every ack that moved
        yield running


def _two_reports(root: Path, running: RunningServer, spec_file: Path) -> tuple[str, Agent]:
    """EU-DE's agent reports two windows, then closes; (the aggregator's address, the agent)."""
    address = f"127.0.0.1:{running.port}"
    config = silo_config(
        root, "EU-DE", spec_file, address, privacy={"min_cell_count": 0, "rho": None}
    )
    (root / "EU-DE" / "in").mkdir(parents=True)
    agent = Agent(config_from_dict(config, base=root))
    try:
        agent.register()
        for i in range(2):
            write_table(credit_data(300, seed=70 + i), root / "EU-DE" / "in" / f"w{i}.csv")
            assert len(agent.scan_once()) == 1
    finally:
        agent.close()
    return address, agent


def _cut(path: Path, keep: int) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:keep]))


def test_an_agent_log_cut_to_two_lines_fails_against_the_aggregators_heads(
    tmp_path: Path, anchored: RunningServer, spec_file: Path
) -> None:
    address, agent = _two_reports(tmp_path, anchored, spec_file)
    log = agent.audit.path
    kinds = [json.loads(line)["kind"] for line in log.read_text().splitlines()]
    assert kinds == ["policy_loaded", "decision", "report_sent", "decision", "report_sent"]
    heads = anchored.handler.store.audit_heads("EU-DE")
    assert [h.seq for h in heads] == [1, 3]  # each report's head when it was sent
    fetch = ("--aggregator", address, "--silo", "EU-DE")
    ok = run_fedgov("audit", "verify", str(log), *fetch)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "records 0..3 are anchored, 1 record(s) after them are not yet" in ok.stdout
    exported = run_fedgov("audit", "heads", *fetch, "--json")
    assert exported.returncode == 0
    anchors = tmp_path / "heads.json"
    anchors.write_text(exported.stdout)

    _cut(log, 2)  # policy_loaded and the first decision left: still a valid chain
    plain = run_fedgov("audit", "verify", str(log))
    assert plain.returncode == 0  # what a chain alone can tell
    for source in (fetch, ("--anchors", str(anchors))):
        cut = run_fedgov("audit", "verify", str(log), *source, "--json")
        no_traceback(cut)
        assert cut.returncode == 1, cut.stdout + cut.stderr
        doc = json.loads(cut.stdout)
        assert doc["records"] == 2 and any("truncated" in p for p in doc["problems"])


def test_the_ack_carries_a_checkpoint_the_agent_keeps_and_the_aggregator_log_is_held_to_it(
    tmp_path: Path, anchored: RunningServer, spec_file: Path
) -> None:
    _, agent = _two_reports(tmp_path, anchored, spec_file)
    state = AgentState(agent.config.state_dir)  # agent.db, reopened
    try:
        kept = state.checkpoints()
    finally:
        state.close()
    key = anchored.handler.checkpoints.key
    assert key is not None and len(kept) == 2
    assert all(cp.verifies(key.public) for cp in kept)
    assert kept == anchored.handler.store.checkpoints(key.key_id)  # the store holds them too
    agg_log = tmp_path / "agg.db.audit.jsonl"
    records = [json.loads(line) for line in agg_log.read_text().splitlines()]
    assert kept[-1].seq == len(records) - 1 and kept[-1].head == records[-1]["hash"]

    state_dir = tmp_path / "EU-DE" / "state"
    exported = run_fedgov("agent", "checkpoints", "--state-dir", str(state_dir), "--json")
    assert exported.returncode == 0, exported.stderr
    checkpoints = tmp_path / "checkpoints.json"
    checkpoints.write_text(exported.stdout)
    pem = run_fedgov(
        "aggregator", "public-key", "--checkpoint-key", str(tmp_path / "agg.db.checkpoint.key")
    )
    assert pem.returncode == 0 and pem.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    public = tmp_path / "aggregator.pub.pem"
    public.write_text(pem.stdout)
    verify = ("audit", "verify", str(agg_log), "--checkpoints", str(checkpoints))
    assert run_fedgov(*verify, "--public-key", str(public)).returncode == 0

    _cut(agg_log, 1)  # the aggregator drops every record after its first
    cut = run_fedgov(*verify, "--public-key", str(public))
    no_traceback(cut)
    assert cut.returncode == 1 and "truncated: the checkpoint signed" in cut.stdout
