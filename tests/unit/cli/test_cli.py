"""The `fedgov` command as a user runs it: exit codes and messages, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.agents import agent_config
from support.cli import no_traceback
from support.cli import run_fedgov as run
from support.ports import free_port

from fedgov.policy import default_bundle_path
from fedgov.synthetic import credit_data, write_table


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    return write_table(credit_data(3000, seed=2), tmp_path / "reference.csv")


def _spec(tmp_path: Path, reference: Path) -> Path:
    out = tmp_path / "spec.json"
    p = run(
        "spec",
        "--reference",
        str(reference),
        "--model",
        "credit-risk",
        "--model-version",
        "1",
        "--label",
        "repaid",
        "--prediction",
        "approved",
        "--sensitive",
        "sex,age_band",
        "--intersection",
        "sex*age_band",
        "--categorical",
        "purpose,employment",
        "-o",
        str(out),
    )
    assert p.returncode == 0, p.stderr
    return out


def test_spec_then_stats_json(tmp_path: Path, reference: Path) -> None:
    spec = _spec(tmp_path, reference)
    doc = json.loads(spec.read_text())
    income = next(f for f in doc["features"] if f["name"] == "income")
    assert income["kind"] == "numeric" and income["edges"] == sorted(set(income["edges"]))
    assert {a["name"] for a in doc["sensitive"]} == {"sex", "age_band"}
    current = write_table(credit_data(1000, seed=3, drift=1.0), tmp_path / "cur.parquet")
    p = run("stats", str(current), "--spec", str(spec), "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["stats"]["rows"] == 1000
    assert out["metrics"]["drift"]["features"]["income"]["psi"] > 0.2


def test_stats_against_a_reference_file(tmp_path: Path, reference: Path) -> None:
    """--reference FILE: drift against that file's rows, as if the spec had been derived from it."""
    from fedgov.data import fold_file
    from fedgov.metrics import compute_metrics
    from fedgov.spec import load_spec
    from fedgov.stats import with_reference

    spec = _spec(tmp_path, reference)
    drifted = write_table(credit_data(1500, seed=5, drift=1.0), tmp_path / "drifted.csv")
    current = write_table(credit_data(1000, seed=3, drift=1.0), tmp_path / "cur.parquet")
    p = run("stats", str(current), "--spec", str(spec), "--reference", str(drifted), "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["drift_against"] == str(drifted)
    # The oracle: the spec's reference profile swapped for the drifted file's counts.
    s = load_spec(spec)
    oracle = with_reference(s, fold_file(drifted, s))
    want = compute_metrics(oracle, fold_file(current, oracle))
    assert out["metrics"]["drift"] == json.loads(json.dumps(want["drift"]))
    # Same drift as the current window: small PSI, where the spec's profile gives a large one.
    assert out["metrics"]["drift"]["features"]["income"]["psi"] < 0.1
    p = run("stats", str(current), "--spec", str(spec), "--reference", str(tmp_path / "no.csv"))
    assert p.returncode == 3 and "no.csv" in p.stderr


def test_spec_with_score_then_stats_shows_auc_and_calibration(tmp_path: Path) -> None:
    reference = write_table(credit_data(3000, seed=2, with_score=True), tmp_path / "ref.csv")
    spec = tmp_path / "spec.json"
    p = run(
        "spec", "--reference", str(reference), "--model", "credit-risk", "--model-version", "1",
        "--label", "repaid", "--prediction", "approved", "--score", "score",
        "--score-bins", "10", "--sensitive", "sex,age_band",
        "--categorical", "purpose,employment", "-o", str(spec),
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    doc = json.loads(spec.read_text())
    assert doc["score"] == "score" and doc["score_edges"] == [i / 10 for i in range(11)]
    assert "score" not in {f["name"] for f in doc["features"]}
    current = write_table(
        credit_data(1000, seed=3, with_score=True, bias=0.2), tmp_path / "cur.parquet"
    )
    p = run("stats", str(current), "--spec", str(spec), "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    sex = out["metrics"]["fairness"]["sex"]
    assert 0.5 < sex["groups"]["F"]["auc"] <= 1.0 and sex["auc_difference"] >= 0.0
    assert sex["max_calibration_error"] >= sex["groups"]["M"]["calibration_error"]
    assert len(out["stats"]["scores"]["sex"]["counts"][0][0]) == 13
    p = run("stats", str(current), "--spec", str(spec))
    assert p.returncode == 0, p.stderr
    assert "calibration error" in p.stdout and "AUC bound" in p.stdout
    no_traceback(p)


def test_missing_data_file(tmp_path: Path, reference: Path) -> None:
    spec = _spec(tmp_path, reference)
    p = run("stats", str(tmp_path / "nope.csv"), "--spec", str(spec))
    assert p.returncode == 3
    assert "nope.csv" in p.stderr and "not found" in p.stderr
    no_traceback(p)


def test_unreadable_data_file(tmp_path: Path, reference: Path) -> None:
    spec = _spec(tmp_path, reference)
    bad = tmp_path / "garbage.parquet"
    bad.write_bytes(b"\x00\x01not parquet at all" * 10)
    p = run("stats", str(bad), "--spec", str(spec))
    assert p.returncode == 3 and "garbage.parquet" in p.stderr
    no_traceback(p)


def test_data_lacks_a_column(tmp_path: Path, reference: Path) -> None:
    spec = _spec(tmp_path, reference)
    data = credit_data(100, seed=4)
    del data["income"]
    f = write_table(data, tmp_path / "partial.csv")
    p = run("stats", str(f), "--spec", str(spec))
    assert p.returncode == 3 and "income" in p.stderr and "missing column" in p.stderr
    no_traceback(p)


@pytest.mark.parametrize("edges, word", [([0, 2, 1], "unsorted"), ([0, 1, 1, 2], "duplicate")])
def test_spec_with_bad_edges(tmp_path: Path, reference: Path, edges: list, word: str) -> None:
    spec = _spec(tmp_path, reference)
    doc = json.loads(spec.read_text())
    doc["features"][0]["edges"] = edges
    doc["reference"] = {}
    spec.write_text(json.dumps(doc))
    p = run("stats", str(reference), "--spec", str(spec))
    assert p.returncode == 2
    assert "spec.json" in p.stderr and "features[0]" in p.stderr and word in p.stderr
    no_traceback(p)


def _config(tmp_path: Path, spec: Path, policy: Path, address: str, **extra: object) -> Path:
    (tmp_path / "in").mkdir(exist_ok=True)
    write_table(credit_data(500, seed=5), tmp_path / "in" / "w.csv")
    cfg = agent_config(
        spec, tmp_path / "in", state_dir=tmp_path / "state", address=address, policy=policy
    )
    cfg["aggregator"].update(extra)
    path = tmp_path / "silo.yaml"
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return path


def test_agent_refuses_to_start_on_rego_syntax_error(tmp_path: Path, reference: Path) -> None:
    spec = _spec(tmp_path, reference)
    bundle = tmp_path / "policy"
    bundle.mkdir()
    (bundle / "policy.rego").write_text(
        'package fedgov\n\nimport rego.v1\n\ndecision := {"allow": true,\n  oops oops\n}\n'
    )
    cfg = _config(tmp_path, spec, bundle, "127.0.0.1:1")
    p = run("agent", "run", "--config", str(cfg), "--once")
    assert p.returncode == 4
    assert "policy.rego:" in p.stderr
    no_traceback(p)
    assert not (tmp_path / "state" / "outbox.db").exists()


def test_agent_with_aggregator_down_retries_then_fails(tmp_path: Path, reference: Path) -> None:
    spec = _spec(tmp_path, reference)
    cfg = _config(
        tmp_path, spec, default_bundle_path(), f"127.0.0.1:{free_port()}", retry_seconds=1
    )
    p = run("agent", "run", "--config", str(cfg), "--once")
    assert p.returncode == 5
    assert "retry" in p.stderr and "Is it running" in p.stderr
    no_traceback(p)


def test_query_with_aggregator_down(tmp_path: Path) -> None:
    p = run("query", "decisions", "--aggregator", f"127.0.0.1:{free_port()}")
    assert p.returncode == 5 and "Is it running" in p.stderr
    no_traceback(p)


@pytest.mark.parametrize(
    "args", [["query", "nonsense"], ["query", "drift", "--bogus"], ["frobnicate"]]
)
def test_unknown_query_or_flag(args: list[str]) -> None:
    p = run(*args)
    assert p.returncode == 2 and "usage:" in p.stderr
    no_traceback(p)


def test_policy_check_and_test(tmp_path: Path) -> None:
    p = run("policy", "test", str(default_bundle_path()))
    assert p.returncode == 0 and " passed, 0 failed" in p.stdout
    bad = tmp_path / "b"
    bad.mkdir()
    (bad / "p.rego").write_text("package fedgov\n\ndecision := {\n")
    p = run("policy", "check", str(bad))
    assert p.returncode == 4 and "p.rego:" in p.stderr
    no_traceback(p)


@pytest.mark.integration
def test_demo_runs_end_to_end() -> None:
    p = run("demo", "--json", timeout=600)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["ok"] is True and all(out["checks"].values())
    us_ny = out["fairness"]["US-NY"]
    assert us_ny["metrics"]["fairness"]["sex"]["demographic_parity_ratio"] < 0.8
    assert us_ny["source"].startswith("per-silo reports, protected (discrete Gaussian")
    # US-* is a part of the partition: its figures are the exact secure sum of 3 silos.
    assert out["fairness"]["US-*"]["source"] == "exact, secure sum of 3 silos"
    assert out["secure_round"]["audit_exit"] == 0
    no_traceback(p)
