"""Real Prometheus servers: site instances scrape real agents, a central one federates.

Three in-process agents (EU-DE-BER and EU-DE-MUC in jurisdiction EU-DE, US-NY)
each report one window to a real aggregator. Four site Prometheus instances,
made from deploy/prometheus/site.yml, scrape them: "eu-de-berlin" in two
replicas (a, b) scraping EU-DE-BER, "eu-de-munich" scraping EU-DE-MUC and
"us-ny-newyork" scraping US-NY. A central Prometheus, made from
deploy/prometheus/central.yml, federates the four (/federate, honor_labels)
and scrapes the aggregator's /metrics: the role Thanos Query plays in
production. On the central one, PromQL (aggregator.promql and the global
recording rules) must give the aggregator's own answers: per-jurisdiction
disparate impact merged across sites, counted once despite the duplicate
replica, and the same drift rows.

The Prometheus binary comes from FEDGOV_PROMETHEUS_BIN (printed by
scripts/services.sh) or the PATH; without it the test skips, except under
CI=true, where it fails. Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from prometheus_client import CollectorRegistry, start_http_server
from support.agents import silo_config
from support.ports import free_port
from support.services import required

from agent.config import config_from_dict
from agent.service import Agent
from aggregator.answers import to_json
from aggregator.central import CentralGate
from aggregator.promql import PromQLClient
from aggregator.query_client import QueryClient
from aggregator.server import RunningServer, create_server
from aggregator.store import SqliteStore
from fedgov.errors import QueryError, TransportError
from fedgov.policy import RegoEngine, default_bundle_path
from fedgov.spec import MonitoringSpec, save_spec
from fedgov.synthetic import credit_data, write_table

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PROM_DIR = REPO / "deploy" / "prometheus"
MODEL = "credit-risk"
START_TIMEOUT = 30.0  # seconds for a Prometheus to report ready
DATA_TIMEOUT = 60.0  # seconds for scrape -> federate -> rules to settle

# silo -> (jurisdiction, drift, bias, seed)
SILOS = {
    "EU-DE-BER": ("EU-DE", 1.0, 0.0, 71),
    "EU-DE-MUC": ("EU-DE", 0.0, 0.05, 72),
    "US-NY": ("US-NY", 0.0, 0.15, 73),
}
# site Prometheus -> (site, jurisdiction, replica, silos it scrapes)
SITES = {
    "berlin-a": ("eu-de-berlin", "EU-DE", "a", ["EU-DE-BER"]),
    "berlin-b": ("eu-de-berlin", "EU-DE", "b", ["EU-DE-BER"]),
    "munich-a": ("eu-de-munich", "EU-DE", "a", ["EU-DE-MUC"]),
    "newyork-a": ("us-ny-newyork", "US-NY", "a", ["US-NY"]),
}

T = TypeVar("T")


# -- the Prometheus binary -----------------------------------------------------
@dataclass(frozen=True)
class PromBinary:
    path: str | None
    in_ci: bool

    def require(self) -> str:
        reason = (
            "the prometheus binary is missing: `apt-get install -y prometheus`, or "
            '`eval "$(bash scripts/services.sh)"` and export FEDGOV_PROMETHEUS_BIN'
        )
        return required(self.path, self.in_ci, reason)


@pytest.fixture(scope="session")
def prometheus_binary() -> PromBinary:
    """Session-scoped, so it reads FEDGOV_PROMETHEUS_BIN before the root conftest clears it."""
    return PromBinary(
        path=os.environ.get("FEDGOV_PROMETHEUS_BIN") or shutil.which("prometheus"),
        in_ci=os.environ.get("CI", "").lower() == "true",
    )


def _get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read().decode())


def _eventually(what: str, check: Callable[[], T], timeout: float) -> T:
    """Run ``check`` (which asserts) until it passes and return its value;
    after ``timeout`` s, raise its last failure."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                print(f"{what}: still failing after {timeout:.0f}s", file=sys.stderr)
                raise
        time.sleep(0.5)


