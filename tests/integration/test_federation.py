"""Real gRPC aggregator on port 0, real agents, real Rego, real SQLite."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.agents import silo_config
from support.ports import free_port

from agent.config import config_from_dict
from agent.service import Agent
from aggregator.query_client import QueryClient
from aggregator.server import RunningServer, create_server
from aggregator.store import SqliteStore
from fedgov.errors import TransportError
from fedgov.metrics import compute_metrics
from fedgov.report import Report
from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats, encode_columns
from fedgov.synthetic import credit_data, write_table
from fedgov.wire.retry import Backoff

pytestmark = pytest.mark.integration

SILOS = {"EU-DE": (1.0, 0.0), "EU-FR": (0.0, 0.0), "US-NY": (0.0, 0.15)}


def _agent(root: Path, silo: str, address: str, spec_file: Path, **kw: object) -> Agent:
    config = config_from_dict(
        # Exact federated == pooled holds only without suppression or noise.
        silo_config(root, silo, spec_file, address, privacy={"min_cell_count": 0, "rho": None}),
        base=root,
    )
    return Agent(config, **kw)  # type: ignore[arg-type]


def _write_windows(root: Path, rows: int = 3000) -> dict[str, dict[str, np.ndarray]]:
    data = {}
    for i, (silo, (drift, bias)) in enumerate(SILOS.items()):
        data[silo] = credit_data(rows, seed=50 + i, drift=drift, bias=bias)
        write_table(data[silo], root / silo / "in" / f"w1.{'csv' if i == 1 else 'parquet'}")
    return data


def _pooled_metrics(spec: MonitoringSpec, parts: list[dict[str, np.ndarray]]) -> dict:
    pooled = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    stats = WindowStats.zero(spec).fold(spec, encode_columns(spec, pooled))
    return compute_metrics(spec, stats)


def _close(a: object, b: object) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys()
        for k in a:
            _close(a[k], b[k])
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12)
    else:
        assert a == b


def test_three_silos_report_merge_and_dispatch(
    tmp_path: Path, aggregator: RunningServer, credit_spec: MonitoringSpec, spec_file: Path
) -> None:
    address = f"127.0.0.1:{aggregator.port}"
    data = _write_windows(tmp_path)
    agents = [_agent(tmp_path, s, address, spec_file) for s in SILOS]
    listeners = []
    try:
        for a in agents:
            a.register()
            t = threading.Thread(target=a.listen_commands, daemon=True)
            t.start()
            listeners.append(t)
        reports = {a.config.silo_id: a.scan_once()[0] for a in agents}
        assert aggregator.handler.store.count_reports() == 3
        assert not reports["EU-FR"].decision.deny
        assert "retrain" in reports["EU-DE"].decision.actions
        assert "retrain" in reports["US-NY"].decision.actions

        with QueryClient(address) as q:
            # Federated equals pooled: merged EU figures from summed counts.
            eu = q.fairness("credit-risk", jurisdiction_glob="EU-*")
            assert eu.silos == ("EU-DE", "EU-FR") and eu.rows == 6000
            # The evidence an auditor's report cites: which reports, under which spec.
            assert eu.report_ids == tuple(sorted(reports[s].report_id for s in eu.silos))
            assert eu.spec_digest == credit_spec.digest and eu.round_ids == eu.withheld == ()
            _close(eu.metrics, _pooled_metrics(credit_spec, [data["EU-DE"], data["EU-FR"]]))
            everyone = q.fairness("credit-risk")
            _close(everyone.metrics, _pooled_metrics(credit_spec, list(data.values())))

            drift = q.drift(0.2)
            assert {r.silo for r in drift} == {"EU-DE"}
            assert all(r.psi > 0.2 for r in drift)
            assert q.drift(0.2, jurisdiction_glob="US-*") == []

            decisions = {d.silo: d for d in q.decisions()}
            assert decisions["EU-FR"].allow and not decisions["US-NY"].allow
            assert any("demographic parity" in r for r in decisions["US-NY"].deny)

            # One job for the model; every silo serving it acknowledges.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                jobs = q.jobs()
                if jobs and len(jobs[0].acked_silos) == 3:
                    break
                time.sleep(0.05)
            assert len(jobs) == 1
            assert sorted(jobs[0].acked_silos) == sorted(SILOS)
            assert all(len(a.received) == 1 and a.received[0].kind == "retrain" for a in agents)
    finally:
        for a in agents:
            a.close()
        for t in listeners:
            t.join(timeout=5)


def test_same_report_twice_is_stored_once(
    tmp_path: Path, aggregator: RunningServer, spec_file: Path
) -> None:
    address = f"127.0.0.1:{aggregator.port}"
    _write_windows(tmp_path, rows=500)
    agent = _agent(tmp_path, "EU-FR", address, spec_file)
    try:
        agent.register()
        (report,) = agent.scan_once()
        assert aggregator.handler.store.count_reports() == 1
        assert agent.client.submit(report).duplicate is True  # acknowledged as a duplicate
        assert aggregator.handler.store.count_reports() == 1
        stored = aggregator.handler.store.get_report(report.report_id)
        assert stored is not None and stored.stats == report.stats
        # Re-processing the same window (e.g. after a crash) yields the same id.
        with agent.state.transaction() as db:
            db.execute("DELETE FROM windows")  # the window ledger lost
        (again,) = agent.scan_once()
        assert again.report_id == report.report_id
        assert aggregator.handler.store.count_reports() == 1
    finally:
        agent.close()


def test_aggregator_down_retries_keeps_outbox_then_delivers(
    tmp_path: Path, spec_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    _write_windows(tmp_path, rows=500)
    agent = _agent(
        tmp_path,
        "EU-DE",
        f"127.0.0.1:{port}",
        spec_file,
        backoff=Backoff(initial=0.05, maximum=0.2, max_elapsed=1.0),
    )
    caplog.set_level(logging.WARNING)
    try:
        with pytest.raises(TransportError, match="Is it running"):
            agent.register()
        with pytest.raises(TransportError):
            agent.scan_once()
        assert "retry" in caplog.text and "unavailable" in caplog.text
        assert len(agent.outbox) == 1  # nothing lost
        running = create_server(f"127.0.0.1:{port}", SqliteStore(tmp_path / "late.db"))
        # The channel notices the server at its next reconnect attempt, at most
        # RECONNECT_BACKOFF_MS[1] away: give the retry longer than that to see it.
        agent.client.backoff = Backoff(initial=0.05, maximum=0.2, max_elapsed=10.0)
        try:
            agent.register()
            assert agent.flush_outbox() == 1
            assert len(agent.outbox) == 0
            assert running.handler.store.count_reports() == 1
        finally:
            running.stop(grace=1.0)
            running.handler.store.close()
    finally:
        agent.close()


def _stored_report(
    tmp_path: Path, aggregator: RunningServer, spec_file: Path, **kw: Any
) -> tuple[Report, Report]:
    """One 400-row window of EU-FR, sent with ``kw`` (silo config); (sent, stored)."""
    address = f"127.0.0.1:{aggregator.port}"
    write_table(credit_data(400, seed=3), tmp_path / "EU-FR" / "in" / "w.csv")
    config = config_from_dict(
        silo_config(tmp_path, "EU-FR", spec_file, address, **kw), base=tmp_path
    )
    agent = Agent(config)
    try:
        agent.register()
        (report,) = agent.scan_once()
    finally:
        agent.close()
    stored = aggregator.handler.store.get_report(report.report_id)
    assert stored is not None
    return report, stored


def test_default_guard_noises_every_count_and_states_its_cost(
    tmp_path: Path, aggregator: RunningServer, spec_file: Path
) -> None:
    """By default what reaches the aggregator is discrete Gaussian noised, and says so:
    sigma, rho charged (2 x 0.05: the silo takes part in secure rounds), the running total
    and delta; its metrics are computed from the noised counts, not the exact ones."""
    _, stored = _stored_report(tmp_path, aggregator, spec_file)
    p = stored.stats.privacy
    assert p.k is None and p.sigma is not None and p.sigma > 10
    assert (p.rho, p.rho_total, p.delta) == (pytest.approx(0.1), pytest.approx(0.1), 1e-6)
    sex = stored.stats.outcomes["sex"]
    for g, counts in zip(sex.groups, sex.counts, strict=True):
        group = stored.metrics["fairness"]["sex"]["groups"].get(g)
        if group is not None:
            assert group["count"] == int(counts.sum())


def test_opt_in_suppression_hides_small_cells_before_sending(
    tmp_path: Path, aggregator: RunningServer, spec_file: Path
) -> None:
    """With privacy: {rho: null, min_cell_count: 10} nothing between 1 and 9 rows leaves."""
    privacy = {"rho": None, "min_cell_count": 10}
    _, stored = _stored_report(tmp_path, aggregator, spec_file, privacy=privacy)
    assert stored.stats.privacy.k == 10
    cells = [fc.counts for fc in stored.stats.features.values()]
    cells += [fc.fine for fc in stored.stats.features.values() if fc.fine is not None]
    cells += [oc.counts.ravel() for oc in stored.stats.outcomes.values()]
    assert all(not ((c > 0) & (c < 10)).any() for c in cells)
    assert sum(fc.suppressed + fc.fine_suppressed for fc in stored.stats.features.values()) > 0
    for attr in stored.metrics["fairness"].values():
        for g in attr["groups"].values():
            assert g["count"] == 0 or g["count"] >= 10


def test_agent_reports_form_a_chain_the_aggregator_accepts(
    tmp_path: Path, aggregator: RunningServer, spec_file: Path
) -> None:
    from fedgov.report import chain_hash

    address = f"127.0.0.1:{aggregator.port}"
    (tmp_path / "EU-FR" / "in").mkdir(parents=True)
    agent = _agent(tmp_path, "EU-FR", address, spec_file)
    try:
        agent.register()
        made = []
        for n in range(3):
            write_table(credit_data(300, seed=70 + n), tmp_path / "EU-FR" / "in" / f"w{n}.csv")
            made += agent.scan_once()
    finally:
        agent.close()
    assert [r.prev_report_hash for r in made] == ["", chain_hash(made[0]), chain_hash(made[1])]
    stored = [aggregator.handler.store.get_report(r.report_id) for r in made]
    assert [s.prev_report_hash for s in stored if s] == [r.prev_report_hash for r in made]
