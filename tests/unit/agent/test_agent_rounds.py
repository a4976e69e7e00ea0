"""The agent around secure rounds: raw windows kept at scan time, round commands acked,
and ``run --once`` draining the pending commands and waiting for the round it joined."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.agents import agent_config
from support.secagg_rounds import make_cohort_pki, silo_ids

from agent.client import Ack, Command, RoundPoll
from agent.config import config_from_dict
from agent.service import Agent
from fedgov.report import Report
from fedgov.secagg import RoundParams
from fedgov.secagg.layout import Layout
from fedgov.spec import MonitoringSpec
from fedgov.synthetic import credit_data, write_table


class FakeAggregator:
    """What the agent calls on its client: pending commands, acks, reports, round RPCs.
    A round's first poll answers ``failed`` after ``poll_seconds``."""

    def __init__(self, commands: list[Command], poll_seconds: float = 0.5) -> None:
        self.pending = commands
        self.poll_seconds = poll_seconds
        self.acks: list[tuple[str, str, str]] = []
        self.sent: list[Report] = []
        self.submitted: list[int] = []
        self._cancelled = threading.Event()

    def commands(self, silo_id: str) -> Iterator[Command]:
        yield from self.pending
        self._cancelled.wait(30)  # a stream stays open until the agent cancels it

    def cancel_stream(self) -> None:
        self._cancelled.set()

    def ack_command(self, command_id: str, silo_id: str, status: str, message: str) -> None:
        self.acks.append((command_id, status, message))

    def submit(self, report: Report) -> Ack:
        self.sent.append(report)
        return Ack(False, None)

    def submit_many(self, reports: list[Report]) -> list[Ack]:
        return [self.submit(r) for r in reports]

    def secagg_submit(self, round_id: str, silo_id: str, stage: int, payload: bytes) -> bool:
        self.submitted.append(stage)
        return False

    def secagg_poll(self, round_id: str, silo_id: str, stage: int, wait_ms: int) -> RoundPoll:
        time.sleep(self.poll_seconds)
        return RoundPoll("failed", "too few silos advertised their keys")

    def close(self) -> None:
        pass


@pytest.fixture
def make_agent(tmp_path: Path, spec_file: Path) -> Iterator[Any]:
    pki = make_cohort_pki(tmp_path / "pki", 1)
    made: list[Agent] = []

    def make(fake: FakeAggregator, **secure_rounds: object) -> Agent:
        (tmp_path / "in").mkdir(exist_ok=True)
        tls = {"ca": str(pki / "ca.pem"), "cert": str(pki / "S01.pem"), "key": str(pki / "S01.key")}
        doc = agent_config(
            spec_file,
            tmp_path / "in",
            state_dir=tmp_path / "state",
            silo="S01",
            aggregator={"address": "127.0.0.1:1", "tls": tls},
            secure_rounds=secure_rounds,
        )
        agent = Agent(config_from_dict(doc, base=tmp_path))
        agent.client.close()
        agent.client = fake  # type: ignore[assignment]
        agent.secure_rounds.transport = fake
        made.append(agent)
        return agent

    yield make
    for agent in made:
        agent.close()


def _round(cohort: tuple[str, ...], spec: MonitoringSpec) -> Command:
    layout = Layout.of([spec])
    params = RoundParams(
        os.urandom(16).hex(),
        spec.model_id,
        "P",
        "EU-*",
        cohort,
        len(cohort),
        layout.length,
        layout.digest,
    )
    payload = {
        "params": params.to_json(),
        "layout": layout.to_json(),
        "period_start_ms": 0,
        "period_end_ms": 1000,
        "stage_seconds": 5.0,  # the aggregator sends stage_ms / 1000
    }
    return Command(params.round_id, "secagg_round", "", spec.model_id, "", "", json.dumps(payload))


def test_scan_keeps_the_unguarded_window_and_sends_the_guarded_one(
    make_agent: Any, tmp_path: Path, credit_spec: MonitoringSpec
) -> None:
    fake = FakeAggregator([])
    agent = make_agent(fake)
    write_table(credit_data(250, seed=4), tmp_path / "in" / "w1.csv")

    [report] = agent.scan_once()

    assert fake.sent[0].report_id == report.report_id
    assert report.stats.privacy.sigma is not None  # what left the silo is noised (the default)
    [kept] = agent.state.rounds.windows(credit_spec.model_id)
    assert (kept.report_id, kept.window_end_ms) == (report.report_id, report.window_end_ms)
    raw = agent.state.rounds.period_sums(credit_spec.model_id, 0, report.window_end_ms + 1)
    assert raw[credit_spec.digest].rows == 250 and not raw[credit_spec.digest].privacy.noised
    assert raw[credit_spec.digest] != report.stats  # the noise moved the report's cells


def test_with_secure_rounds_disabled_no_raw_window_is_kept(
    make_agent: Any, tmp_path: Path, credit_spec: MonitoringSpec
) -> None:
    agent = make_agent(FakeAggregator([]), enabled=False)
    write_table(credit_data(100, seed=5), tmp_path / "in" / "w1.csv")
    assert len(agent.scan_once()) == 1
    assert agent.state.rounds.windows(credit_spec.model_id) == []


def test_once_drains_the_commands_and_waits_for_the_round_it_joined(
    make_agent: Any, credit_spec: MonitoringSpec
) -> None:
    small = _round(("S01", "S02"), credit_spec)
    joined = _round(silo_ids(3), credit_spec)
    fake = FakeAggregator([small, joined], poll_seconds=0.6)
    agent = make_agent(fake)

    handled = agent.drain_commands(wait_seconds=30, idle_seconds=0.2)

    assert handled == 2
    assert [(c, s) for c, s, _ in fake.acks] == [
        (small.command_id, "rejected"),
        (joined.command_id, "accepted"),
    ]
    assert "cohort too small" in fake.acks[0][2]
    # It stayed for the round (0.6 s) although no command came after 0.2 s.
    assert agent.secure_rounds.finished[joined.command_id] == (
        "failed",
        "too few silos advertised their keys",
    )
    assert fake.submitted == [1] and not agent.secure_rounds.busy()
    value = agent.registry.get_sample_value
    labels = {"silo": "S01", "jurisdiction": "S01"}
    assert value("fedgov_agent_secure_rounds_total", labels | {"outcome": "rejected"}) == 1
    assert value("fedgov_agent_secure_rounds_total", labels | {"outcome": "failed"}) == 1
    # A redelivered command is acknowledged again, not run again.
    agent.handle_command(joined)
    assert fake.acks[-1] == (joined.command_id, "accepted", "already acknowledged")
    assert fake.submitted == [1]


def test_once_leaves_a_round_that_outlasts_wait_seconds(
    make_agent: Any, credit_spec: MonitoringSpec
) -> None:
    fake = FakeAggregator([_round(silo_ids(3), credit_spec)], poll_seconds=3.0)
    agent = make_agent(fake)
    began = time.monotonic()
    agent.drain_commands(wait_seconds=0.8, idle_seconds=0.1)
    assert time.monotonic() - began < 2.5
    assert agent.secure_rounds.busy()
