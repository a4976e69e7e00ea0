from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli import run_fedgov

from fedgov.audit import GENESIS, AuditLog, verify_chain
from fedgov.errors import ConfigError


def _log(tmp_path: Path, n: int = 5) -> Path:
    log = AuditLog(tmp_path / "audit.jsonl")
    for i in range(n):
        log.append("decision", report_id=f"r{i}", allow=i % 2 == 0)
    return log.path


def test_chain_verifies_and_reopens(tmp_path: Path) -> None:
    path = _log(tmp_path)
    rep = verify_chain(path)
    assert rep.ok and rep.records == 5 and rep.head != GENESIS
    again = AuditLog(path)  # continues the chain
    rec = again.append("report_sent", report_id="r5")
    assert rec["seq"] == 5 and rec["prev"] == rep.head
    assert verify_chain(path).records == 6


@pytest.mark.parametrize(
    "tamper, line, reason",
    [
        (lambda ls: ls.__setitem__(2, ls[2].replace('"allow":true', '"allow":false')), 3, "hash"),
        (lambda ls: ls.pop(1), 2, "sequence"),
        (lambda ls: ls.insert(3, ls[3]), 5, "sequence"),
        (lambda ls: ls.__setitem__(1, ls[1][:-5]), 2, "JSON"),
    ],
    ids=["edit", "delete", "replay", "torn"],
)
def test_tampering_is_found_at_its_line(tmp_path: Path, tamper, line: int, reason: str) -> None:
    path = _log(tmp_path)
    lines = path.read_text().splitlines()
    tamper(lines)
    path.write_text("\n".join(lines) + "\n")
    rep = verify_chain(path)
    assert not rep.ok and rep.broken_line == line and reason in rep.reason
    with pytest.raises(ConfigError, match=f"line {line}"):
        AuditLog(path)  # never extends a broken chain


def test_rewritten_hash_still_breaks_the_next_link(tmp_path: Path) -> None:
    from fedgov.audit import record_hash

    path = _log(tmp_path)
    lines = path.read_text().splitlines()
    rec = json.loads(lines[1])
    rec["allow"] = not rec["allow"]
    rec["hash"] = record_hash(rec)  # a careful forger recomputes the hash
    lines[1] = json.dumps(rec, sort_keys=True, separators=(",", ":"))
    path.write_text("\n".join(lines) + "\n")
    rep = verify_chain(path)
    assert rep.broken_line == 3 and "prev" in rep.reason


def test_cli_names_the_broken_line(tmp_path: Path) -> None:
    path = _log(tmp_path)
    ok = run_fedgov("audit", "verify", str(path))
    assert ok.returncode == 0 and "OK, 5 records" in ok.stdout
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace('"r3"', '"rX"')
    path.write_text("\n".join(lines) + "\n")
    bad = run_fedgov("audit", "verify", str(path), "--json")
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["broken_line"] == 4


def test_concurrent_appends_share_fsyncs_and_each_returns_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit: an append returns after an fsync that came after its line was written."""
    import os
    import threading

    log = AuditLog(tmp_path / "audit.jsonl")
    synced_lines: list[int] = []  # lines in the file at each fsync
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        lines = log.path.read_text().count("\n")  # written before the fsync: covered by it
        real_fsync(fd)
        synced_lines.append(lines)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    returned: list[tuple[int, int]] = []  # (seq, fsyncs done when append returned)
    start = threading.Barrier(16)

    def worker(i: int) -> None:
        start.wait()
        for j in range(25):
            rec = log.append("report_accepted", report_id=f"r{i}-{j}")
            returned.append((rec["seq"], len(synced_lines)))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rep = verify_chain(log.path)
    assert rep.ok and rep.records == 400
    assert len(synced_lines) < 400  # shared
    for seq, done in returned:  # some fsync that saw the record's line preceded the return
        assert any(n > seq for n in synced_lines[:done]), seq
