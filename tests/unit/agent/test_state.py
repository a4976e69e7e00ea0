"""The silo's state is one SQLite file; each step commits whole or not at all."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.agents import agent_config

from agent.client import Ack
from agent.config import config_from_dict
from agent.pipeline import build_report
from agent.service import Agent
from agent.state import AgentState, Window
from fedgov.policy import RegoEngine, default_bundle_path
from fedgov.report import Report, chain_hash
from fedgov.spec import MonitoringSpec
from fedgov.synthetic import credit_data, write_table


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, credit_spec: MonitoringSpec) -> Report:
    window = write_table(credit_data(300, seed=5), tmp_path_factory.mktemp("w") / "w.csv")
    engine = RegoEngine.from_bundle(default_bundle_path())
    return build_report(
        credit_spec, window, engine, silo_id="EU-DE", jurisdiction="EU-DE", chunk_rows=1000
    )


@pytest.fixture
def state(tmp_path: Path) -> Iterator[AgentState]:
    s = AgentState(tmp_path / "state")
    yield s
    s.close()


WINDOW = Window("credit-risk:/data/w.csv", "300:1")


def _consistent_and_empty(state: AgentState, report: Report) -> None:
    assert len(state.outbox) == 0
    assert state.processed_windows() == {}
    assert state.chain_head(report.model_id, report.model_version) == ""


def test_a_step_commits_outbox_window_and_chain_together(state: AgentState, report: Report) -> None:
    linked = state.record_report(report, WINDOW)
    assert linked.prev_report_hash == ""
    # Its zCDP is charged in the same step: the report says the silo's running total.
    assert linked.stats.privacy.rho_total == pytest.approx(report.stats.privacy.rho)
    assert [r.report_id for r in state.outbox.pending()] == [report.report_id]
    assert state.processed_windows() == {WINDOW.key: WINDOW.fingerprint}
    assert state.chain_head(report.model_id, report.model_version) == chain_hash(linked)
    # The same report again (its window reprocessed): the same link, one outbox row;
    # charged again (a window processed again is noised again: a second view).
    again = state.record_report(report, WINDOW)
    assert again.prev_report_hash == linked.prev_report_hash
    assert again.stats.privacy.rho_total == pytest.approx(2 * report.stats.privacy.rho)
    assert len(state.outbox) == 1
    other = dataclasses.replace(report, report_id="another")
    assert state.record_report(other).prev_report_hash == chain_hash(linked)
    state.outbox.remove(report.report_id)
    assert [r.report_id for r in state.outbox.pending()] == ["another"]


def test_an_error_after_the_outbox_insert_leaves_nothing(
    state: AgentState, report: Report, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args: object) -> None:
        raise RuntimeError("crash after the outbox insert")

    monkeypatch.setattr(AgentState, "_advance_chain", crash)
    with pytest.raises(RuntimeError, match="crash"):
        state.record_report(report, WINDOW)
    _consistent_and_empty(state, report)
    monkeypatch.undo()
    state.record_report(report, WINDOW)  # the step again, whole
    assert len(state.outbox) == 1 and state.processed_windows() == {WINDOW.key: "300:1"}


@pytest.mark.parametrize("step", ["_advance_chain", "_mark"])
def test_a_process_killed_inside_the_step_leaves_neither(
    tmp_path: Path, report: Report, step: str
) -> None:
    """os._exit inside the transaction (no rollback, no close), as with kill -9."""
    (tmp_path / "report.json").write_text(report.to_json())
    script = textwrap.dedent(
        f"""
        import json, os, sys
        from pathlib import Path
        from agent.state import AgentState, Window
        from fedgov.report import Report

        root = Path(sys.argv[1])
        report = Report.from_dict(json.loads((root / "report.json").read_text()))
        state = AgentState(root / "state")
        def die(*args):
            os._exit(9)
        setattr(AgentState, {step!r}, die)
        state.record_report(report, Window({WINDOW.key!r}, {WINDOW.fingerprint!r}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], timeout=60)
    assert done.returncode == 9
    state = AgentState(tmp_path / "state")
    try:
        _consistent_and_empty(state, report)
    finally:
        state.close()


def test_agent_crash_mid_step_reports_the_window_once_afterwards(
    tmp_path: Path, spec_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_table(credit_data(300, seed=6), tmp_path / "in" / "w.csv")
    cfg = config_from_dict(
        agent_config(spec_file, "in"),
        base=tmp_path,
    )
    sent: list[str] = []

    def started() -> Agent:
        agent = Agent(cfg)
        agent.client.submit = lambda r: sent.append(r.report_id) or Ack(False, None)  # type: ignore[method-assign]
        return agent

    def disk_full(*args: object) -> None:
        raise OSError("disk full while marking the window")

    agent = started()
    monkeypatch.setattr(AgentState, "_mark", disk_full)
    with pytest.raises(OSError, match="disk"):
        agent.scan_once()
    assert len(agent.outbox) == 0 and sent == []  # not in the outbox, so not half done
    agent.close()
    monkeypatch.undo()
    agent = started()
    try:
        (made,) = agent.scan_once()
        assert made.prev_report_hash == "" and sent == [made.report_id]
        assert agent.scan_once() == [] and sent == [made.report_id]
    finally:
        agent.close()
