"""Deployment material in deploy/, checked without a cluster, an engine or systemd.

* Prometheus: ``promtool check config``, ``check rules`` and ``test rules`` on the
  shipped files; the dashboard's and aggregator.promql's expressions parsed
  by promtool; every metric they name is one the agent or aggregator exports.
* The metric contract: names, HELP, units, bounded labels, silo/jurisdiction
  on every agent series, each family documented in deploy/README.md.
* Kubernetes: every manifest validated against the Kubernetes 1.30 schema
  (kubernetes-validate, strict), plus what a schema cannot see: probes,
  ports, selectors, volumes, the embedded silo.yaml and the container args
  parsed by the real parsers, current policy ConfigMaps.
* systemd: units parsed, hardened, ``systemd-analyze verify``/``security``
  when systemd-analyze exists; Thanos units agree with the label contract.
* Dockerfile and .dockerignore: parsed and linted (no engine here).

promtool comes from FEDGOV_PROMTOOL_BIN (scripts/services.sh prints it) or the
PATH; kubernetes-validate must be installed. Without them the checks skip,
except under CI=true, where they fail.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"
PROM = DEPLOY / "prometheus"
K8S = DEPLOY / "kubernetes"
SYSTEMD = DEPLOY / "systemd"
THANOS = DEPLOY / "thanos"
K8S_VERSION = "1.30.0"

# Integration points the lead wires outside deploy/ (see deploy/README.md):
# the aggregator's plaintext health port for kubelet gRPC probes, and the
# agent's metrics bind address so that a site Prometheus in another pod can
# scrape it. Until they exist, the checks below set them aside, and
# test_pending_integration_points xfails (strictly: it fails once they land,
# as a reminder to delete this list).
PENDING_CLI_FLAGS: tuple[str, ...] = ()
PENDING_CONFIG_KEYS: tuple[str, ...] = ()

# Label names allowed on fedgov series (bounded value sets, deploy/README.md).
AGENT_LABELS = {
    "silo",
    "jurisdiction",
    "model",
    "version",
    "feature",
    "attribute",
    "group",
    "outcome",
    "result",
    "action",
    "kind",
    "le",
}
AGGREGATOR_LABELS = {
    "silo",
    "jurisdiction",
    "model",
    "version",
    "state",
    "status",
    "jurisdiction_group",
    "result",
    "le",
}


@dataclass(frozen=True)
class Tool:
    name: str
    path: str | None
    in_ci: bool

    def require(self) -> str:
        if self.path:
            return self.path
        reason = f"{self.name} is missing (apt-get install -y prometheus, or scripts/services.sh)"
        if self.in_ci:
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def promtool() -> Tool:
    """Session-scoped: reads FEDGOV_PROMTOOL_BIN before the root conftest clears FEDGOV_*."""
    path = os.environ.get("FEDGOV_PROMTOOL_BIN") or shutil.which("promtool")
    return Tool("promtool", path, _in_ci())


@pytest.fixture(scope="session")
def k8s_validate() -> Any:
    try:
        import kubernetes_validate
    except ImportError:
        reason = "kubernetes-validate is not installed (pip install kubernetes-validate)"
        if _in_ci():
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    return kubernetes_validate


def _run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)


# ==============================================================================
# Prometheus
# ==============================================================================
CONFIGS = ("site.yml", "central.yml")
RULE_FILES = sorted(p.name for p in (PROM / "rules").glob("*.yml"))
RULE_TESTS = sorted(p.name for p in (PROM / "tests").glob("*.test.yml"))


@pytest.mark.parametrize("name", CONFIGS)
def test_promtool_check_config(promtool: Tool, name: str) -> None:
    out = _run([promtool.require(), "check", "config", name], cwd=PROM)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {name} is valid prometheus config file syntax" in out.stdout


def test_promtool_check_rules(promtool: Tool) -> None:
    out = _run([promtool.require(), "check", "rules", *(f"rules/{f}" for f in RULE_FILES)], PROM)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("SUCCESS") == len(RULE_FILES) == 2


def test_promtool_test_rules(promtool: Tool) -> None:
    out = _run([promtool.require(), "test", "rules", *RULE_TESTS], cwd=PROM / "tests")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("SUCCESS") == len(RULE_TESTS) == 2


def _rules() -> list[dict[str, Any]]:
    return [
        rule
        for f in RULE_FILES
        for group in yaml.safe_load((PROM / "rules" / f).read_text())["groups"]
        for rule in group["rules"]
    ]


def test_required_alerts_exist_with_their_thresholds() -> None:
    alerts = {r["alert"]: r for r in _rules() if "alert" in r}
    drift = alerts["FedgovFeatureDrift"]
    assert "fedgov_agent_feature_psi" in drift["expr"] and "> 0.2" in drift["expr"]
    assert drift["for"] == "5m"
    di = alerts["FedgovDisparateImpactBelowFourFifths"]
    assert di["expr"].strip() == "jurisdiction:fedgov_disparate_impact:ratio < 0.8"
    assert (
        "fedgov_aggregator_silo_last_seen_timestamp_seconds" in alerts["FedgovSiloSilent"]["expr"]
    )
    assert "fedgov_agent_outbox_reports" in alerts["FedgovOutboxBacklogGrowing"]["expr"]
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name


def test_every_alert_is_shown_firing_by_a_promtool_test() -> None:
    fired: set[str] = set()
    recorded: set[str] = set()
    for f in RULE_TESTS:
        for case in yaml.safe_load((PROM / "tests" / f).read_text())["tests"]:
            for t in case.get("alert_rule_test", []):
                if t.get("exp_alerts"):
                    fired.add(t["alertname"])
            for t in case.get("promql_expr_test", []):
                recorded.update(re.findall(r"[a-z_]+:[a-z_]+:[a-z_]+", t["expr"]))
    alerts = {r["alert"] for r in _rules() if "alert" in r}
    assert alerts <= fired, f"alerts never shown firing: {sorted(alerts - fired)}"
    records = {r["record"] for r in _rules() if "record" in r}
    # A recording rule is tested directly, or through the one built on it.
    assert records - recorded <= {"jurisdiction:fedgov_group_outcome_rows:sum"}


# ==============================================================================
# The metric contract
# ==============================================================================
@pytest.fixture(scope="module")
def exposition(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Real /metrics text of an agent and an aggregator after one biased report."""
    from prometheus_client import generate_latest
    from support.servers import registration
    from support.specs import derive_credit_spec

    from agent.exporter import AgentMetrics
    from agent.pipeline import build_report
    from aggregator.central import CentralGate
    from aggregator.exporter import AggregatorMetrics
    from aggregator.handler import AggregatorHandler
    from aggregator.store import SqliteStore
    from fedgov.policy import RegoEngine, default_bundle_path
    from fedgov.synthetic import credit_data, write_table

    tmp = tmp_path_factory.mktemp("exposition")
    spec = derive_credit_spec(2000)
    write_table(credit_data(1500, seed=5, bias=0.2), tmp / "w.csv")
    engine = RegoEngine.from_bundle(default_bundle_path())
    report = build_report(
        spec, tmp / "w.csv", engine, silo_id="US-NY", jurisdiction="US-NY", chunk_rows=500
    )
    assert "retrain" in report.decision.actions

    agent_reg = CollectorRegistry()
    am = AgentMetrics("US-NY", "US-NY", agent_reg)
    am.latest.update(report)
    am.reports_sent.inc()
    am.reports_failed.inc()
    am.commands.labels("retrain").inc()
    am.outbox.set(1)
    am.report_seconds.observe(0.2)
    am.submit_seconds.observe(0.01)

    store = SqliteStore(tmp / "agg.db")
    try:
        handler = AggregatorHandler(store, central=CentralGate(engine, ("US-*",)))
        handler.register(
            "US-NY",
            "US-NY",
            engine.digest,
            [registration(spec)],
        )
        handler.ingest(report)
        agg_reg = CollectorRegistry()
        agg = AggregatorMetrics(agg_reg, store=store)
        agg.reports.labels("accepted").inc()
        agg.ingest_seconds.observe(0.003)
        agg.last_report.labels("US-NY").set(1.0)
        agg.denied.inc()
        return {
            "agent": generate_latest(agent_reg).decode(),
            "aggregator": generate_latest(agg_reg).decode(),
        }
    finally:
        store.close()


