"""A silo whose window is Parquet read by Spark, end to end: ``silo.yaml`` with
``input: {engine: spark, ...}`` -> the agent folds it on ``local[2]`` -> one report,
stored by a real aggregator, with the local engine's counts and the window's identity."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.agents import EXACT, agent_config
from support.cli import no_traceback, run_fedgov
from support.servers import running_aggregator
from support.specs import derive_credit_spec

from agent.config import load_agent_config
from agent.service import Agent
from fedgov.data import SparkInput, fold_file, open_spark_window
from fedgov.spec import save_spec
from fedgov.stats import WindowStats
from fedgov.synthetic import credit_data, write_table

pytestmark = pytest.mark.integration


def test_one_report_from_a_spark_input(spark: Any, tmp_path: Path) -> None:
    spec = derive_credit_spec()
    save_spec(spec, tmp_path / "spec.json")
    files = [
        write_table(credit_data(1500, seed=s, drift=0.3), tmp_path / "big" / f"part-{s}.parquet")
        for s in (1, 2)
    ]
    with running_aggregator(tmp_path / "agg.db", spec) as aggregator:
        doc = agent_config(
            "spec.json",
            "unused",
            state_dir="state",
            address=f"127.0.0.1:{aggregator.port}",
            privacy=EXACT,
            secure_rounds={"enabled": False},
        )
        doc["models"][0]["input"] = {"engine": "spark", "path": "big", "master": "local[2]"}
        (tmp_path / "silo.yaml").write_text(yaml.safe_dump(doc))
        agent = Agent(load_agent_config(tmp_path / "silo.yaml"))
        try:
            agent.register()
            (report,) = agent.scan_once()
            stored = aggregator.handler.store.get_report(report.report_id)
            assert stored is not None and agent.outbox.pending() == []
            local = fold_file(files[0], spec).merge(fold_file(files[1], spec))
            assert stored.stats == local and stored.stats.rows == 3000
            identity = open_spark_window(SparkInput(path=str(tmp_path / "big"))).identity
            assert stored.input_digest == identity
            assert agent.scan_once() == []  # the same files: not a new window
            st = files[0].stat()
            os.utime(files[0], ns=(st.st_atime_ns, st.st_mtime_ns + 3_000_000_000))
            (again,) = agent.scan_once()  # a file changed: a new window, a new id
            assert again.report_id != report.report_id
            assert WindowStats.from_dict(again.stats.to_dict()) == local
        finally:
            agent.close()


@pytest.mark.slow
def test_cli_on_a_missing_path_exits_3_without_a_java_trace(tmp_path: Path) -> None:
    """As a user runs it (its own JVM): our message and exit code, no stack trace."""
    pytest.importorskip("pyspark")
    save_spec(derive_credit_spec(), tmp_path / "spec.json")
    p = run_fedgov(
        "stats", "--engine", "spark", "--master", "local[1]", str(tmp_path / "nowhere"),
        "--spec", str(tmp_path / "spec.json"),
    )  # fmt: skip
    assert p.returncode == 3, p.stderr
    assert f"fedgov: error: {tmp_path / 'nowhere'}: Spark cannot read it: [PATH_NOT_FOUND]" in (
        p.stderr
    )
    no_traceback(p)
    assert "\tat " not in p.stderr  # no JVM frames either
