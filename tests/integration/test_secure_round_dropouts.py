"""Secure rounds against the real aggregator (gRPC, mTLS, port 0) with real agents on
their default privacy settings: exact figures for small groups, dropouts, replays.

- Small groups split across silos: every group whose merged total is at least k is
  released and equals the pooled figure exactly, although each silo holds fewer than k
  rows of it (per-silo suppression would have hidden it) and every clear report is noised.
- 4 silos, m = 3: one silo dies after sharing its keys -> the round completes with the
  exact sum of the other three; two die -> the round fails, audited, nothing released.
- A completed (model, period, part) is not summed again, and its messages are gone.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.agents import silo_config
from support.pki import audit_path, make_pki, mtls_aggregator

from agent.config import config_from_dict
from agent.service import Agent
from aggregator.partition import RoundSettings
from aggregator.server import RunningServer
from fedgov.data import fold_file
from fedgov.errors import RoundRefused
from fedgov.metrics import compute_metrics
from fedgov.report import now_ms
from fedgov.spec import MonitoringSpec
from fedgov.synthetic import credit_data, write_table
from fedgov.v1 import report_pb2
from fedgov.wire import stats_from_proto

pytestmark = [pytest.mark.integration]


def _window(n: int, seed: int, small: int) -> dict[str, Any]:
    """``n`` rows of credit data in which women under 30 are only ``small`` rows."""
    cols = credit_data(n, seed=seed)
    keep = ~((cols["sex"] == "F") & (cols["age_band"] == "<30"))
    idx = np.flatnonzero(keep)
    rare = np.flatnonzero(~keep)[:small]
    rows = np.sort(np.concatenate([idx, rare]))
    return {k: np.asarray(v)[rows] for k, v in cols.items()}


@contextmanager
def _agents(
    tmp_path: Path, pki: Path, running: RunningServer, spec_file: Path, silos: Sequence[str],
    smalls: Sequence[int],
) -> Iterator[list[Agent]]:  # fmt: skip
    address = f"127.0.0.1:{running.port}"
    agents: list[Agent] = []
    try:
        for n, (sid, small) in enumerate(zip(silos, smalls, strict=True)):
            doc = silo_config(tmp_path, sid, spec_file, address)
            doc.pop("privacy", None)  # the default guard: discrete Gaussian noise
            doc["aggregator"] = {
                "address": address,
                "tls": {k: str(pki / f"{sid}.{e}") for k, e in (("cert", "pem"), ("key", "key"))}
                | {"ca": str(pki / "ca.pem")},
            }
            (tmp_path / sid / "in").mkdir(parents=True)
            write_table(_window(400 + 50 * n, n, small), tmp_path / sid / "in" / "w.parquet")
            agent = Agent(config_from_dict(doc, base=tmp_path))
            agents.append(agent)
            agent.register()
            assert len(agent.scan_once()) == 1
        yield agents
    finally:
        for a in agents:
            a.close()


def _run(agents: Sequence[Agent]) -> None:
    threads = [
        threading.Thread(target=a.drain_commands, kwargs={"wait_seconds": 60}) for a in agents
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)


def _dies_after_sharing_keys(agent: Agent) -> None:
    """The silo stops before its masked vector, as a process killed mid-round would."""
    submit = agent.client.secagg_submit

    def submit_or_die(round_id: str, silo_id: str, stage: int, payload: bytes) -> bool:
        if stage >= 3:
            agent.stop()
            raise ConnectionError(f"{silo_id} was killed")
        return submit(round_id, silo_id, stage, payload)

    agent.client.secagg_submit = submit_or_die  # type: ignore[method-assign]


def _period_now(start: int) -> tuple[int, int]:
    time.sleep(0.01)
    return start, now_ms()


def test_small_groups_split_across_silos_are_exact_in_the_secure_sum(
    tmp_path: Path, spec_file: Path, credit_spec: MonitoringSpec
) -> None:
    silos, smalls = ("S01", "S02", "S03"), (4, 3, 5)  # 12 women under 30 in all
    pki = make_pki(tmp_path / "pki", {s: s for s in silos})
    with mtls_aggregator(tmp_path, pki) as running:
        start = now_ms() - 1000
        with _agents(tmp_path, pki, running, spec_file, silos, smalls) as agents:
            [opened] = running.handler.rounds.open(credit_spec.model_id, *_period_now(start))
            _run(agents)
            assert running.handler.store.get_round(opened.round_id).status == "completed"
            secure = running.handler.query_fairness(credit_spec.model_id, source="secure")
            reports = running.handler.query_fairness(credit_spec.model_id, source="reports")
        pooled = None
        for sid in silos:
            s = fold_file(tmp_path / sid / "in" / "w.parquet", credit_spec, chunk_rows=4096)
            pooled = s if pooled is None else pooled.merge(s)
        assert pooled is not None
        truth = compute_metrics(credit_spec, pooled)["fairness"]
    assert secure.source == "exact, secure sum of 3 silos"
    assert len(secure.round_ids) == 1 and secure.report_ids == () and secure.withheld == ()
    assert secure.spec_digest == credit_spec.digest
    assert reports.source.startswith("per-silo reports, protected (discrete Gaussian")
    assert secure.rows == pooled.rows
    cell = truth["sex*age_band"]["groups"]["F|<30"]
    assert cell["count"] == sum(smalls) >= 10  # each silo alone holds fewer than k = 10
    compared = 0
    for attr, m in truth.items():
        for group, gm in m["groups"].items():
            if gm["count"] >= 10:
                assert secure.metrics["fairness"][attr]["groups"][group] == gm, (attr, group)
                compared += 1
    assert compared >= 10
    # The clear path is noised: the per-silo merge is not the pooled figure.
    got = reports.metrics["fairness"]["sex*age_band"]["groups"]["F|<30"]
    assert (got["count"], got["positives"]) != (cell["count"], cell["positives"])


@pytest.mark.parametrize("killed", [1, 2])
def test_dropouts_four_silos_m3(
    tmp_path: Path, spec_file: Path, credit_spec: MonitoringSpec, killed: int
) -> None:
    silos = ("S01", "S02", "S03", "S04")
    pki = make_pki(tmp_path / "pki", {s: s for s in silos})
    with mtls_aggregator(tmp_path, pki) as running:
        running.handler.rounds.settings = RoundSettings(min_cohort=3, stage_ms=3000)
        start = now_ms() - 1000
        with _agents(tmp_path, pki, running, spec_file, silos, (6, 6, 6, 6)) as agents:
            for victim in agents[len(agents) - killed :]:
                _dies_after_sharing_keys(victim)
            [opened] = running.handler.rounds.open(credit_spec.model_id, *_period_now(start))
            assert json.loads(opened.params)["threshold"] == 3
            _run(agents)
            store = running.handler.store
            done = store.get_round(opened.round_id)
            assert done is not None
            releases = store.releases(credit_spec.model_id)
            assert store.round_messages(opened.round_id, 3) == {}  # forgotten either way
            if killed == 1:
                assert done.status == "completed", done.reason
                assert done.survivors == ("S01", "S02", "S03") and done.dropped == ("S04",)
                [release] = releases
                rows = stats_from_proto(report_pb2.WindowStats.FromString(release.stats)).rows
                assert rows == sum(
                    fold_file(tmp_path / s / "in" / "w.parquet", credit_spec, chunk_rows=4096).rows
                    for s in silos[:3]
                )
                # A second round for the same (model, period, part) is not summed again.
                [again] = running.handler.rounds.open(
                    credit_spec.model_id, opened.period_start_ms, opened.period_end_ms
                )
                assert again.round_id == opened.round_id and again.status == "completed"
                with pytest.raises(RoundRefused, match="completed"):
                    running.handler.rounds.submit(opened.round_id, "S01", 1, b"x")
            else:
                assert done.status == "failed"
                assert "masked input" in done.reason and "3 needed" in done.reason
                assert releases == []
                failed = [
                    json.loads(line)
                    for line in audit_path(tmp_path).read_text().splitlines()
                    if '"round_failed"' in line
                ]
                assert failed and failed[-1]["round_id"] == opened.round_id