def _families(text: str) -> dict[str, Any]:
    """Metric families, without the ``*_created`` gauges the client adds to counters."""
    return {
        f.name: f for f in text_string_to_metric_families(text) if not f.name.endswith("_created")
    }


def _sample_names(expo: dict[str, str]) -> set[str]:
    return {
        s.name
        for text in expo.values()
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


@pytest.mark.parametrize("side", ["agent", "aggregator"])
def test_metric_names_help_units_and_labels(exposition: dict[str, str], side: str) -> None:
    families = _families(exposition[side])
    allowed = AGENT_LABELS if side == "agent" else AGGREGATOR_LABELS
    assert len(families) >= (20 if side == "agent" else 12)
    for name, f in families.items():
        assert re.fullmatch(rf"fedgov_{side}_[a-z][a-z0-9_]*[a-z0-9]", name), name
        assert f.documentation and len(f.documentation) > 10, f"{name} has no HELP"
        if f.type == "counter":
            assert not name.endswith("_total")  # the client adds _total to the samples
        if name.endswith(("_seconds", "_timestamp_seconds")):
            assert f.type in ("gauge", "histogram"), name
        assert not name.endswith(("_ms", "_milliseconds", "_minutes")), f"{name}: use seconds"
        for s in f.samples:
            extra = set(s.labels) - allowed
            assert not extra, f"{s.name} has unbounded or unknown labels {extra}"
            if side == "agent":
                assert s.labels.get("silo") == "US-NY" and s.labels.get("jurisdiction") == "US-NY"


def test_agent_exports_what_the_issue_asks(exposition: dict[str, str]) -> None:
    fams = _families(exposition["agent"])
    psi = {s.labels["feature"] for s in fams["fedgov_agent_feature_psi"].samples}
    assert {"income", "debt_ratio"} <= psi
    groups = {
        (s.labels["attribute"], s.labels["group"])
        for s in fams["fedgov_agent_group_selection_rate"].samples
    }
    assert ("sex", "F") in groups and ("sex*age_band", "F|<30") in groups
    cells = {s.labels["outcome"] for s in fams["fedgov_agent_group_outcome_rows"].samples}
    assert cells == {"tn", "fp", "fn", "tp"}
    (allow,) = fams["fedgov_agent_policy_allow"].samples
    assert allow.value == 0.0
    (deny,) = fams["fedgov_agent_policy_deny_reasons"].samples
    assert deny.value >= 1
    actions = {
        s.labels["action"]: s.value for s in fams["fedgov_agent_policy_action_requested"].samples
    }
    assert actions["retrain"] == 1.0
    decisions = {
        s.labels["result"]: s.value
        for s in fams["fedgov_agent_policy_decisions"].samples
        if s.name.endswith("_total")
    }
    assert decisions == {"deny": 1.0}


def test_agent_outcome_counts_reproduce_its_fairness(exposition: dict[str, str]) -> None:
    """The counts PromQL merges give back the silo's own selection rates."""
    fams = _families(exposition["agent"])
    cells: dict[tuple[str, str], dict[str, float]] = {}
    for s in fams["fedgov_agent_group_outcome_rows"].samples:
        cells.setdefault((s.labels["attribute"], s.labels["group"]), {})[s.labels["outcome"]] = (
            s.value
        )
    for s in fams["fedgov_agent_group_selection_rate"].samples:
        c = cells[(s.labels["attribute"], s.labels["group"])]
        assert (c["fp"] + c["tp"]) / sum(c.values()) == pytest.approx(s.value, rel=1e-12)


def test_aggregator_exports_store_state(exposition: dict[str, str]) -> None:
    fams = _families(exposition["aggregator"])
    (seen,) = fams["fedgov_aggregator_silo_last_seen_timestamp_seconds"].samples
    assert seen.labels == {"silo": "US-NY", "jurisdiction": "US-NY"} and seen.value > 1e9
    jobs = [(s.labels["state"], s.value) for s in fams["fedgov_aggregator_retrain_jobs"].samples]
    assert jobs == [("dispatched", 1.0)]
    (central,) = fams["fedgov_aggregator_central_decision_allow"].samples
    assert central.labels["jurisdiction_group"] == "US-*" and central.value == 0.0
    (stored,) = fams["fedgov_aggregator_stored_reports"].samples
    assert stored.value == 1.0


def test_store_failure_costs_only_the_store_families(tmp_path: Path) -> None:
    from prometheus_client import generate_latest

    from aggregator.exporter import AggregatorMetrics
    from aggregator.store import SqliteStore

    store = SqliteStore(tmp_path / "agg.db")
    reg = CollectorRegistry()
    AggregatorMetrics(reg, store=store)
    store.close()  # every read now fails
    first = generate_latest(reg).decode()
    assert "fedgov_aggregator_silo_last_seen" not in first
    text = generate_latest(reg).decode()  # the failure counter renders before the store families
    assert "fedgov_aggregator_store_collect_failures_total 1.0" in text
    assert "fedgov_aggregator_silo_last_seen" not in text
    assert "fedgov_aggregator_ingest_duration_seconds_count 0.0" in text


def _referenced_metrics(text: str) -> set[str]:
    return set(re.findall(r"\bfedgov_(?:agent|aggregator)_[a-z0-9_]+", text))


def _dashboard() -> dict[str, Any]:
    return json.loads((DEPLOY / "grafana" / "fedgov.json").read_text())


def _dashboard_exprs() -> list[str]:
    exprs = []
    for p in _dashboard()["panels"]:
        for t in p.get("targets", []):
            exprs.append(t["expr"])
    return exprs


def _promql_module_exprs() -> list[str]:
    from aggregator import promql

    return [
        promql.drift_expr(
            psi_threshold=0.2,
            since_ms=1_700_000_000_000,
            model_id="m",
            jurisdiction_glob="EU-*,US-N[!Y]",
        ),
        promql.drift_expr("fedgov_agent_feature_psi_pvalue"),
        promql.selection_rate_expr("credit-risk", jurisdiction_glob="EU-*"),
        promql.disparate_impact_expr("credit-risk", model_version="1.0.0"),
        promql.disparate_impact_expr('we"ird\\model', merge=True, jurisdiction_glob="*"),
    ]


def test_everything_queried_is_exported(exposition: dict[str, str]) -> None:
    exported = _sample_names(exposition)
    texts = {
        "dashboard": "\n".join(_dashboard_exprs()),
        "rules": "\n".join(r["expr"] for r in _rules()),
        "promql.py": "\n".join(_promql_module_exprs()),
        "central.yml": (PROM / "central.yml").read_text(),
    }
    for where, text in texts.items():
        missing = _referenced_metrics(text) - exported
        assert not missing, f"{where} queries metrics nobody exports: {sorted(missing)}"


def test_dashboard_and_client_expressions_parse(promtool: Tool, tmp_path: Path) -> None:
    """promtool parses every expression (as recording rules); Grafana variables substituted."""
    subst = {
        "$__rate_interval": "5m",
        "$__range": "1h",
        "$jurisdiction": "EU-.*",
        "$model": "credit-risk",
        "$version": ".*",
        "$feature": ".*",
        "$attribute": ".*",
    }
    exprs = []
    for e in _dashboard_exprs() + _promql_module_exprs():
        for k, v in subst.items():
            e = e.replace(k, v)
        assert "$" not in e, e
        exprs.append(e)
    doc = {
        "groups": [
            {
                "name": "exprs",
                "rules": [{"record": f"check:e{i}:x", "expr": e} for i, e in enumerate(exprs)],
            }
        ]
    }
    f = tmp_path / "exprs.yml"
    f.write_text(yaml.safe_dump(doc))
    out = _run([promtool.require(), "check", "rules", str(f)])
    assert out.returncode == 0, out.stdout + out.stderr


def test_readme_documents_every_metric_and_label(exposition: dict[str, str]) -> None:
    readme = (DEPLOY / "README.md").read_text()
    for text in exposition.values():
        for name in _families(text):
            assert f"`{name}`" in readme or f"`{name}_total`" in readme, (
                f"deploy/README.md does not document {name}"
            )
    for label in sorted((AGENT_LABELS | AGGREGATOR_LABELS | {"site", "replica"}) - {"le"}):
        assert f"`{label}`" in readme, f"deploy/README.md: label {label} is not in the contract"


def test_glob_to_regex_matches_like_fnmatch() -> None:
    from aggregator.promql import glob_to_regex

    names = ["EU-DE", "EU-FR", "US-NY", "US-CA", "EU-", "a.b", "axb", "[x]", "x+y", "]", "E"]
    for glob in ["EU-*", "US-NY", "*", "EU-?", "[!E]*", "[]x]", "a.b", "x+y", "US-[NC]?", "["]:
        rx = re.compile(glob_to_regex(glob))
        for n in names:
            assert bool(rx.fullmatch(n)) == fnmatch.fnmatchcase(n, glob), (glob, n)
    rx = re.compile(glob_to_regex("EU-*, US-NY"))
    assert [n for n in names if rx.fullmatch(n)] == ["EU-DE", "EU-FR", "US-NY", "EU-"]


# ==============================================================================
# The label contract across files
# ==============================================================================
def test_label_contract_is_the_same_everywhere() -> None:
    site = yaml.safe_load((PROM / "site.yml").read_text())
    central = yaml.safe_load((PROM / "central.yml").read_text())
    assert set(site["global"]["external_labels"]) == {"site", "jurisdiction", "replica"}
    assert set(central["global"]["external_labels"]) == {"site", "replica"}
    fed = {j["job_name"]: j for j in central["scrape_configs"]}["fedgov-federate"]
    assert fed["honor_labels"] is True and fed["metrics_path"] == "/federate"
    agent_job = {j["job_name"]: j for j in site["scrape_configs"]}["fedgov-agent"]
    assert agent_job.get("honor_labels") is False  # the agent's silo label is never overwritten
    query = _unit_exec(THANOS / "thanos-query.service")
    assert "--query.replica-label=replica" in query
    rule = _unit_exec(THANOS / "thanos-rule.service")
    assert {a for a in rule if a.startswith("--label=")} == {
        '--label=site="central"',
        '--label=replica="a"',
    }
    rule_files = [a.split("=", 1)[1] for a in rule if a.startswith("--rule-file=")]
    assert rule_files == ["/etc/fedgov/prometheus/rules/global.rules.yml"]
    assert (PROM / "rules" / "global.rules.yml").exists()


# ==============================================================================
# Kubernetes
# ==============================================================================
MANIFESTS = sorted(p.name for p in K8S.glob("*.yaml") if not p.name.endswith(".patch.yaml"))
# Referenced but provided by each site (documented in deploy/README.md).
EXTERNAL = {
    "Secret": {
        "fedgov-aggregator-tls",
        "fedgov-tls-eu-de",
        "fedgov-tls-us-ny",
        "fedgov-superlink-tls",
    },
    "ConfigMap": {"fedgov-specs"},
    "PersistentVolumeClaim": {"fedgov-data-eu-de", "fedgov-data-us-ny"},
}


def _docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


def _all_docs() -> list[dict[str, Any]]:
    return [d for name in MANIFESTS for d in _docs(name)]


def _workloads() -> list[dict[str, Any]]:
    return [d for d in _all_docs() if d["kind"] in ("Deployment", "StatefulSet")]


def _by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _all_docs() if d["kind"] == kind}


