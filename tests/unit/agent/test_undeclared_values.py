"""A window with undeclared label/prediction values: refused once, logged, never fatal to a
watching agent; `--once` and the holdout gate raise it as a DataError."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from support.agents import agent_config

from agent.client import Ack
from agent.config import config_from_dict
from agent.privacy import PrivacySettings
from agent.service import Agent
from agent.training import evaluate_candidate
from fedgov.errors import DataError
from fedgov.federated.model import FeatureMap, init_weights
from fedgov.policy import default_bundle_path
from fedgov.report import Report
from fedgov.spec import MonitoringSpec
from fedgov.synthetic import credit_data, write_table


def bad_window(path: Path, value: str = "yes", rows: int = 7) -> Path:
    cols = credit_data(400, seed=8)
    approved = cols["approved"].astype(str).astype(object)
    approved[:rows] = value
    return write_table(cols | {"approved": approved}, path)


@pytest.fixture
def agent(tmp_path: Path, spec_file: Path) -> Iterator[Agent]:
    shutil.copytree(default_bundle_path(), tmp_path / "policy")
    (tmp_path / "in").mkdir()
    cfg = config_from_dict(
        agent_config(spec_file, "in", policy="policy", poll_seconds=0.05),
        base=tmp_path,
    )
    a = Agent(cfg)
    sent: list[Report] = []
    a.client.submit = lambda report: sent.append(report) or Ack(False, None)  # type: ignore[method-assign]
    a.sent = sent  # type: ignore[attr-defined]
    yield a
    a.close()


def test_once_raises_the_data_error(agent: Agent, tmp_path: Path) -> None:
    path = bad_window(tmp_path / "in" / "w.csv")
    with pytest.raises(DataError) as info:
        agent.scan_once()
    assert str(info.value).startswith(f"{path}: column 'approved': value 'yes' (7 rows) is not")
    assert agent.outbox.pending() == []


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def test_watching_agent_logs_skips_and_keeps_running(
    agent: Agent, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    agent.register = lambda: None  # type: ignore[method-assign]  # no aggregator here
    agent.listen_commands = lambda: None  # type: ignore[method-assign]
    caplog.set_level(logging.ERROR)
    bad = bad_window(tmp_path / "in" / "a.csv")
    write_table(credit_data(400, seed=9), tmp_path / "in" / "b.csv")
    runner = threading.Thread(target=agent.run, daemon=True)
    runner.start()
    try:
        sent: list[Report] = agent.sent  # type: ignore[attr-defined]
        wait_for(lambda: len(sent) == 1)  # the good window went through
        assert "a.csv: skipped until it changes" in caplog.text
        assert "column 'approved': value 'yes' (7 rows)" in caplog.text
        assert "Traceback" not in caplog.text
        time.sleep(0.2)  # several polls: the bad window is not retried, the agent runs on
        assert runner.is_alive() and caplog.text.count("skipped until it changes") == 1
        write_table(credit_data(400, seed=10), bad)  # fixed: reported on the next poll
        wait_for(lambda: len(sent) == 2)
        assert runner.is_alive()
    finally:
        agent.stop()
        runner.join(10)
    assert not runner.is_alive()


def test_holdout_with_undeclared_values_is_a_data_error(
    tmp_path: Path, credit_spec: MonitoringSpec
) -> None:
    holdout = bad_window(tmp_path / "holdout.parquet", value="2", rows=3)
    weights = init_weights(FeatureMap.from_spec(credit_spec).n_inputs)
    with pytest.raises(DataError, match=r"column 'approved': value 2 \(3 rows\)"):
        evaluate_candidate(
            credit_spec,
            [np.asarray(w) for w in weights],
            holdout,
            engine=None,  # type: ignore[arg-type]  # refused before any decision
            silo_id="EU-DE",
            jurisdiction="EU-DE",
            chunk_rows=100,
            privacy=PrivacySettings(rho=None),
        )
