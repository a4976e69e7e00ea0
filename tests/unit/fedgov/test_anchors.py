"""Attacks on an audit log that a chain alone misses, each now failing `audit verify`.

A log is anchored by heads kept outside it (here, as the aggregator would hand
them out: `fedgov audit heads --json`); every cut or rewrite below the newest
anchor must fail, with exit code 1 from the CLI.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from support.cli import no_traceback, run_fedgov

from fedgov.anchors import (
    Anchor,
    ReceivedHead,
    checkpoint_anchors,
    heads_to_json,
    read_heads,
    verify_anchored,
)
from fedgov.audit import AuditHead, AuditLog, record_hash, verify_chain
from fedgov.checkpoints import Checkpoint, CheckpointKey, checkpoints_to_json, read_checkpoints
from fedgov.errors import ConfigError


def _anchored_log(tmp_path: Path, n: int = 6) -> tuple[Path, list[ReceivedHead]]:
    """A log of ``n`` records whose head was anchored after every record (as reports go)."""
    log = AuditLog(tmp_path / "audit.jsonl")
    heads = []
    for i in range(n):
        log.append("decision", report_id=f"r{i}", allow=i % 2 == 0)
        head = log.position()
        assert head is not None and head.seq == i
        heads.append(ReceivedHead(head.seq, head.hash, f"r{i}", 1_700_000_000_000 + i))
    return log.path, heads


def _anchors_file(tmp_path: Path, heads: list[ReceivedHead]) -> Path:
    path = tmp_path / "heads.json"
    path.write_text(json.dumps(heads_to_json("EU-DE", heads)))
    return path


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines))


def _recompute_from(lines: list[str], at: int, edit: Callable[[dict], None]) -> list[str]:
    """Edit record ``at`` and rebuild every hash from it on: a valid chain again."""
    records = [json.loads(line) for line in lines]
    edit(records[at])
    prev = records[at - 1]["hash"] if at else "0" * 64
    for rec in records[at:]:
        rec["prev"] = prev
        rec["hash"] = record_hash(rec)
        prev = rec["hash"]
    return [json.dumps(r, sort_keys=True, separators=(",", ":")) for r in records]


def _flip_allow(rec: dict) -> None:
    rec["allow"] = not rec["allow"]


ATTACKS: dict[str, Callable[[list[str]], list[str]]] = {
    "last line dropped": lambda ls: ls[:-1],
    "cut to its first 3 lines": lambda ls: ls[:3],
    "emptied": lambda ls: [],
    "later hashes recomputed after an edit": lambda ls: _recompute_from(ls, 2, _flip_allow),
}


@pytest.mark.parametrize("attack", ATTACKS, ids=list(ATTACKS))
def test_attack_verifies_as_a_chain_but_fails_against_anchors(tmp_path: Path, attack: str) -> None:
    path, heads = _anchored_log(tmp_path)
    _write(path, ATTACKS[attack](_lines(path)))
    assert verify_chain(path).ok  # what `audit verify` said before: OK
    rep = verify_anchored(path, [h.anchor() for h in heads])
    assert not rep.ok and rep.problems
    kind = "rewritten" if "recomputed" in attack else ("empty" if attack == "emptied" else "trunc")
    assert any(p.startswith(kind) for p in rep.problems), rep.problems


@pytest.mark.parametrize("attack", ATTACKS, ids=list(ATTACKS))
def test_cli_exits_1_for_each_attack(tmp_path: Path, attack: str) -> None:
    path, heads = _anchored_log(tmp_path)
    anchors = _anchors_file(tmp_path, heads)
    assert run_fedgov("audit", "verify", str(path), "--anchors", str(anchors)).returncode == 0
    _write(path, ATTACKS[attack](_lines(path)))
    out = run_fedgov("audit", "verify", str(path), "--anchors", str(anchors), "--json")
    no_traceback(out)
    assert out.returncode == 1, out.stdout + out.stderr
    doc = json.loads(out.stdout)
    assert doc["ok"] is False and doc["problems"]


def test_a_log_cut_below_its_newest_anchor_names_the_missing_records(tmp_path: Path) -> None:
    path, heads = _anchored_log(tmp_path, n=6)
    _write(path, _lines(path)[:3])
    rep = verify_anchored(path, [h.anchor() for h in heads])
    truncated = [p for p in rep.problems if p.startswith("truncated")]
    assert len(truncated) == 3  # records 3, 4 and 5 were anchored and are gone
    assert "report r5" in truncated[-1] and "at least 3 missing" in truncated[-1]


def test_records_after_the_newest_anchor_are_counted_as_unanchored(tmp_path: Path) -> None:
    path, heads = _anchored_log(tmp_path, n=6)
    rep = verify_anchored(path, [h.anchor() for h in heads[:4]])  # 4 and 5 not anchored yet
    assert rep.ok and rep.anchored_through == 3 and rep.unanchored == 2
    out = run_fedgov(
        "audit", "verify", str(path), "--anchors", str(_anchors_file(tmp_path, heads[:4]))
    )
    assert out.returncode == 0 and "2 record(s) after them are not yet" in out.stdout
    # ... which is what an attacker can still cut unseen: the count says so.
    _write(path, _lines(path)[:4])
    assert verify_anchored(path, [h.anchor() for h in heads[:4]]).ok


def test_a_silo_that_rewrites_its_log_and_anchors_it_again_is_caught_by_older_heads(
    tmp_path: Path,
) -> None:
    path, heads = _anchored_log(tmp_path, n=6)
    original = _lines(path)
    rewritten = _recompute_from(original, 1, _flip_allow)
    _write(path, rewritten)
    # The silo re-anchors its new head, and the aggregator keeps it beside the old ones.
    new_head = json.loads(rewritten[-1])
    again = [*heads, ReceivedHead(5, new_head["hash"], "r6", 1_800_000_000_000)]
    rep = verify_anchored(path, [h.anchor() for h in again])
    assert not rep.ok
    assert any(p.startswith("rewritten and re-anchored") and "record 5" in p for p in rep.problems)
    assert any(p.startswith("rewritten: record 1") for p in rep.problems)  # the oldest it broke
    # Neither log passes the head anchored before the rewrite plus the one after: they
    # contradict, so no log can be made that satisfies both.
    for lines in (original, rewritten):
        _write(path, lines)
        assert not verify_anchored(path, [again[1].anchor(), again[-1].anchor()]).ok


def test_an_empty_log_fails_even_without_anchors(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text("")
    assert not verify_anchored(path, []).ok
    out = run_fedgov("audit", "verify", str(path))
    assert out.returncode == 1 and "empty" in out.stdout


def test_without_anchors_the_cli_says_a_cut_would_not_show(tmp_path: Path) -> None:
    path, _ = _anchored_log(tmp_path, n=3)
    out = run_fedgov("audit", "verify", str(path))
    assert out.returncode == 0 and "OK, 3 records" in out.stdout
    assert "all 3 records are unanchored" in out.stdout


# -- signed checkpoints (the aggregator's own log) ------------------------------------
def _checkpointed(tmp_path: Path) -> tuple[Path, CheckpointKey, list[Checkpoint]]:
    log = AuditLog(tmp_path / "agg.audit.jsonl")
    key = CheckpointKey.generate()
    cps = []
    for i in range(5):
        log.append("report_accepted", report_id=f"r{i}")
        head = log.position()
        assert head is not None
        cps.append(key.sign(head, 1_700_000_000_000 + i))
    return log.path, key, cps


def _cli_files(tmp_path: Path, key: CheckpointKey, cps: list[Checkpoint]) -> tuple[str, str]:
    cp_file = tmp_path / "checkpoints.json"
    cp_file.write_text(json.dumps(checkpoints_to_json(cps)))
    pem = tmp_path / "aggregator.pub.pem"
    pem.write_text(key.public_pem())
    return str(cp_file), str(pem)


def test_checkpoints_verify_and_anchor_the_aggregator_log(tmp_path: Path) -> None:
    path, key, cps = _checkpointed(tmp_path)
    anchors, forged = checkpoint_anchors(cps, key.public)
    assert forged == [] and len(anchors) == 5
    assert verify_anchored(path, anchors).ok
    cp_file, pem = _cli_files(tmp_path, key, cps)
    args = ("audit", "verify", str(path), "--checkpoints", cp_file, "--public-key", pem)
    assert run_fedgov(*args).returncode == 0
    _write(path, _lines(path)[:-1])  # the aggregator drops its last record
    out = run_fedgov(*args)
    assert out.returncode == 1 and "truncated" in out.stdout


def test_a_forged_checkpoint_signature_fails_verification(tmp_path: Path) -> None:
    path, key, cps = _checkpointed(tmp_path)
    # The operator cuts the log to 2 records and forges the checkpoints to match it.
    _write(path, _lines(path)[:2])
    head = verify_chain(path)
    forger = CheckpointKey.generate()
    forged = forger.sign(AuditHead(head.records - 1, head.head), 1_800_000_000_000)
    as_if_ours = Checkpoint(forged.seq, forged.head, forged.time_ms, forged.signature, key.key_id)
    tampered_sig = Checkpoint(
        cps[1].seq, cps[1].head, cps[1].time_ms, bytes(64), cps[1].key_id
    )  # a zeroed signature on a true checkpoint
    for bad in (as_if_ours, tampered_sig):
        anchors, problems = checkpoint_anchors([bad], key.public)
        assert anchors == [] and problems and problems[0].startswith("forged")
        rep = verify_anchored(path, anchors, problems=problems)
        assert not rep.ok
    cp_file, pem = _cli_files(tmp_path, key, [as_if_ours])
    out = run_fedgov("audit", "verify", str(path), "--checkpoints", cp_file, "--public-key", pem)
    assert out.returncode == 1 and "forged checkpoint" in out.stdout


def test_checkpoints_of_two_replicas_each_anchor_their_own_chain(tmp_path: Path) -> None:
    path_a, key_a, cps_a = _checkpointed(tmp_path / "a")
    path_b, key_b, cps_b = _checkpointed(tmp_path / "b")
    _write(path_b, _lines(path_b)[:2])  # replica B's log cut short
    kept = cps_a + cps_b  # a silo keeps the checkpoints of both replicas
    anchors, problems = checkpoint_anchors(kept, key_a.public)
    assert problems == [] and len(anchors) == 5
    assert verify_anchored(path_a, anchors).ok
    anchors, problems = checkpoint_anchors(kept, key_b.public)
    assert problems == [] and len(anchors) == 5
    assert not verify_anchored(path_b, anchors).ok  # B's own checkpoints see the cut
    anchors, problems = checkpoint_anchors(kept, CheckpointKey.generate().public)
    assert anchors == [] and "none of the 10 checkpoints is of key" in problems[0]


def test_checkpoint_key_is_made_once_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "agg.key"
    made = CheckpointKey.load_or_create(path)
    assert path.stat().st_mode & 0o777 == 0o600
    again = CheckpointKey.load_or_create(path)
    assert again.key_id == made.key_id and again.public_pem() == made.public_pem()
    cp = again.sign(AuditHead(3, "ab" * 32), 5)
    assert cp.verifies(made.public) and not cp.verifies(CheckpointKey.generate().public)
    path.write_text("not a key")
    with pytest.raises(ConfigError, match="not an unencrypted PEM private key"):
        CheckpointKey.load_or_create(path)


def test_anchor_and_checkpoint_files_round_trip_and_bad_ones_are_usage_errors(
    tmp_path: Path,
) -> None:
    path, heads = _anchored_log(tmp_path, n=2)
    assert read_heads(_anchors_file(tmp_path, heads)) == heads
    _, key, cps = _checkpointed(tmp_path)
    cp_file, pem = _cli_files(tmp_path, key, cps)
    assert list(read_checkpoints(cp_file)) == cps
    bad = tmp_path / "bad.json"
    bad.write_text('{"heads": [{"seq": -1, "hash": "x"}]}')
    with pytest.raises(ConfigError, match=r"heads\[0\].seq"):
        read_heads(bad)
    for args in (
        ("--anchors", str(bad)),
        ("--checkpoints", cp_file),  # no --public-key
        ("--aggregator", "127.0.0.1:1"),  # no --silo
        ("--checkpoints", cp_file, "--public-key", cp_file),  # not a key
    ):
        out = run_fedgov("audit", "verify", str(path), *args)
        no_traceback(out)
        assert out.returncode == 2, (args, out.stdout, out.stderr)


def test_anchors_are_kept_by_seq_and_compared_once(tmp_path: Path) -> None:
    path, heads = _anchored_log(tmp_path, n=3)
    twice = [h.anchor() for h in heads] + [Anchor(1, heads[1].hash, "a copy")]
    rep = verify_anchored(path, twice)
    assert rep.ok and rep.anchors == 4 and rep.anchored_through == 2 and rep.unanchored == 0


def test_a_time_beyond_the_calendar_in_an_anchor_file_stays_a_number() -> None:
    from fedgov.anchors import _utc

    assert _utc(10**30) == f"{10**30} ms after the epoch"
    assert _utc(0) == "1970-01-01T00:00:00Z"