def _with_opa(deployment: dict[str, Any]) -> dict[str, Any]:
    """Apply opa-sidecar.patch.yaml as a strategic merge patch (containers merge by name)."""
    patch = yaml.safe_load((K8S / "opa-sidecar.patch.yaml").read_text())
    out = copy.deepcopy(deployment)
    containers = out["spec"]["template"]["spec"]["containers"]
    names = {c["name"] for c in containers}
    for c in patch["spec"]["template"]["spec"]["containers"]:
        assert c["name"] not in names
        containers.append(c)
    return out


@pytest.mark.parametrize("name", MANIFESTS)
def test_manifest_matches_the_kubernetes_schema(k8s_validate: Any, name: str) -> None:
    for doc in _docs(name):
        k8s_validate.validate(doc, K8S_VERSION, strict=True)


def test_opa_patch_yields_a_valid_deployment(k8s_validate: Any) -> None:
    agent = _by_kind("Deployment")["fedgov-agent-eu-de"]
    patched = _with_opa(agent)
    k8s_validate.validate(patched, K8S_VERSION, strict=True)
    opa = patched["spec"]["template"]["spec"]["containers"][-1]
    assert "--addr=127.0.0.1:8181" in opa["args"]  # REST only on the pod's loopback
    assert opa["readinessProbe"]["httpGet"]["port"] == 8282
    assert opa["securityContext"]["readOnlyRootFilesystem"] is True


