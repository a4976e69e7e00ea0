"""A state directory of the agents before agent.db (four files) is imported on start.

The old files are written here exactly as the old code wrote them (agent/outbox.py's
schema and statements, runner.py's json.dumps(..., indent=1) and commands.jsonl lines).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from support.agents import agent_config

from agent.client import Ack, Command
from agent.config import AgentConfig, config_from_dict
from agent.pipeline import build_report
from agent.service import Agent
from fedgov.errors import DataError
from fedgov.policy import RegoEngine, default_bundle_path
from fedgov.report import Report, chain_hash
from fedgov.synthetic import credit_data, write_table

OLD_FILES = ("outbox.db", "processed.json", "chain.json", "commands.jsonl")

# agent/outbox.py before agent.db
_OLD_OUTBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    report_id TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL
);
"""


def write_old_outbox(path: Path, reports: list[Report]) -> None:
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA busy_timeout=5000")
    db.executescript(_OLD_OUTBOX_SCHEMA)
    for report in reports:
        db.execute(
            "INSERT OR IGNORE INTO outbox (report_id, payload) VALUES (?, ?)",
            (report.report_id, report.to_json()),
        )
    db.close()


def write_old_json(path: Path, doc: dict[str, str]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(path)


def old_ledger_entry(model_id: str, path: Path) -> tuple[str, str]:
    st = path.stat()
    return f"{model_id}:{path.resolve()}", f"{st.st_size}:{st.st_mtime_ns}"


def old_command_line(command_id: str, kind: str, job_id: str, status: str) -> str:
    return (
        json.dumps(
            {
                "command_id": command_id,
                "kind": kind,
                "job_id": job_id,
                "status": status,
                "received_ms": 1_700_000_000_000,
            }
        )
        + "\n"
    )


def _config(root: Path, spec_file: Path) -> AgentConfig:
    return config_from_dict(
        agent_config(spec_file, "in"),
        base=root,
    )


@dataclasses.dataclass
class OldSilo:
    config: AgentConfig
    acked: Report  # w0: sent and acknowledged before the upgrade
    pending: Report  # w1: in the old outbox, never acknowledged


@pytest.fixture
def old_silo(tmp_path: Path, spec_file: Path) -> OldSilo:
    """What the old agent left: w0 reported and acked, w1 reported but still in the
    outbox, the chain at w1, and commands c1 (join_training, rejected) and c2 (retrain)
    acknowledged."""
    config = _config(tmp_path, spec_file)
    inbox = tmp_path / "in"
    windows = [write_table(credit_data(300, seed=n), inbox / f"w{n}.csv") for n in (0, 1)]
    from fedgov.spec import load_spec

    spec = load_spec(spec_file)
    engine = RegoEngine.from_bundle(default_bundle_path())
    built = [
        build_report(
            spec,
            w,
            engine,
            silo_id="EU-DE",
            jurisdiction="EU-DE",
            chunk_rows=config.chunk_rows,
            privacy=config.privacy,
        )
        for w in windows
    ]
    r0 = dataclasses.replace(built[0], prev_report_hash="")
    r1 = dataclasses.replace(built[1], prev_report_hash=chain_hash(r0))
    state = config.state_dir
    state.mkdir()
    write_old_outbox(state / "outbox.db", [r1])
    write_old_json(
        state / "processed.json", dict(old_ledger_entry("credit-risk", w) for w in windows)
    )
    key = f"{r1.model_id}/{r1.model_version}"
    chain = {key: chain_hash(r1), key + "#id": r1.report_id, key + "#prev": r1.prev_report_hash}
    write_old_json(state / "chain.json", chain)
    with open(state / "commands.jsonl", "a", encoding="utf-8") as fh:
        fh.write(old_command_line("c1", "join_training", "job1", "rejected"))
        fh.write(old_command_line("c2", "retrain", "job1", "accepted"))
    (state / "audit.jsonl").write_text("")  # the audit log is not state: left where it is
    return OldSilo(config, r0, r1)


class Recorder:
    def __init__(self, agent: Agent) -> None:
        self.sent: list[str] = []
        self.acks: list[tuple[str, str, str]] = []
        agent.client.submit = self._submit  # type: ignore[method-assign]
        agent.client.submit_many = self._submit_many  # type: ignore[method-assign]
        agent.client.ack_command = self._ack  # type: ignore[method-assign]

    def _submit(self, report: Report) -> Ack:
        self.sent.append(report.report_id)
        return Ack(duplicate=False, checkpoint=None)

    def _submit_many(self, reports: list[Report]) -> list[Ack]:
        return [self._submit(r) for r in reports]

    def _ack(self, command_id: str, silo_id: str, status: str, message: str) -> None:
        self.acks.append((command_id, status, message))


@pytest.fixture
def start(old_silo: OldSilo) -> Iterator[Any]:
    agents: list[Agent] = []

    def _start() -> tuple[Agent, Recorder]:
        agent = Agent(old_silo.config)
        agents.append(agent)
        return agent, Recorder(agent)

    yield _start
    for a in agents:
        a.close()


def _command(command_id: str, kind: str) -> Command:
    payload = '{"superlink": "127.0.0.1:1"}' if kind == "join_training" else ""
    return Command(command_id, kind, "job1", "credit-risk", "1.0.0", "drift", payload)


def test_old_state_is_imported_and_nothing_is_redone(old_silo: OldSilo, start: Any) -> None:
    state_dir = old_silo.config.state_dir
    agent, rec = start()
    assert [r.report_id for r in agent.outbox.pending()] == [old_silo.pending.report_id]
    for name in OLD_FILES:  # renamed, not deleted
        assert not (state_dir / name).exists()
        assert (state_dir / f"{name}.migrated").exists()
    assert (state_dir / "agent.db").exists() and (state_dir / "audit.jsonl").exists()

    write_table(credit_data(300, seed=2), old_silo.config.models[0].input / "w2.csv")
    (r2,) = agent.scan_once()  # w0 and w1 are not processed again
    assert rec.sent == [old_silo.pending.report_id, r2.report_id]  # w0's report not resent
    assert r2.prev_report_hash == chain_hash(old_silo.pending)  # the chain goes on

    for cmd_id, kind in (("c1", "join_training"), ("c2", "retrain")):
        agent.handle_command(_command(cmd_id, kind))
    assert rec.acks == [
        ("c1", "accepted", "already acknowledged"),
        ("c2", "accepted", "already acknowledged"),
    ]
    assert agent.silo_commands.supernodes == {}  # join_training was not executed again
    agent.handle_command(_command("c3", "retrain"))  # a new command is handled as before
    assert rec.acks[-1][:2] == ("c3", "accepted")


def test_restart_after_import_reads_only_the_database(old_silo: OldSilo, start: Any) -> None:
    agent, rec = start()
    agent.flush_outbox()
    agent.close()
    agent, rec = start()
    assert agent.scan_once() == [] and rec.sent == []
    assert sorted(p.name for p in old_silo.config.state_dir.glob("*.migrated")) == sorted(
        f"{n}.migrated" for n in OLD_FILES
    )


def test_old_files_back_after_the_import_are_not_imported_twice(
    old_silo: OldSilo, start: Any
) -> None:
    """A crash after the import committed and before the renames: the files are still
    there on the next start, and the database says they were imported."""
    state_dir = old_silo.config.state_dir
    agent, rec = start()
    assert agent.flush_outbox() == 1  # w1 acknowledged: it left the outbox
    agent.close()
    for name in OLD_FILES:
        shutil.copy2(state_dir / f"{name}.migrated", state_dir / name)
    agent, rec = start()
    assert agent.outbox.pending() == []  # w1 is not back
    assert agent.scan_once() == [] and rec.sent == []
    for name in OLD_FILES:
        assert not (state_dir / name).exists() and (state_dir / f"{name}.migrated.1").exists()


def test_a_torn_last_command_line_is_skipped(old_silo: OldSilo, start: Any) -> None:
    with open(old_silo.config.state_dir / "commands.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"command_id": "c9", "ki')  # a crash mid-append: its ack was never sent
    agent, rec = start()
    agent.handle_command(_command("c9", "retrain"))
    agent.handle_command(_command("c2", "retrain"))
    assert [a[2] for a in rec.acks] == [
        "retraining acknowledged; waiting to join the Flower run",
        "already acknowledged",
    ]


def test_an_unreadable_old_file_stops_the_start_and_is_named(old_silo: OldSilo) -> None:
    path = old_silo.config.state_dir / "processed.json"
    path.write_text("{not json")
    with pytest.raises(DataError, match="processed.json: old state file cannot be read"):
        Agent(old_silo.config)
    assert path.exists()  # nothing renamed, nothing half imported
    with closing(sqlite3.connect(old_silo.config.state_dir / "agent.db")) as db:
        assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
