"""Federated retraining on Flower's deployment engine: a real SuperLink and
three SuperNodes as local processes, each silo with its own data file.

The third silo's labels carry a historical bias: ``repaid`` was recorded as
0 for a share of young applicants who repaid (``fedgov.synthetic``'s
``bias`` only moves the *decision* column, which the model does not learn
from). ``age`` is a model input, so an unmitigated model learns the bias;
Kamiran-Calders reweighing by ``age_band`` at each silo removes it.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest

from fedgov.federated import (
    FeatureMap,
    FlowerCluster,
    Silo,
    TrainingError,
    init_weights,
    predict_proba,
    reweigh,
    run_training,
    train_local,
    write_builtin_app,
)
from fedgov.federated._process import base_env, pid_gone
from fedgov.federated.client_app import suppress_counts
from fedgov.federated.nodes import SuperNodeProcess
from fedgov.federated.runner import flwr_cli, flwr_json
from fedgov.spec import MonitoringSpec, save_spec
from fedgov.stats import encode_columns
from fedgov.synthetic import credit_data, write_table
from fedgov.tls import issue_server_certificate, write_node_key

T = TypeVar("T")
ROWS = 2000
ATTRIBUTE = "age_band"


def flower(test: T) -> T:
    """Starts real Flower processes."""
    return pytest.mark.integration(pytest.mark.slow(test))


def _label_bias(cols: dict[str, np.ndarray], rate: float, seed: int) -> dict[str, np.ndarray]:
    """Record ``repaid = 0`` for ``rate`` of the young applicants who repaid."""
    rng = np.random.default_rng(seed)
    out = dict(cols)
    flip = (
        (cols["age_band"] == "<30")
        & (cols["repaid"] == 1)
        & (rng.random(len(cols["repaid"])) < rate)
    )
    out["repaid"] = np.where(flip, 0, cols["repaid"])
    return out


# -- the model's pure functions (no processes) ------------------------------


def test_reweigh_makes_the_label_independent_of_the_group() -> None:
    rng = np.random.default_rng(0)
    groups = rng.choice(["a", "b", "c"], size=5000, p=[0.5, 0.3, 0.2])
    y = (rng.random(5000) < np.select([groups == "a", groups == "b"], [0.7, 0.4], 0.2)).astype(int)
    w = reweigh(groups, y)
    assert np.isclose(w.sum(), len(y))
    for g in "abc":
        m = groups == g
        # the definition, cell by cell: P(g) P(y) / P(g, y)
        for label in (0, 1):
            cell = m & (y == label)
            want = m.mean() * (y == label).mean() / cell.mean()
            assert np.allclose(w[cell], want)
        assert np.isclose(np.average(y[m], weights=w[m]), y.mean())


def test_train_local_converges_to_the_unpenalised_logistic_regression() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    X = rng.normal(size=(800, 3))
    y = (X @ [1.0, -2.0, 0.5] + 0.3 + rng.logistic(size=800) > 0).astype(float)
    sw = rng.uniform(0.5, 2.0, size=800)
    ours, n = train_local(init_weights(3), X, y, sw, epochs=4000, lr=2.0)
    ref = LogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000).fit(X, y, sample_weight=sw)
    assert n == 800
    assert np.allclose(ours[0], ref.coef_[0], atol=1e-3)
    assert np.allclose(ours[1], ref.intercept_, atol=1e-3)


def test_small_group_counts_are_suppressed_with_their_complement() -> None:
    assert suppress_counts(np.array([50, 3, 40, 0]), 10).tolist() == [50, 0, 0, 0]
    assert suppress_counts(np.array([50, 3, 40, 12]), 10).tolist() == [50, 0, 40, 0]
    assert suppress_counts(np.array([50, 30, 40, 12]), 10).tolist() == [50, 30, 40, 12]


def test_the_builtin_app_is_a_valid_flower_app(tmp_path: Path) -> None:
    from flwr.cli.config_utils import load_and_validate

    config, _ = load_and_validate(write_builtin_app(tmp_path) / "pyproject.toml")
    components = config["tool"]["flwr"]["app"]["components"]
    assert components == {
        "serverapp": "fedgov.federated.server_app:app",
        "clientapp": "fedgov.federated.client_app:app",
    }


# -- real SuperLink and SuperNodes ------------------------------------------


@pytest.fixture(scope="module")
def silo_files(
    tmp_path_factory: pytest.TempPathFactory, credit_spec: MonitoringSpec
) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("silos")
    save_spec(credit_spec, d / "spec.json")
    files = {
        "bank-a": write_table(credit_data(ROWS, seed=10), d / "bank-a.csv"),
        "bank-b": write_table(credit_data(ROWS, seed=11), d / "bank-b.parquet"),
        "bank-c": write_table(
            _label_bias(credit_data(ROWS, seed=12, bias=0.15), rate=0.6, seed=5),
            d / "bank-c.csv",
        ),
    }
    return {"spec": d / "spec.json", **files}


def _silos(files: dict[str, Path]) -> list[Silo]:
    return [
        Silo(name, {"data-path": str(files[name]), "spec-path": str(files["spec"])})
        for name in ("bank-a", "bank-b", "bank-c")
    ]


@pytest.fixture(scope="module")
def cluster(silo_files: dict[str, Path]) -> Iterator[FlowerCluster]:
    with FlowerCluster(_silos(silo_files)) as c:
        yield c
    assert c.seen_pids, "the cluster recorded no process"
    left = [pid for pid in c.seen_pids if not pid_gone(pid)]
    assert not left, f"processes still running after the cluster stopped: {left}"


def _holdout(spec: MonitoringSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    batch = encode_columns(spec, credit_data(3000, seed=99))
    return FeatureMap.from_spec(spec).transform(batch), batch.y_true, batch.codes[ATTRIBUTE]


@pytest.fixture(scope="module")
def runs(
    cluster: FlowerCluster, silo_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, object]:
    base = {"spec-path": str(silo_files["spec"]), "num-server-rounds": 3}
    out = tmp_path_factory.mktemp("models")
    return {
        "plain": cluster.run_training(base, output_dir=out / "plain", timeout=240),
        "reweighed": cluster.run_training(
            {**base, "reweigh-attribute": ATTRIBUTE}, output_dir=out / "reweighed", timeout=240
        ),
    }


@flower
def test_cluster_runs_on_free_ports_with_one_home_per_process(cluster: FlowerCluster) -> None:
    ports = [cluster.port, *(n.port for n in cluster.nodes)]
    assert len(set(ports)) == len(ports) and all(p > 0 for p in ports)
    assert len({n.node_id for n in cluster.nodes}) == 3
    homes = {p.parent.name for p in cluster.workdir.glob("*/home")}
    assert homes == {"superlink", "bank-a", "bank-b", "bank-c"}


@flower
def test_global_model_beats_the_majority_baseline(
    runs: dict[str, object], credit_spec: MonitoringSpec
) -> None:
    result = runs["plain"]
    X, y, _ = _holdout(credit_spec)
    pred = predict_proba(result.weights, X) >= 0.5  # type: ignore[attr-defined]
    accuracy = float(np.mean(pred == y))
    baseline = max(float(np.mean(y)), 1 - float(np.mean(y)))
    assert accuracy > baseline + 0.1, (accuracy, baseline)


@flower
def test_result_metadata_names_every_silo_and_round(
    runs: dict[str, object], cluster: FlowerCluster
) -> None:
    result = runs["reweighed"]
    meta = result.metadata  # type: ignore[attr-defined]
    assert result.status["status"] == "finished:completed"  # type: ignore[attr-defined]
    assert meta["run_id"] == result.run_id  # type: ignore[attr-defined]
    assert meta["rounds"] == 3 and [h["round"] for h in meta["history"]] == [1, 2, 3]
    assert sorted(meta["node_ids"]) == sorted(n.node_id for n in cluster.nodes)
    assert sorted(meta["silos"].values()) == ["bank-a", "bank-b", "bank-c"]
    losses = [h["metrics"]["train-loss"] for h in meta["history"]]
    assert losses[-1] < losses[0] < np.log(2)
    # counts only: per-silo (group x label) tables summing to the silo's rows
    for node in meta["history"][0]["nodes"]:
        counts = node["metrics"]["group-counts"]
        assert set(counts) == {"30-49", "50+", "<30", "(unseen)", "(missing)"}
        assert sum(c["0"] + c["1"] for c in counts.values()) == node["metrics"]["num-examples"]
        assert node["reweigh_attribute"] == ATTRIBUTE


@flower
def test_reweighing_reduces_the_demographic_parity_gap(
    runs: dict[str, object], credit_spec: MonitoringSpec
) -> None:
    from fairlearn.metrics import demographic_parity_difference

    X, y, groups = _holdout(credit_spec)
    gaps = {}
    for name, result in runs.items():
        pred = (predict_proba(result.weights, X) >= 0.5).astype(int)  # type: ignore[attr-defined]
        gaps[name] = demographic_parity_difference(y, pred, sensitive_features=groups)
    assert gaps["plain"] > 0.08, gaps  # the label bias is learnt without mitigation
    assert gaps["reweighed"] < gaps["plain"] / 2, gaps


@flower
def test_an_unknown_attribute_fails_the_run_with_the_silos_reason(
    cluster: FlowerCluster, silo_files: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(TrainingError, match="reweigh-attribute 'income' is not a sensitive"):
        cluster.run_training(
            {
                "spec-path": str(silo_files["spec"]),
                "num-server-rounds": 1,
                "reweigh-attribute": "income",
            },
            output_dir=tmp_path,
            timeout=120,
        )
    assert (tmp_path / "error.json").exists() and not (tmp_path / "result.json").exists()


def _wait_for(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _training_started(node_log: Path) -> bool:
    return "Start `flwr-clientapp` process" in node_log.read_text(errors="replace")


@flower
def test_a_supernode_dying_mid_run_fails_the_run_clearly(
    silo_files: dict[str, Path], tmp_path: Path
) -> None:
    with FlowerCluster(_silos(silo_files)) as c:
        victim = next(n for n in c.nodes if n.name == "bank-b")
        with ThreadPoolExecutor(1) as pool:
            started = time.monotonic()
            future = pool.submit(
                c.run_training,
                {"spec-path": str(silo_files["spec"]), "num-server-rounds": 20},
                output_dir=tmp_path,
                timeout=120,
            )
            _wait_for(lambda: _training_started(victim.log_path) or future.done(), 60)
            c.kill_supernode("bank-b")
            with pytest.raises(TrainingError) as info:
                future.result(timeout=150)
        assert time.monotonic() - started < 120
        message = str(info.value)
        assert "bank-b" in message and str(victim.node_id) in message, message
        assert "aborted" in message
        seen = set(c.seen_pids)
    assert not [pid for pid in seen if not pid_gone(pid)]


@flower
def test_without_a_watcher_the_round_timeout_fails_the_run(
    silo_files: dict[str, Path], tmp_path: Path
) -> None:
    """An external SuperLink: the runner cannot see the SuperNodes, the ServerApp can."""
    with FlowerCluster(_silos(silo_files)) as c:
        victim = next(n for n in c.nodes if n.name == "bank-c")
        done = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            try:
                run_training(
                    None,
                    {
                        "spec-path": str(silo_files["spec"]),
                        "num-server-rounds": 20,
                        "min-nodes": 3,
                        "round-timeout": 20.0,
                    },
                    c.address,
                    output_dir=tmp_path,
                    timeout=150,
                    flwr_home=c.cli_home,
                )
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                errors.append(exc)
            finally:
                done.set()

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        _wait_for(lambda: _training_started(victim.log_path) or done.is_set(), 60)
        c.kill_supernode("bank-c")
        assert done.wait(170), "run_training hung"
        assert errors and isinstance(errors[0], TrainingError), errors
        message = str(errors[0])
        assert re.search(r"did not reply within the round timeout|failed", message), message
        assert str(victim.node_id) in message


# -- TLS and SuperNode authentication (the cluster's default) -----------------


@flower
def test_the_superlink_serves_tls_only(cluster: FlowerCluster) -> None:
    import ssl
    import urllib.error
    import urllib.request

    assert cluster.tls is not None
    trusted = ssl.create_default_context(cafile=str(cluster.tls.ca))
    with urllib.request.urlopen(f"https://{cluster.address}/health", context=trusted) as r:
        assert r.status == 200
    with pytest.raises((urllib.error.URLError, ConnectionError)):  # plaintext: no answer
        urllib.request.urlopen(f"http://{cluster.address}/health", timeout=5)
    untrusted = ssl.create_default_context()  # the system's CAs, not the site's
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(f"https://{cluster.address}/health", context=untrusted, timeout=5)


def _refused(node: SuperNodeProcess) -> str:
    """Await a SuperNode the SuperLink must refuse; its error message (it exited)."""
    with pytest.raises(TrainingError) as info:
        node.await_registered()
    assert node.node_id is None
    return str(info.value)


@flower
def test_an_unenrolled_supernode_cannot_join_a_training_run(
    cluster: FlowerCluster, silo_files: dict[str, Path], tmp_path: Path
) -> None:
    config = {"data-path": str(silo_files["bank-a"]), "spec-path": str(silo_files["spec"])}
    # 1. A key nobody registered: Flower refuses to activate the node.
    stranger = cluster.supernode(
        Silo("stranger", config), node_key=write_node_key(tmp_path, "stranger")
    )
    message = _refused(stranger)
    assert "not enrolled" in message and "[code: 2004] Failed to activate SuperNode" in message
    # 2. No key at all: registration through the Fleet API is closed.
    keyless = SuperNodeProcess(
        "keyless",
        cluster.address,
        config,
        workdir=tmp_path / "keyless",
        root_certificates=cluster.tls.ca if cluster.tls else None,
    ).spawn()
    message = _refused(keyless)
    assert "no node key" in message and "[code: 2001]" in message
    # 3. A key registered through the Control API, which open-source Flower leaves
    # unauthenticated: the node connects, but the run trains with enrolled nodes only.
    squatter_key = write_node_key(tmp_path, "squatter")
    env = base_env(cluster.cli_home, {})
    doc = flwr_json(
        flwr_cli(["supernode", "register", str(squatter_key.public), "--format", "json"], env, 60),
        "registering the squatter",
    )
    squatter = cluster.supernode(Silo("squatter", config), node_key=squatter_key)
    try:
        squatter.await_registered()
        assert squatter.node_id == int(doc["node-id"])
        result = cluster.run_training(
            {"spec-path": str(silo_files["spec"]), "num-server-rounds": 1},
            output_dir=tmp_path / "run",
            timeout=180,
        )
    finally:
        squatter.stop()
    meta = result.metadata
    assert meta["node_ids"] == sorted(cluster.enrolled.values())
    assert sorted(meta["silos"].values()) == ["bank-a", "bank-b", "bank-c"]
    assert meta["excluded_node_ids"] == [squatter.node_id]
    link_log = "\n".join(
        p.read_text(errors="replace") for p in cluster.workdir.glob("superlink/*.log")
    )
    assert "ApiError:2004" in link_log and "ApiError:2001" in link_log  # Flower's own refusals


@flower
def test_a_supernode_that_does_not_trust_the_ca_cannot_connect(
    cluster: FlowerCluster, silo_files: dict[str, Path], tmp_path: Path
) -> None:
    other = issue_server_certificate(tmp_path / "other-pki", "other", ["127.0.0.1"])
    node = SuperNodeProcess(
        "bank-a",
        cluster.address,
        {"data-path": str(silo_files["bank-a"]), "spec-path": str(silo_files["spec"])},
        workdir=tmp_path / "node",
        root_certificates=other.ca,  # another CA: the SuperLink's certificate is not trusted
        node_key=cluster.node_keys["bank-a"],  # even with an enrolled key
    ).spawn()
    message = _refused(node)
    assert "does not trust the SuperLink's certificate" in message
    assert "CERTIFICATE_VERIFY_FAILED" in message