def test_schema_validation_is_strict(k8s_validate: Any) -> None:
    """The validator really rejects a misspelt field (so the test above means something)."""
    bad = copy.deepcopy(_by_kind("StatefulSet")["fedgov-aggregator"])
    bad["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(k8s_validate.ValidationError):
        k8s_validate.validate(bad, K8S_VERSION, strict=True)


def test_expected_objects_exist() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in _all_docs()}
    for obj in [
        ("Namespace", "fedgov"),
        ("StatefulSet", "fedgov-aggregator"),
        ("Service", "fedgov-aggregator"),
        ("Deployment", "fedgov-superlink"),
        ("Service", "fedgov-superlink"),
        ("Deployment", "fedgov-agent-eu-de"),
        ("Deployment", "fedgov-agent-us-ny"),
        ("ConfigMap", "fedgov-policy-eu"),
        ("ConfigMap", "fedgov-policy-us-four-fifths"),
        ("ConfigMap", "fedgov-policy-default"),
    ]:
        assert obj in kinds, obj
    for d in _all_docs():
        if d["kind"] != "Namespace":
            assert d["metadata"]["namespace"] == "fedgov", d["metadata"]["name"]


@pytest.mark.parametrize("workload", _workloads(), ids=lambda w: w["metadata"]["name"])
def test_workload_hygiene(workload: dict[str, Any]) -> None:
    name = workload["metadata"]["name"]
    spec = workload["spec"]
    pod = spec["template"]["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    if workload["kind"] == "Deployment":
        assert spec["strategy"]["type"] == "Recreate", f"{name}: one writer of its state"
    # One writer of its state; the replicas share a PostgreSQL store (aggregator.replicas).
    assert spec["replicas"] == (2 if name == "fedgov-aggregator-replicas" else 1)
    volumes = {v["name"]: v for v in pod["volumes"]}
    claims = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])}
    for c in pod["containers"]:
        image = c["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin {image}"
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert "memory" in c["resources"]["limits"] and c["resources"]["requests"]
        ports = {p["containerPort"] for p in c.get("ports", [])}
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if probe in c:
                action = c[probe].get("grpc") or c[probe].get("httpGet")
                assert action["port"] in ports, f"{name}: {probe} on an undeclared port"
        for m in c.get("volumeMounts", []):
            assert m["name"] in volumes or m["name"] in claims, f"{name}: volume {m['name']}"
    for v in pod["volumes"]:
        if "configMap" in v:
            ref = v["configMap"]["name"]
            assert ref in _by_kind("ConfigMap") or ref in EXTERNAL["ConfigMap"], ref
        if "secret" in v:
            assert v["secret"]["secretName"] in EXTERNAL["Secret"]
            assert v["secret"]["defaultMode"] == 0o440  # fsGroup can read, others cannot
        if "persistentVolumeClaim" in v:
            ref = v["persistentVolumeClaim"]["claimName"]
            assert (
                ref in _by_kind("PersistentVolumeClaim") or ref in EXTERNAL["PersistentVolumeClaim"]
            ), ref


def test_aggregator_probes_use_the_grpc_health_service() -> None:
    (c,) = _by_kind("StatefulSet")["fedgov-aggregator"]["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        grpc = c[probe]["grpc"]  # the kubelet's native gRPC probe
        assert grpc == {"port": ports["grpc-health"], "service": "fedgov.v1.Aggregator"}
    from aggregator.server import SERVICE_NAME

    assert SERVICE_NAME == "fedgov.v1.Aggregator"


def test_superlink_probes_and_args() -> None:
    from flwr.superlink.cli.flower_superlink import _parse_args_run_superlink

    (c,) = _by_kind("Deployment")["fedgov-superlink"]["spec"]["template"]["spec"]["containers"]
    args = _parse_args_run_superlink().parse_args(c["args"])
    assert args.insecure is False and args.ssl_certfile and args.ssl_keyfile
    assert args.runtime_dependency_install is False
    health_port = int(args.health_server_address.rsplit(":", 1)[1])
    assert c["readinessProbe"]["grpc"]["port"] == health_port
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["http"] == args.port


def test_services_route_to_declared_ports() -> None:
    pods = {w["metadata"]["name"]: w["spec"]["template"] for w in _workloads()}
    for svc in _by_kind("Service").values():
        sel = svc["spec"]["selector"]
        targets = [t for t in pods.values() if sel.items() <= t["metadata"]["labels"].items()]
        assert len(targets) == 1, f"service {svc['metadata']['name']} selects {len(targets)}"
        named = {p["name"] for c in targets[0]["spec"]["containers"] for p in c.get("ports", [])}
        for p in svc["spec"]["ports"]:
            assert p["targetPort"] in named, (svc["metadata"]["name"], p)


def _strip_pending_flags(args: list[str]) -> list[str]:
    out = []
    for a in args:
        if a.split("=", 1)[0] in PENDING_CLI_FLAGS:
            continue
        out.append(a)
    return out


def _parse_fedgov(args: list[str]) -> Any:
    from fedgov.cli.main import build_parser

    try:
        return build_parser().parse_args(args)
    except SystemExit as exc:
        pytest.fail(f"fedgov rejects {shlex.join(args)} (exit {exc.code})")


def test_fedgov_container_args_parse() -> None:
    seen = 0
    for w in _workloads():
        for c in w["spec"]["template"]["spec"]["containers"]:
            if not c["image"].startswith("ghcr.io/fedgov/fedgov:"):
                continue
            pod = "fedgov-aggregator-replicas-0"  # Kubernetes expands $(POD_NAME)
            args = [a.replace("$(POD_NAME)", pod) for a in _strip_pending_flags(c["args"])]
            ns = _parse_fedgov(args)
            seen += 1
            if ns.command == "aggregator":
                assert ns.tls_dir and not ns.insecure  # mTLS in production
                assert ns.metrics_port in {p["containerPort"] for p in c["ports"]}
            else:
                assert ns.command == "agent" and not ns.once
    assert seen == 4


def _embedded_silo_configs() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name, cm in _by_kind("ConfigMap").items():
        if "silo.yaml" in cm.get("data", {}):
            out.append((name, yaml.safe_load(cm["data"]["silo.yaml"])))
    return out


def test_embedded_silo_configs_load() -> None:
    from agent.config import config_from_dict

    configs = _embedded_silo_configs()
    assert len(configs) == 2
    for name, doc in configs:
        assert doc.get("metrics_address") == "0.0.0.0"
        for key in PENDING_CONFIG_KEYS:
            doc.pop(key, None)
        cfg = config_from_dict(doc, base=Path("/"), source=name)
        assert cfg.tls is not None and not cfg.insecure
        assert cfg.metrics_port == 9464
        assert cfg.silo_id == name.removeprefix("fedgov-agent-").upper()
        assert cfg.jurisdiction == cfg.silo_id


def test_agent_mounts_match_its_config() -> None:
    for name, doc in _embedded_silo_configs():
        deployment = _by_kind("Deployment")[name]
        mounts = {
            m["mountPath"]
            for c in deployment["spec"]["template"]["spec"]["containers"]
            for m in c["volumeMounts"]
        }
        paths = [
            doc["policy"],
            doc["state_dir"],
            *(m["spec"] for m in doc["models"]),
            *(m["input"] for m in doc["models"]),
            *doc["aggregator"]["tls"].values(),
        ]
        for p in paths:
            assert any(p == m or p.startswith(m.rstrip("/") + "/") for m in mounts), (name, p)


def test_integration_points_exist() -> None:
    from agent.config import AgentConfig
    from fedgov.cli.main import build_parser

    assert "metrics_address" in AgentConfig.__dataclass_fields__
    build_parser().parse_args(["aggregator", "serve", "--health-listen=0.0.0.0:50052"])


def test_policy_configmaps_are_current() -> None:
    out = _run([sys.executable, str(K8S / "gen_policy_configmaps.py"), "--check"])
    assert out.returncode == 0, out.stderr


def test_policy_configmaps_mirror_the_bundles() -> None:
    cms = _by_kind("ConfigMap")
    for name in ("fedgov-policy-eu", "fedgov-policy-us-four-fifths", "fedgov-policy-default"):
        cm = cms[name]
        folder = REPO / cm["metadata"]["annotations"]["fedgov.io/source"]
        files = {p.name: p.read_text() for p in folder.iterdir() if p.suffix in (".rego", ".json")}
        assert cm["data"] == files
        assert sum(len(v.encode()) for v in files.values()) < 1_000_000  # ConfigMap limit


# ==============================================================================
# systemd
# ==============================================================================
UNITS = sorted([*SYSTEMD.glob("*.service"), *THANOS.glob("*.service")])


def _parse_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Sections -> [(key, value)], keeping repeated keys; joins continuation lines."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: str | None = None
    logical: list[str] = []
    buf = ""
    for raw in path.read_text().splitlines():
        line = raw.rstrip()
        if buf:
            buf += " " + line.strip()
        else:
            buf = line
        if buf.endswith("\\"):
            buf = buf[:-1].rstrip()
            continue
        logical.append(buf)
        buf = ""
    assert not buf, f"{path.name}: dangling continuation"
    for line in logical:
        s = line.strip()
        if not s or s.startswith(("#", ";")):
            continue
        if s.startswith("["):
            assert s.endswith("]"), s
            current = s[1:-1]
            sections.setdefault(current, [])
            continue
        assert current is not None and "=" in s, f"{path.name}: bad line {s!r}"
        key, value = s.split("=", 1)
        sections[current].append((key.strip(), value.strip()))
    return sections


def _get(sections: dict[str, list[tuple[str, str]]], section: str, key: str) -> list[str]:
    return [v for k, v in sections.get(section, []) if k == key]


def _unit_exec(path: Path) -> list[str]:
    """ExecStart split as systemd splits it here: on whitespace (quotes inside a
    word, as in --label=site="central", are kept; no word here is quoted whole)."""
    (cmd,) = _get(_parse_unit(path), "Service", "ExecStart")
    words = cmd.split()
    assert not any(w[0] in "'\"" for w in words), f"{path.name}: quoted words need shlex"
    return words


HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "RestrictNamespaces": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "SystemCallArchitectures": "native",
    "CapabilityBoundingSet": "",
    "AmbientCapabilities": "",
}


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_unit_is_hardened(unit: Path) -> None:
    sections = _parse_unit(unit)
    assert set(sections) == {"Unit", "Service", "Install"}
    for key, value in HARDENING.items():
        assert _get(sections, "Service", key) == [value], f"{unit.name}: {key}={value}"
    assert "@system-service" in _get(sections, "Service", "SystemCallFilter")
    assert _get(sections, "Service", "Restart") == ["on-failure"]
    assert _get(sections, "Install", "WantedBy") == ["multi-user.target"]
    users = _get(sections, "Service", "User") + _get(sections, "Service", "DynamicUser")
    assert users and "root" not in users


@pytest.mark.parametrize("unit", sorted(SYSTEMD.glob("*.service")), ids=lambda p: p.name)
def test_fedgov_unit_exec_parses(unit: Path) -> None:
    argv = _unit_exec(unit)
    assert argv[0] == "/opt/fedgov/bin/fedgov"
    args = [a.replace("%i", "EU-DE").replace("%d", "/run/credentials/x") for a in argv[1:]]
    ns = _parse_fedgov(args)
    sections = _parse_unit(unit)
    creds = {c.split(":", 1)[0] for c in _get(sections, "Service", "LoadCredential")}
    if ns.command == "aggregator":
        assert ns.tls_dir == "/run/credentials/x" and not ns.insecure
        assert creds == {"ca.pem", "aggregator.pem", "aggregator.key"}
        assert ns.db.startswith("/var/lib/fedgov-aggregator/")
        assert _get(sections, "Service", "StateDirectory") == ["fedgov-aggregator"]
    elif ns.command == "dashboard":
        assert ns.tls_dir == "/run/credentials/x" and ns.identity == "auditor"
        assert creds == {"ca.pem", "auditor.pem", "auditor.key"}
        assert ns.token_file.startswith("/var/lib/fedgov-dashboard/")
        assert ns.listen.startswith("127.0.0.1:")  # behind a proxy that terminates HTTPS
        assert _get(sections, "Service", "StateDirectory") == ["fedgov-dashboard"]
    else:
        assert ns.config == "/etc/fedgov/agent/EU-DE.yaml"
        assert creds == {"ca.pem", "silo.pem", "silo.key"}


def test_example_silo_config_matches_the_agent_unit() -> None:
    from agent.config import config_from_dict

    doc = yaml.safe_load((SYSTEMD / "silo.example.yaml").read_text())
    cfg = config_from_dict(doc, base=Path("/etc/fedgov/agent"), source="silo.example.yaml")
    unit = _parse_unit(SYSTEMD / "fedgov-agent@.service")
    (state,) = _get(unit, "Service", "StateDirectory")
    assert str(cfg.state_dir) == "/var/lib/" + state.replace("%i", cfg.silo_id)
    assert cfg.tls is not None
    creds = "/run/credentials/fedgov-agent@EU-DE.service/"
    assert {str(cfg.tls.ca), str(cfg.tls.cert), str(cfg.tls.key)} == {
        creds + "ca.pem",
        creds + "silo.pem",
        creds + "silo.key",
    }


@pytest.fixture(scope="module")
def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.skip("systemd-analyze is not installed; the units were parsed only")
    return path


@pytest.fixture(scope="module")
def verifiable_units(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Copies whose ExecStart binary exists here (verify checks it is executable);
    the template unit is instantiated (verify needs an instance name)."""
    tmp = tmp_path_factory.mktemp("units")
    out = []
    for unit in UNITS:
        text = unit.read_text()
        text = text.replace("/opt/fedgov/bin/fedgov", "/bin/true")
        text = text.replace("/usr/local/bin/thanos", "/bin/true")
        name = unit.name.replace("@.service", "@EU-DE.service")
        (tmp / name).write_text(text)
        out.append(tmp / name)
    return out


def test_systemd_analyze_verify(systemd_analyze: str, verifiable_units: list[Path]) -> None:
    out = _run([systemd_analyze, "verify", *map(str, verifiable_units)])
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert not re.search(r"Unknown|Failed|not safe|ignoring", text), text


@pytest.mark.parametrize("index", range(len(UNITS)), ids=[u.name for u in UNITS])
def test_systemd_analyze_security(
    systemd_analyze: str, verifiable_units: list[Path], index: int
) -> None:
    unit = verifiable_units[index]
    out = _run([systemd_analyze, "security", "--offline=true", "--no-pager", str(unit)])
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out.stdout + out.stderr)
    assert m, out.stdout + out.stderr
    assert float(m.group(1)) <= 2.0, f"{unit.name}: exposure {m.group(1)}\n{out.stdout}"


def test_thanos_configs_parse() -> None:
    query = yaml.safe_load((THANOS / "query.yml").read_text())
    assert query[0]["static_configs"] == ["127.0.0.1:10902"]
    objstore = yaml.safe_load((THANOS / "objstore.yml").read_text())
    assert objstore["type"] == "S3" and objstore["config"]["bucket"]
    sidecar = _unit_exec(THANOS / "thanos-sidecar.service")
    assert sidecar[1] == "sidecar"
    assert "--prometheus.url=http://127.0.0.1:9090" in sidecar
    assert any(a.startswith("--grpc-server-tls-client-ca=") for a in sidecar)
    query_args = _unit_exec(THANOS / "thanos-query.service")
    endpoints = [a for a in query_args if a.startswith("--endpoint=")]
    assert len(endpoints) >= 2 and "--grpc-client-tls-secure" in query_args
    rule_grpc = next(
        a.split("=", 1)[1]
        for a in _unit_exec(THANOS / "thanos-rule.service")
        if a.startswith("--grpc-address=")
    )
    assert f"--endpoint={rule_grpc}" in query_args  # recorded series come back to Query


# ==============================================================================
# Dockerfile
# ==============================================================================
def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in (DEPLOY / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue
        buf = f"{buf} {line}" if buf else line
        if buf.endswith("\\"):
            buf = buf[:-1].rstrip()
            continue
        instr, _, rest = buf.partition(" ")
        out.append((instr.upper(), rest.strip()))
        buf = ""
    assert not buf, "Dockerfile ends inside a continuation"
    return out


KNOWN_INSTRUCTIONS = {
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
}


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex: ``**/`` any directories, ``*`` within one."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def _dockerignored(path: str) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern that matches a
    parent directory excludes everything under it."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        pat = raw.strip()
        if not pat or pat.startswith("#"):
            continue
        neg = pat.startswith("!")
        rx = _ignore_regex(pat.lstrip("!").rstrip("/"))
        if any(rx.fullmatch(p) for p in prefixes):
            excluded = not neg
    return excluded


def test_dockerfile_lint() -> None:
    steps = _dockerfile()
    assert all(i in KNOWN_INSTRUCTIONS for i, _ in steps), steps
    assert steps[0][0] in ("ARG", "FROM")
    args = {a.split("=", 1)[0]: a.split("=", 1)[1] for i, a in steps if i == "ARG" and "=" in a}
    stages: list[str] = []
    for instr, rest in steps:
        if instr == "FROM":
            image, _, alias = rest.partition(" AS ")
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
            assert re.fullmatch(r"[\w./-]+:\d[\w.-]*", image), f"pin the base image: {image}"
            stages.append(alias.strip())
        if instr == "COPY" and rest.startswith("--from="):
            assert rest.split()[0].split("=", 1)[1] in stages
        assert instr != "ADD", "use COPY (ADD fetches URLs and unpacks archives)"
        if instr == "RUN" and "pip install" in rest:
            assert "--no-cache-dir" in rest
    final = steps[max(i for i, (s, _) in enumerate(steps) if s == "FROM") :]
    users = [rest for instr, rest in final if instr == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    user_at = max(i for i, (s, _) in enumerate(final) if s == "USER")
    entry_at = max(i for i, (s, _) in enumerate(final) if s == "ENTRYPOINT")
    assert user_at < entry_at
    (entry,) = [rest for instr, rest in final if instr == "ENTRYPOINT"]
    assert json.loads(entry) == ["fedgov"]  # exec form; the console script of pyproject
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'fedgov = "fedgov.cli.main:main"' in pyproject
    (cmd,) = [rest for instr, rest in final if instr == "CMD"]
    assert isinstance(json.loads(cmd), list)
    exposed = {int(p) for instr, rest in final if instr == "EXPOSE" for p in rest.split()}
    used = {
        p["containerPort"]
        for w in _workloads()
        for c in w["spec"]["template"]["spec"]["containers"]
        if c["image"].startswith("ghcr.io/fedgov/fedgov:")
        for p in c["ports"]
    }
    assert used <= exposed, (
        f"ports the manifests use but the image does not expose: {used - exposed}"
    )


def test_dockerfile_copies_exist_and_are_not_ignored() -> None:
    copied = []
    for instr, rest in _dockerfile():
        if instr == "COPY" and not rest.startswith("--from="):
            *sources, _dest = rest.split()
            copied += sources
    assert copied
    for src in copied:
        assert (REPO / src).exists(), src
        assert not _dockerignored(src), f".dockerignore excludes {src}, which the image needs"
    for path in (
        ".git",
        "tests",
        "fedgov/__pycache__",
        "state",
        "x/aggregator.db",
        "pki",
        "deploy/kubernetes",
        "a/b.key",
    ):
        assert _dockerignored(path), f".dockerignore should exclude {path}"
    assert not _dockerignored("deploy/policies/eu/policy.rego")


def test_deploy_readme_says_what_cannot_run_here() -> None:
    readme = (DEPLOY / "README.md").read_text()
    assert "no container engine" in " ".join(readme.lower().split())
    for anchor in ("Label contract", "promtool", "Thanos", "systemd", "Kubernetes", "Grafana"):
        assert anchor in readme, anchor


def _iter_files(root: Path) -> Iterator[Path]:
    yield from (p for p in root.rglob("*") if p.is_file())


def test_yaml_files_all_parse() -> None:
    for p in _iter_files(DEPLOY):
        if p.suffix in (".yml", ".yaml") and "policies" not in p.parts:
            list(yaml.safe_load_all(p.read_text()))
