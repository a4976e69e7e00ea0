"""`fedgov demo`: an aggregator and three silos, one reporting window, end to end.

Everything is real and local: a gRPC aggregator on a free port with a
SQLite store, three agents with their own Rego bundle, Prometheus
endpoints on free ports, and generated data. EU-DE's data has drifted and
US-NY's model is biased against women; both gates request retraining, so
one retraining job is dispatched to every silo serving the model. Unless
``retrain=False``, the loop then closes on real Flower processes: a
SuperLink beside the aggregator, a SuperNode beside each silo's data,
FedAvg rounds with reweighing, the candidate gated on every silo's holdout
and by the central policy, then promoted (or rejected).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedgov.cli._format import table
from fedgov.policy import default_bundle_path
from fedgov.spec import save_spec
from fedgov.synthetic import credit_data, write_table

__all__ = ["run_demo"]

MODEL_ID, MODEL_VERSION = "credit-risk", "1.0.0"
PSI_THRESHOLD = 0.2
DP_RATIO_MIN = 0.8


@dataclass(frozen=True)
class DemoSilo:
    silo_id: str
    drift: float
    bias: float
    fmt: str
    story: str


SILOS = (
    DemoSilo("EU-DE", drift=1.0, bias=0.0, fmt="parquet", story="income and debt have drifted"),
    DemoSilo("EU-FR", drift=0.0, bias=0.0, fmt="csv", story="healthy"),
    DemoSilo("US-NY", drift=0.0, bias=0.12, fmt="parquet", story="model biased against women"),
)


def _say(quiet: bool, *lines: str) -> None:
    if not quiet:
        for line in lines:
            print(line, flush=True)


def run_demo(
    *,
    seed: int = 7,
    rows: int = 20_000,
    workdir: str | None = None,
    as_json: bool = False,
    retrain: bool = True,
    rounds: int = 3,
) -> dict[str, Any]:
    from agent.config import config_from_dict
    from agent.runner import Agent
    from aggregator.central import CentralGate
    from aggregator.query_client import QueryClient
    from aggregator.server import create_server
    from aggregator.store import SqliteStore
    from fedgov.cli.commands import (
        print_central,
        print_decisions,
        print_drift,
        print_fairness,
        print_jobs,
    )
    from fedgov.policy import RegoEngine
    from fedgov.stats import derive_spec

    quiet = as_json
    started = time.monotonic()
    root = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="fedgov-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    agents: list[Agent] = []
    running = None
    threads: list[threading.Thread] = []
    try:
        # 1. A shared monitoring spec, derived once from reference data.
        # The model's score travels as per-group histograms (AUC, calibration error).
        reference = credit_data(rows, seed=seed, with_score=True)
        spec = derive_spec(
            reference,
            model_id=MODEL_ID,
            model_version=MODEL_VERSION,
            label="repaid",
            prediction="approved",
            sensitive=["sex", "age_band"],
            intersections=[("sex", "age_band")],
            categorical=["purpose", "employment"],
            score="score",
        )
        spec_path = root / "spec.json"
        save_spec(spec, spec_path)
        bundle = root / "policy"
        shutil.copytree(default_bundle_path(), bundle, dirs_exist_ok=True)

        # 2. A trial PKI: mTLS everywhere, each silo's identity is its certificate.
        from fedgov.audit import AuditLog
        from fedgov.tls import TlsFiles, init_trial_pki

        pki = root / "pki"
        init_trial_pki(pki, [s.silo_id for s in SILOS] + ["operator"])

        def tls(name: str) -> TlsFiles:
            return TlsFiles(pki / "ca.pem", pki / f"{name}.pem", pki / f"{name}.key")

        # 3. The aggregator, on a free port.
        central = CentralGate(RegoEngine.from_bundle(bundle), ("EU-*", "US-*"))
        from aggregator.retrain import TrainingSettings

        running = create_server(
            "127.0.0.1:0",
            SqliteStore(root / "aggregator.db"),
            central=central,
            tls=tls("aggregator"),
            audit=AuditLog(root / "aggregator.audit.jsonl"),
            training=TrainingSettings(rounds=rounds, reweigh_attribute="sex") if retrain else None,
        )
        address = f"127.0.0.1:{running.port}"
        _say(
            quiet,
            f"fedgov demo: aggregator on {address} (mTLS); model {MODEL_ID} {MODEL_VERSION}, "
            f"spec {spec.digest[:12]} ({len(spec.features)} features); workdir {root}",
            "",
        )

        # 4. Three silos: data stays in their folder; only aggregates are sent.
        for i, s in enumerate(SILOS):
            data = credit_data(
                rows, seed=seed + 100 + i, drift=s.drift, bias=s.bias, with_score=True
            )
            write_table(data, root / s.silo_id / "incoming" / f"window-0001.{s.fmt}")
            # Labelled local data for federated retraining and for gating a candidate.
            write_table(
                credit_data(rows // 2, seed=seed + 200 + i, drift=s.drift, with_score=True),
                root / s.silo_id / "train.parquet",
            )
            write_table(
                credit_data(rows // 4, seed=seed + 300 + i, drift=s.drift, with_score=True),
                root / s.silo_id / "holdout.parquet",
            )
            config = config_from_dict(
                {
                    "silo": {"id": s.silo_id, "jurisdiction": s.silo_id},
                    "aggregator": {
                        "address": address,
                        "tls": {
                            "ca": str(pki / "ca.pem"),
                            "cert": str(pki / f"{s.silo_id}.pem"),
                            "key": str(pki / f"{s.silo_id}.key"),
                        },
                    },
                    "policy": str(bundle),
                    "state_dir": str(root / s.silo_id / "state"),
                    "metrics_port": 0,
                    "training": {
                        "data": str(root / s.silo_id / "train.parquet"),
                        "holdout": str(root / s.silo_id / "holdout.parquet"),
                    },
                    "models": [
                        {"spec": str(spec_path), "input": str(root / s.silo_id / "incoming")}
                    ],
                },
                base=root,
            )
            agent = Agent(config)
            agents.append(agent)
            agent.start_metrics()
            agent.register()
            t = threading.Thread(target=agent.listen_commands, name=f"cmd-{s.silo_id}", daemon=True)
            t.start()
            threads.append(t)
        first_violation: float | None = None
        for agent, s in zip(agents, SILOS, strict=True):
            (report,) = agent.scan_once()
            if first_violation is None and "retrain" in report.decision.actions:
                first_violation = agent.sent_at[report.report_id]  # submission started
            _say(
                quiet,
                f"  {s.silo_id:6} {report.stats.rows} rows ({s.story}): local decision "
                f"{'ALLOW' if report.decision.allow else 'DENY'}"
                + (f", actions {list(report.decision.actions)}" if report.decision.actions else ""),
            )

        # 5. Every silo acknowledges the retraining command.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not all(a.received for a in agents):
            time.sleep(0.05)
        dispatch_s = (
            max(min(a.received_at.values()) for a in agents) - first_violation
            if first_violation is not None and all(a.received_at for a in agents)
            else None
        )
        if dispatch_s is not None:
            _say(
                quiet,
                f"  retrain command reached all {len(agents)} silos "
                f"{dispatch_s * 1000:.0f} ms after the violating report was sent",
            )

        # 5b. Federated retraining on Flower, the candidate gated, then promoted or rejected.
        final_job: dict[str, Any] | None = None
        if retrain:
            _say(
                quiet,
                f"\n== Federated retraining on Flower ({rounds} FedAvg rounds, "
                "reweighing by sex; only model updates leave the silos) ==",
            )
            t_train = time.monotonic()
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                jobs_now = running.handler.store.list_jobs(MODEL_ID)
                if jobs_now and jobs_now[0].state in ("promoted", "rejected", "failed"):
                    break
                time.sleep(0.25)
            job_rec = running.handler.store.list_jobs(MODEL_ID)[0]
            final_job = {
                "state": job_rec.state,
                "candidate": job_rec.candidate_version,
                "detail": job_rec.detail,
                "seconds": round(time.monotonic() - t_train, 1),
            }
            _say(
                quiet,
                f"  job {job_rec.job_id}: {job_rec.state} in {final_job['seconds']}s "
                f"(candidate {job_rec.candidate_version or '-'}): {job_rec.detail}",
            )
            if job_rec.state == "promoted":
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and not all(
                    a.models[0].spec.model_version == job_rec.candidate_version for a in agents
                ):
                    time.sleep(0.1)

        # 6. Cross-jurisdiction answers from the aggregator.
        with QueryClient(address, tls=tls("operator")) as q:
            drift = q.drift(PSI_THRESHOLD, model_id=MODEL_ID)
            eu = q.fairness(MODEL_ID, model_version=MODEL_VERSION, jurisdiction_glob="EU-*")
            everyone = q.fairness(MODEL_ID, model_version=MODEL_VERSION)
            us = q.fairness(MODEL_ID, model_version=MODEL_VERSION, jurisdiction_glob="US-*")
            decisions = q.decisions()
            central_rows = q.central()
            jobs = q.jobs()
            models = q.models()
            after = None
            if final_job and final_job["state"] == "promoted":
                after = q.fairness(MODEL_ID, model_version=final_job["candidate"])
                before = q.fairness(MODEL_ID, model_version=MODEL_VERSION)
        scrape = _scrape(agents[0].metrics_port)

        if not quiet:
            print(f"\n== Features with PSI > {PSI_THRESHOLD} (query drift) ==")
            print_drift(drift, PSI_THRESHOLD)
            print("\n== Fairness merged across EU-* (query fairness --jurisdictions 'EU-*') ==")
            print_fairness(eu)
            print(
                "\n== Demographic parity ratio by jurisdiction group (four-fifths rule: >= 0.8) =="
            )
            table(
                ["jurisdictions", "silos", "rows", "sex", "age_band", "sex*age_band"],
                [
                    [glob, ans["silos"], ans["rows"]]
                    + [
                        ans["metrics"]["fairness"].get(a, {}).get("demographic_parity_ratio")
                        for a in ("sex", "age_band", "sex*age_band")
                    ]
                    for glob, ans in (("EU-*", eu), ("US-*", us), ("*", everyone))
                ],
            )
            print("\n== Latest decision of every silo (query decisions) ==")
            print_decisions(decisions)
            print(
                "\n== Central policy over merged metrics per jurisdiction group (query central) =="
            )
            print_central(central_rows)
            print("\n== Retraining jobs (fedgov jobs) ==")
            print_jobs(jobs)
            from fedgov.cli.commands import print_models

            print("\n== Model registry (fedgov model list) ==")
            print_models(models)
            if after is not None:
                print(
                    "\n== Fairness before and after, merged across all silos "
                    "(holdout for the candidate) =="
                )
                table(
                    [
                        "version",
                        "rows",
                        "DP ratio sex",
                        "DP ratio sex*age_band",
                        "EO difference sex",
                    ],
                    [
                        [
                            ans["version"],
                            ans["rows"],
                            ans["metrics"]["fairness"]["sex"]["demographic_parity_ratio"],
                            ans["metrics"]["fairness"]["sex*age_band"]["demographic_parity_ratio"],
                            ans["metrics"]["fairness"]["sex"]["equalized_odds_difference"],
                        ]
                        for ans in (before, after)
                    ],
                )
            for agent in agents:
                for cmd in agent.received:
                    print(
                        f"  {agent.config.silo_id}: received {cmd.kind} command {cmd.command_id} "
                        f"(job {cmd.job_id}) and acknowledged it"
                    )
            print(f"\n== EU-DE /metrics (Prometheus, port {agents[0].metrics_port}) ==")
            for line in scrape[:6]:
                print("  " + line)

        checks = _checks(drift, us, eu, jobs, agents)
        if retrain:
            checks["the retrained candidate passed the gates and was promoted"] = bool(
                final_job and final_job["state"] == "promoted"
            )
            checks["merged demographic parity ratio (sex) improved"] = bool(
                after is not None
                and after["metrics"]["fairness"]["sex"]["demographic_parity_ratio"]
                > before["metrics"]["fairness"]["sex"]["demographic_parity_ratio"]
            )
            checks["every silo now monitors the promoted version"] = bool(
                final_job
                and all(a.models[0].spec.model_version == final_job["candidate"] for a in agents)
            )
        elapsed = time.monotonic() - started
        _say(
            quiet,
            "",
            *(f"[{'ok' if ok else 'FAILED'}] {what}" for what, ok in checks.items()),
            f"demo finished in {elapsed:.1f}s",
        )
        return {
            "ok": all(checks.values()),
            "checks": checks,
            "drift": drift,
            "fairness": {"EU-*": eu, "US-*": us, "*": everyone},
            "decisions": decisions,
            "central": central_rows,
            "jobs": jobs,
            "models": models,
            "retraining": final_job,
            "dispatch_seconds": dispatch_s,
            "seconds": round(elapsed, 2),
        }
    finally:
        for agent in agents:
            agent.close()
        if running is not None:
            running.stop(grace=1.0)
            running.handler.store.close()
        for t in threads:
            t.join(timeout=5)
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)


def _scrape(port: int | None) -> list[str]:
    if port is None:
        return []
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return [
        line
        for line in text.splitlines()
        if line.startswith(
            ("fedgov_agent_feature_psi{", "fedgov_agent_fairness_demographic_parity_ratio{")
        )
    ]


def _checks(
    drift: list[dict[str, Any]],
    us: dict[str, Any],
    eu: dict[str, Any],
    jobs: list[dict[str, Any]],
    agents: list[Any],
) -> dict[str, bool]:
    us_ratio = us["metrics"]["fairness"]["sex"]["demographic_parity_ratio"]
    return {
        "EU-DE has a feature with PSI above the threshold": any(
            r["silo"] == "EU-DE" for r in drift
        ),
        "US-NY's demographic parity ratio (sex) is below 0.8": us_ratio is not None
        and us_ratio < DP_RATIO_MIN,
        "EU figures merged from EU-DE and EU-FR": eu["silos"] == ["EU-DE", "EU-FR"],
        "one retraining job dispatched": len(jobs) == 1,
        "every silo acknowledged the retrain command": all(
            any(c.kind == "retrain" for c in a.received) for a in agents
        ),
    }