def _wait_for(what: str, probe: Callable[[], T | None], timeout: float, log: str = "") -> T:
    """Poll ``probe`` until it returns something other than None, at most ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
        except urllib.error.HTTPError as exc:  # e.g. 503 from /-/ready while starting
            exc.close()
            last_error, value = exc, None
        except (OSError, urllib.error.URLError, QueryError, TransportError) as exc:
            last_error, value = exc, None
        if value is not None:
            return value
        time.sleep(0.2)
    pytest.fail(
        f"timed out after {timeout:.0f}s waiting for {what}"
        + (f" (last error: {last_error})" if last_error else "")
        + (f"\n{log}" if log else ""),
        pytrace=False,
    )


class PromServer:
    """One Prometheus process on a free loopback port with its own TSDB in tmp."""

    def __init__(self, binary: str, name: str, workdir: Path, config: dict[str, Any]) -> None:
        self.name = name
        self.dir = workdir / name
        self.dir.mkdir(parents=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_file = self.dir / "prometheus.yml"
        self.config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        self.log_file = self.dir / "prometheus.log"
        self._log = open(self.log_file, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={self.config_file}",
                f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
                "--log.level=warn",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
        )

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_file.read_text(errors="replace").splitlines()
        return f"--- {self.name} log ---\n" + "\n".join(text[-lines:])

    def wait_ready(self) -> None:
        def ready() -> bool | None:
            if self.proc.poll() is not None:
                pytest.fail(
                    f"prometheus {self.name} exited with {self.proc.returncode}\n{self.log_tail()}",
                    pytrace=False,
                )
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:
                return True if resp.status == 200 else None

        _wait_for(f"prometheus {self.name} /-/ready", ready, START_TIMEOUT, self.log_tail())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


# -- configs made from the shipped ones ------------------------------------------
def _site_config(site: str, jurisdiction: str, replica: str, targets: list[str]) -> dict[str, Any]:
    cfg = yaml.safe_load((PROM_DIR / "site.yml").read_text())
    cfg["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    cfg["global"]["external_labels"] = {
        "site": site,
        "jurisdiction": jurisdiction,
        "replica": replica,
    }
    cfg["rule_files"] = [str(PROM_DIR / f) for f in cfg["rule_files"]]
    cfg.pop("alerting", None)
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    jobs["fedgov-agent"]["static_configs"] = [{"targets": targets}]
    cfg["scrape_configs"] = [jobs["fedgov-agent"]]
    return cfg


def _central_config(site_urls: list[str], aggregator_target: str) -> dict[str, Any]:
    cfg = yaml.safe_load((PROM_DIR / "central.yml").read_text())
    cfg["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    cfg["rule_files"] = [str(PROM_DIR / f) for f in cfg["rule_files"]]
    cfg.pop("alerting", None)
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    assert jobs["fedgov-federate"]["honor_labels"] is True
    jobs["fedgov-federate"]["static_configs"] = [{"targets": site_urls}]
    jobs["fedgov-aggregator"]["static_configs"] = [{"targets": [aggregator_target]}]
    cfg["scrape_configs"] = [jobs["fedgov-federate"], jobs["fedgov-aggregator"]]
    return cfg


# -- the federation ---------------------------------------------------------------
@dataclass
class Federation:
    aggregator: RunningServer
    agents: dict[str, Agent]
    sites: dict[str, PromServer]
    central: PromServer


@pytest.fixture(scope="module")
def federation(
    tmp_path_factory: pytest.TempPathFactory,
    prometheus_binary: PromBinary,
    credit_spec: MonitoringSpec,
) -> Iterator[Federation]:
    """Built once for the module: five Prometheus processes take a few seconds."""
    binary = prometheus_binary.require()
    tmp_path = tmp_path_factory.mktemp("federation")
    spec_file = tmp_path / "spec.json"
    save_spec(credit_spec, spec_file)
    store = SqliteStore(tmp_path / "agg.db")
    registry = CollectorRegistry()  # create_server also exports the store on it
    aggregator = create_server(
        "127.0.0.1:0",
        store,
        central=CentralGate(RegoEngine.from_bundle(default_bundle_path()), ("EU-*", "US-*")),
        registry=registry,
    )
    agg_http, _thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    agents: dict[str, Agent] = {}
    servers: list[PromServer] = []
    try:
        for silo, (jurisdiction, drift, bias, seed) in SILOS.items():
            data = credit_data(3000, seed=seed, drift=drift, bias=bias)
            write_table(data, tmp_path / silo / "in" / "w1.parquet")
            config = config_from_dict(
                silo_config(
                    tmp_path,
                    silo,
                    spec_file,
                    f"127.0.0.1:{aggregator.port}",
                    jurisdiction=jurisdiction,
                    metrics_port=0,
                ),
                base=tmp_path,
            )
            agent = agents[silo] = Agent(config)
            agent.start_metrics()
            agent.register()
            (report,) = agent.scan_once()
            assert report.silo_id == silo
        sites = {
            name: PromServer(
                binary,
                name,
                tmp_path / "prom",
                _site_config(
                    site,
                    jurisdiction,
                    replica,
                    [f"127.0.0.1:{agents[s].metrics_port}" for s in silos],
                ),
            )
            for name, (site, jurisdiction, replica, silos) in SITES.items()
        }
        servers.extend(sites.values())
        for s in sites.values():
            s.wait_ready()
        central = PromServer(
            binary,
            "central",
            tmp_path / "prom",
            _central_config(
                [f"127.0.0.1:{s.port}" for s in sites.values()],
                f"127.0.0.1:{agg_http.server_port}",
            ),
        )
        servers.append(central)
        central.wait_ready()
        yield Federation(aggregator, agents, sites, central)
    finally:
        for server in servers:
            server.stop()
        for agent in agents.values():
            agent.close()
        agg_http.shutdown()
        agg_http.server_close()
        aggregator.stop(grace=1.0)
        store.close()


def _logs(fed: Federation) -> str:
    return "\n".join(s.log_tail(10) for s in (*fed.sites.values(), fed.central))


# -- the tests --------------------------------------------------------------------
def test_central_promql_equals_aggregator(federation: Federation) -> None:
    fed = federation
    prom = PromQLClient(fed.central.url, timeout=5.0)
    attributes = ("sex", "age_band", "sex*age_band")

    # Every site's copy has reached the central one, EU-DE-BER's twice (replicas a, b).
    def federated() -> list[dict[str, Any]] | None:
        got = prom.query("fedgov_agent_window_rows")
        return got if len(got) == len(SITES) else None

    copies = _wait_for("every site's series on the central", federated, DATA_TIMEOUT, _logs(fed))
    assert sorted((c["labels"]["silo"], c["labels"]["replica"]) for c in copies) == [
        ("EU-DE-BER", "a"),
        ("EU-DE-BER", "b"),
        ("EU-DE-MUC", "a"),
        ("US-NY", "a"),
    ]
    address = f"127.0.0.1:{fed.aggregator.port}"

    def fairness_agrees() -> list[dict[str, Any]]:
        rows = prom.disparate_impact(MODEL)
        assert {(r["jurisdiction"], r["attribute"]) for r in rows} == {
            (j, a) for j in ("EU-DE", "US-NY") for a in attributes
        }
        with QueryClient(address) as q:
            # ...and still count once: per jurisdiction, merged across the two EU-DE sites.
            for jurisdiction in ("EU-DE", "US-NY"):
                ans = q.fairness(MODEL, jurisdiction_glob=jurisdiction)
                mine = {r["attribute"]: r for r in rows if r["jurisdiction"] == jurisdiction}
                assert set(mine) == set(attributes)
                for attr in attributes:
                    expected = ans.metrics["fairness"][attr]["demographic_parity_ratio"]
                    assert mine[attr]["disparate_impact"] == expected, (jurisdiction, attr)
                    assert mine[attr]["silos"] == list(ans.silos)
                    assert mine[attr]["rows"] == ans.rows
            assert [r["silos"] for r in rows if r["jurisdiction"] == "EU-DE"][0] == [
                "EU-DE-BER",
                "EU-DE-MUC",
            ]
            us = q.fairness(MODEL, jurisdiction_glob="US-*")
            assert us.metrics["fairness"]["sex"]["demographic_parity_ratio"] < 0.8

            # Merged over a glob, and over everything: the aggregator's merged figures.
            for glob in ("EU-*", ""):
                ans = q.fairness(MODEL, jurisdiction_glob=glob)
                merged = {
                    r["attribute"]: r
                    for r in prom.disparate_impact(MODEL, jurisdiction_glob=glob, merge=True)
                }
                for attr in attributes:
                    expected = ans.metrics["fairness"][attr]["demographic_parity_ratio"]
                    assert merged[attr]["disparate_impact"] == expected, (glob, attr)
                    assert merged[attr]["jurisdiction"] == (glob or "*")
                    assert merged[attr]["silos"] == list(ans.silos)
                    groups = ans.metrics["fairness"][attr]["groups"]
                    for group, rate in merged[attr]["selection_rates"].items():
                        assert rate == groups[group]["selection_rate"], (glob, attr, group)
        return rows

    # Scrape, federation and report delivery settle at their own pace: equal *eventually*.
    rows = _eventually("PromQL fairness equals the aggregator's", fairness_agrees, DATA_TIMEOUT)

    with QueryClient(address) as q:
        # Drift: the same rows as the aggregator's (the latest window of each silo).
        agg_drift = to_json(q.drift(0.2))
        prom_drift = prom.drift(0.2)
        assert agg_drift, "EU-DE-BER's data drifted: the aggregator must list features"
        assert len(prom_drift) == len(agg_drift)
        for a, p in zip(agg_drift, prom_drift, strict=True):
            assert set(p) == set(a)
            assert {k: p[k] for k in p if k != "report_id"} == {
                k: a[k] for k in a if k != "report_id"
            }
            assert p["report_id"] == ""
        assert (
            prom.drift(0.2, jurisdiction_glob="US-*")
            == to_json(q.drift(0.2, jurisdiction_glob="US-*"))
            == []
        )
        newest = max(r["window_end_ms"] for r in agg_drift)
        assert prom.drift(0.2, since_ms=newest + 1) == []
        assert {r["silo"] for r in prom.drift(0.2, since_ms=newest)} == {"EU-DE-BER"}

    # The global recording rule gives the same figure as the client's inline query.
    def recorded() -> dict[tuple[str, str], float] | None:
        got = {
            (s["labels"]["jurisdiction"], s["labels"]["attribute"]): s["value"]
            for s in prom.query(f'jurisdiction:fedgov_disparate_impact:ratio{{model="{MODEL}"}}')
        }
        return got if len(got) == 2 * len(attributes) else None

    def rule_agrees() -> None:
        # A rule evaluated before the last copy was federated holds an older figure
        # until its next evaluation: compare with what the rule says now.
        rule = _wait_for("the global recording rule", recorded, DATA_TIMEOUT, _logs(fed))
        for r in rows:
            assert rule[(r["jurisdiction"], r["attribute"])] == r["disparate_impact"], r

    _eventually("the recording rule equals the inline query", rule_agrees, DATA_TIMEOUT)


def test_rules_evaluate_and_aggregator_metrics_reach_the_central(federation: Federation) -> None:
    fed = federation
    central = PromQLClient(fed.central.url, timeout=5.0)
    berlin = PromQLClient(fed.sites["berlin-a"].url, timeout=5.0)

    # Site rules loaded and evaluating: the drifted silo's alert is pending (for: 5m).
    def drift_pending() -> list[dict[str, Any]] | None:
        got = berlin.query('ALERTS{alertname="FedgovFeatureDrift"}')
        return got or None

    alerts = _wait_for(
        "FedgovFeatureDrift pending at the berlin site", drift_pending, DATA_TIMEOUT, _logs(fed)
    )
    assert {a["labels"]["silo"] for a in alerts} == {"EU-DE-BER"}
    assert {a["labels"]["alertstate"] for a in alerts} == {"pending"}
    groups = _get_json(f"{fed.sites['berlin-a'].url}/api/v1/rules")["data"]["groups"]
    assert {g["name"] for g in groups} == {"fedgov-site"}
    assert all(r["health"] == "ok" for g in groups for r in g["rules"])

    # Global rules on the central one: US-NY's disparate impact is below 0.8.
    def di_pending() -> list[dict[str, Any]] | None:
        # Rules evaluate on their own clock: wait for the alert we expect, not just any.
        got = central.query('ALERTS{alertname="FedgovDisparateImpactBelowFourFifths"}')
        keys = {(a["labels"].get("jurisdiction"), a["labels"].get("attribute")) for a in got}
        return got if ("US-NY", "sex") in keys else None

    alerts = _wait_for(
        "FedgovDisparateImpactBelowFourFifths pending on the central",
        di_pending,
        DATA_TIMEOUT,
        _logs(fed),
    )
    assert ("US-NY", "sex") in {
        (a["labels"]["jurisdiction"], a["labels"]["attribute"]) for a in alerts
    }
    groups = _get_json(f"{fed.central.url}/api/v1/rules")["data"]["groups"]
    assert all(r["health"] == "ok" for g in groups for r in g["rules"]), groups

    # The aggregator's store-backed metrics: silos last seen, the retraining job.
    def aggregator_seen() -> list[dict[str, Any]] | None:
        got = central.query("fedgov_aggregator_silo_last_seen_timestamp_seconds")
        return got if len(got) == len(SILOS) else None

    seen = _wait_for("aggregator metrics on the central", aggregator_seen, DATA_TIMEOUT)
    assert {(s["labels"]["silo"], s["labels"]["jurisdiction"]) for s in seen} == {
        (silo, j) for silo, (j, *_rest) in SILOS.items()
    }
    jobs = central.query('fedgov_aggregator_retrain_jobs{model="credit-risk"}')
    assert [(j["labels"]["state"], j["value"]) for j in jobs] == [("dispatched", 1.0)]
    # Site external labels survive federation (honor_labels) for the global view.
    up = central.query('up{job="fedgov-agent"}')
    assert {(u["labels"]["site"], u["labels"]["replica"]) for u in up} == {
        (site, replica) for site, _j, replica, _s in SITES.values()
    }
    assert all(u["value"] == 1.0 for u in up)


def test_promql_client_errors(federation: Federation) -> None:
    prom = PromQLClient(federation.central.url, timeout=5.0)
    with pytest.raises(QueryError, match="HTTP 400.*bad_data"):
        prom.query("sum(")
    with pytest.raises(QueryError, match="psi threshold"):
        prom.drift(float("nan"))
    with pytest.raises(TransportError, match="cannot reach the Prometheus API"):
        PromQLClient(f"http://127.0.0.1:{free_port()}", timeout=2.0).query("up")
    with pytest.raises(QueryError, match="expected http"):
        PromQLClient("localhost:9090")
