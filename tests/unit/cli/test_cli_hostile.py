"""Absurd values on the command line: a usage error or a located message, never a traceback.

Every case here used to end in a Python traceback (or, for a huge --model, in
fifteen retries and "aggregator unreachable").
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from support.cli import run_fedgov
from support.ports import free_address

from fedgov.policy import default_bundle_path


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return run_fedgov(*args, timeout=timeout)


def refused(p: subprocess.CompletedProcess[str], code: int, *says: str) -> None:
    assert "Traceback" not in p.stderr + p.stdout, p.stderr
    assert p.returncode == code, p.stderr
    for text in says:
        assert text in p.stderr, p.stderr
    assert len(p.stderr) < 2000, p.stderr  # no value echoed back whole


HUGE = "M" * 100_000


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["query", "fairness", "--model", "M", "--since", "99999999999999d"],
            ["argument --since: '99999999999999d' is longer than 100 years", "36500d"],
        ),
        (["query", "drift", "--since", "9" * 400 + "d"], ["argument --since: ", "100 years"]),
        (
            ["query", "history", "--model", "m", "--metric", "psi", "--since", "0001-01-01"],
            ["argument --since: '0001-01-01'", "between 1970-01-01 and 9999-12-31"],
        ),
        (["query", "silos", "--stale", "99999999999999d"], ["argument --stale: ", "36500d"]),
        (["query", "silos", "--stale", "1.5.5h"], ["argument --stale: '1.5.5h' is not a duration"]),
        (
            ["aggregator", "serve", "--insecure", "--cooldown", "99999999999999d"],
            ["argument --cooldown: ", "100 years"],
        ),
        (
            ["query", "fairness", "--model", HUGE],
            ["argument --model: 100000 characters long, the limit is 128"],
        ),
        (["query", "fairness", "--model", ""], ["argument --model: empty"]),
        (["query", "central", "--model", "a b"], ["argument --model: 'a b' is not an identifier"]),
        (["query", "decisions", "--jurisdictions", "*" * 1000], ["argument --jurisdictions: "]),
        (
            ["query", "history", "--model", "m", "--metric", "psi", "--feature", "a\nb"],
            ["argument --feature: 'a\\nb' holds control characters"],
        ),
        (["query", "drift", "--psi", "nan"], ["argument --psi: must be a finite number >= 0"]),
        (["query", "drift", "--aggregator", ""], ["argument --aggregator: empty"]),
        (["query", "drift", "--aggregator", "host:99999"], ["a port is 0..65535"]),
        (["model", "promote", "m", HUGE], ["argument VERSION: 100000 characters long"]),
        (["certs", "init", "--out", "x", "--silos", ","], ["argument --silos: name at least one"]),
        (["certs", "init", "--out", "x", "--silos", "EU-DE="], ["'EU-DE=': empty; give a value"]),
        (["certs", "init", "--out", "x", "--silos", "A=B,A=C"], ["silo 'A' is named twice"]),
        (["certs", "init", "--out", "x", "--silos", "A=B C"], ["'B C' is not an identifier"]),
        (["silo", "approve", "S", "--jurisdiction", "a/b"], ["argument --jurisdiction: 'a/b'"]),
        (["certs", "init", "--out", "x", "--silos", "A", "--days", "-1"], ["argument --days: "]),
        (
            ["certs", "init", "--out", "x", "--silos", "A", "--days", "9" * 5000],
            ["argument --days: must be between 1 and 36500, got 99999999999999999999..."],
        ),
    ],
)
def test_absurd_flag_values_are_usage_errors(args: list[str], says: list[str]) -> None:
    refused(run(*args), 2, "usage:", *says)


def test_a_huge_model_id_is_not_retried_as_unreachable() -> None:
    # Rejected before any call: no retries, no "aggregator unreachable" (exit 5).
    p = run("query", "fairness", "--model", HUGE, "--aggregator", free_address())
    refused(p, 2, "argument --model: 100000 characters long")
    assert "retry" not in p.stderr and "Is it running" not in p.stderr


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "dir").mkdir()
    paths = {
        "dir": tmp_path / "dir",
        "deep": tmp_path / "deep.json",
        "binary": tmp_path / "binary.json",
        "deep_line": tmp_path / "deep.jsonl",
        "file": tmp_path / "file.txt",
    }
    paths["deep"].write_text("[" * 100_000)
    paths["binary"].write_bytes(b"\xff\xfe{}")
    paths["deep_line"].write_text('{"a":' * 5000 + "1" + "}" * 5000 + "\n")
    paths["file"].write_text("x")
    return paths


@pytest.mark.parametrize(
    ("which", "says"),
    [
        ("dir", "is a directory, not a JSON input file"),
        ("deep", "deep.json:1: nested more than 64 levels deep"),
        ("binary", "binary.json:1: not UTF-8 (byte 0xff at offset 0)"),
    ],
)
def test_policy_eval_input(files: dict[str, Path], which: str, says: str) -> None:
    p = run("policy", "eval", str(default_bundle_path()), "--input", str(files[which]))
    refused(p, 2, says)


@pytest.mark.parametrize(
    ("which", "code", "says"),
    [
        ("dir", 2, "is a directory; pass the audit .jsonl file"),
        ("binary", 1, ":1: chain broken: not UTF-8"),
        ("deep_line", 1, ":1: chain broken: nested too deeply"),
    ],
)
def test_audit_verify(files: dict[str, Path], which: str, code: int, says: str) -> None:
    p = run("audit", "verify", str(files[which]))
    assert "Traceback" not in p.stderr and p.returncode == code, p.stderr
    assert says in p.stderr + p.stdout


def test_certs_init(files: dict[str, Path], tmp_path: Path) -> None:
    p = run("certs", "init", "--out", str(files["file"]), "--silos", "EU-DE")
    refused(p, 2, "file.txt: cannot write the PKI there")
    for reserved in ("ca", "operator", "auditor"):
        p = run("certs", "init", "--out", str(tmp_path / "pki"), "--silos", f"EU-DE,{reserved}")
        refused(p, 2, f"silo id {reserved!r}: reserved")
    assert not (tmp_path / "pki" / "ca.pem").exists()
    p = run("certs", "init", "--out", str(tmp_path / "pki"), "--silos", "EU-DE=EU-DE,site-1")
    assert p.returncode == 0, p.stderr
    assert "site-1" in p.stdout and "no jurisdiction: `fedgov silo approve`" in p.stdout
    from fedgov.identity import Identity, identity_from_pem

    def read(name: str) -> Identity:
        return identity_from_pem((tmp_path / "pki" / f"{name}.pem").read_bytes())

    assert read("EU-DE") == Identity("EU-DE", "silo", "EU-DE")
    assert read("site-1") == Identity("site-1", "silo", None)
    assert (read("operator").role, read("auditor").role) == ("operator", "auditor")


@pytest.mark.parametrize(
    ("which", "says"),
    [("dir", "cannot open it as a SQLite store (is a directory)"), ("binary", "is not a database")],
)
def test_aggregator_serve_with_a_bad_store(files: dict[str, Path], which: str, says: str) -> None:
    p = run(
        "aggregator", "serve", "--insecure", "--listen", "127.0.0.1:0", "--db", str(files[which])
    )
    refused(p, 2, says)


def test_aggregator_serve_on_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        address = f"127.0.0.1:{busy.getsockname()[1]}"
        db = str(tmp_path / "a.db")
        p = run("aggregator", "serve", "--insecure", "--db", db, "--listen", address, timeout=30)
        refused(p, 2, f"cannot listen on {address}: the address is in use")
        port = str(busy.getsockname()[1])
        p = run(
            "aggregator",
            "serve",
            "--insecure",
            "--db",
            db,
            "--listen",
            "127.0.0.1:0",
            "--metrics-port",
            port,
            timeout=30,
        )
        refused(p, 2, f"--metrics-port {port}: cannot serve /metrics there")
