"""`fedgov demo`: an aggregator and six silos, one reporting window, end to end.

Everything is real and local, and run as a user would run it: ``fedgov
aggregator serve`` on a free port with a SQLite store, three ``fedgov agent
run`` processes with their own Rego bundle and Prometheus endpoint, generated
data, and ``fedgov query``/``jobs``/``model`` for the answers. EU-DE's data has
drifted and US-NY's model is biased against women; both gates request
retraining, so one retraining job is dispatched to every silo serving the
model. Unless ``retrain=False``, the loop then closes on real Flower
processes: a SuperLink beside the aggregator (TLS, SuperNode authentication),
a SuperNode beside each silo's data signing with its enrolled node key,
FedAvg rounds with reweighing, the candidate gated on every silo's
holdout and by the central policy, then promoted (or rejected).

What happened inside a silo is read from its audit chain, as an auditor
would; each process's log is kept in the work folder (``--workdir``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from fedgov.cli._demo_processes import Fedgov, listening, listening_port, scrape
from fedgov.cli._demo_reports import REPORTS, keep_only, write_reports
from fedgov.cli._demo_secure import secure_round
from fedgov.cli._demo_silos import SILOS, SiloAudits, prepare_silo
from fedgov.cli.output import table
from fedgov.policy import default_bundle_path
from fedgov.spec import save_spec
from fedgov.synthetic import credit_data

__all__ = ["run_demo"]

MODEL_ID, MODEL_VERSION = "credit-risk", "1.0.0"
PSI_THRESHOLD = 0.2
DP_RATIO_MIN = 0.8


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
    from fedgov.stats import derive_spec
    from fedgov.tls import init_trial_pki, issue_node_keys

    quiet = as_json
    started = time.monotonic()
    started_ms = int(time.time() * 1000) - 60_000
    root = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="fedgov-demo-"))
    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    fedgov = Fedgov()
    silos = SiloAudits(root)
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

        # 2. A trial PKI: mTLS everywhere, each silo's identity is its certificate. The
        # Flower leg uses it too: the SuperLink serves TLS with the aggregator's
        # certificate and admits only the silos' enrolled node keys (SILO.node.pub).
        pki = root / "pki"
        # Each silo certificate states its jurisdiction; operator and auditor ones come too.
        init_trial_pki(pki, {s.silo_id: s.silo_id for s in SILOS})
        issue_node_keys(pki, [s.silo_id for s in SILOS])

        # 3. The aggregator, on a free port.
        aggregator = fedgov.start(
            "aggregator",
            ["aggregator", "serve", "--db", str(root / "aggregator.db")]
            + ["--listen", "127.0.0.1:0", "--tls-dir", str(pki), "--policy", str(bundle)]
            + ["--groups", "EU-*,US-*", "--audit", str(root / "aggregator.audit.jsonl")]
            + (["--retrain", "--rounds", str(rounds), "--reweigh", "sex"] if retrain else []),
            root / "aggregator.log",
        )
        port = fedgov.wait_for(
            "the aggregator to listen",
            lambda: listening_port(aggregator.log),
            timeout=60,
        )
        address = f"127.0.0.1:{port}"
        client = ["--aggregator", address, "--tls-dir", str(pki), "--identity", "operator"]
        _say(
            quiet,
            f"fedgov demo: aggregator on {address} (mTLS); model {MODEL_ID} {MODEL_VERSION}, "
            f"spec {spec.digest[:12]} ({len(spec.features)} features); workdir {root}",
            "",
        )

        # 4. Three silos: data stays in their folder; only aggregates are sent.
        silo_files = {
            s.silo_id: prepare_silo(
                root,
                s,
                index=i,
                seed=seed,
                rows=rows,
                address=address,
                pki=pki,
                policy=bundle,
                spec=spec_path,
            )
            for i, s in enumerate(SILOS)
        }
        for silo_id, files in silo_files.items():
            fedgov.start(
                silo_id,
                ["agent", "run", "--config", str(files.config)],
                files.config.with_name("agent.log"),
            )
        # Every silo registered before any window arrives: the job goes to all of them.
        # An agent serves /metrics just before it registers: wait for that cheaply first.
        ports = [f.metrics_port for f in silo_files.values()]
        fedgov.wait_for("the agents' /metrics", lambda: listening(ports), timeout=90, interval=0.1)
        fedgov.wait_for(
            "the silos to register", lambda: _registered(fedgov, client), timeout=60, interval=0.2
        )
        for files in silo_files.values():  # whole, at once: an agent never sees half a file
            os.replace(files.staged, files.window)
        fedgov.wait_for("every silo's report", lambda: silos.all_have("report_sent"), timeout=120)
        # 4b. A secure round per part: exact sums of three silos each (see _demo_secure).
        secure = secure_round(
            fedgov, client, model=MODEL_ID, version=MODEL_VERSION, spec=spec,
            windows=[f.window for f in silo_files.values()], since_ms=started_ms,
            store=root / "aggregator.db",
        )  # fmt: skip
        decided = silos.records("decision")
        for s in SILOS:
            d = decided[s.silo_id][0]
            _say(
                quiet,
                f"  {s.silo_id:6} {rows} rows ({s.story}): local decision "
                f"{'ALLOW' if d['allow'] else 'DENY'}"
                + (f", actions {list(d['actions'])}" if d["actions"] else ""),
            )

        # 5. Every silo acknowledges the retraining command.
        dispatch_s = None
        received = fedgov.poll(lambda: silos.all_have("command_received"), timeout=20)
        violations = [
            r["ts_ms"] for rs in decided.values() for r in rs if "retrain" in r["actions"]
        ]
        if received is not None and violations:
            dispatch_s = (max(rs[0]["ts_ms"] for rs in received.values()) - min(violations)) / 1000
            _say(
                quiet,
                f"  retrain command reached all {len(SILOS)} silos "
                f"{dispatch_s * 1000:.0f} ms after the violating report was sent",
            )

        # 5b. Federated retraining on Flower, the candidate gated, then promoted or rejected.
        final_job: dict[str, Any] | None = None
        if retrain:
            final_job = _retrain(fedgov, client, silos, rounds, quiet)

        # 6. Cross-jurisdiction answers from the aggregator, as `fedgov` prints them.
        fairness = ["query", "fairness", "--model", MODEL_ID]
        answers = {
            "drift": ["query", "drift", "--psi", str(PSI_THRESHOLD), "--model", MODEL_ID],
            "eu": [*fairness, "--model-version", MODEL_VERSION, "--jurisdictions", "EU-*"],
            "everyone": [*fairness, "--model-version", MODEL_VERSION],
            "us": [*fairness, "--model-version", MODEL_VERSION, "--jurisdictions", "US-*"],
            "us-ny": [*fairness, "--model-version", MODEL_VERSION, "--jurisdictions", "US-NY"],
            "decisions": ["query", "decisions"],
            "central": ["query", "central"],
            "jobs": ["jobs"],
            "models": ["model", "list"],
        }
        promoted = final_job is not None and final_job["state"] == "promoted"
        if promoted:
            assert final_job is not None
            answers["after"] = [*fairness, "--model-version", final_job["candidate"]]
        shown = ("drift", "eu", "decisions", "central", "jobs", "models")
        texts = fedgov.call_all(
            {k: [*v, *client, "--json"] for k, v in answers.items()}
            | ({} if quiet else {f"{k}-table": [*answers[k], *client] for k in shown})
        )
        got = {k: json.loads(texts[k]) for k in answers}
        drift, eu, us, everyone = got["drift"], got["eu"], got["us"], got["everyone"]
        after, before = got.get("after"), everyone
        scraped = scrape(silo_files["EU-DE"].metrics_port)

        if not quiet:
            print(f"\n== Features with PSI > {PSI_THRESHOLD} (query drift) ==")
            print(texts["drift-table"], end="")
            print("\n== Fairness merged across EU-* (query fairness --jurisdictions 'EU-*') ==")
            print(texts["eu-table"], end="")
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
            print(texts["decisions-table"], end="")
            print(
                "\n== Central policy over merged metrics per jurisdiction group (query central) =="
            )
            print(texts["central-table"], end="")
            print("\n== Retraining jobs (fedgov jobs) ==")
            print(texts["jobs-table"], end="")
            print("\n== Model registry (fedgov model list) ==")
            print(texts["models-table"], end="")
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
            for silo, cmds in silos.records("command_received").items():
                for cmd in cmds:
                    print(
                        f"  {silo}: received {cmd['command']} command {cmd['command_id']} "
                        f"(job {cmd['job_id']}) and acknowledged it"
                    )
            print(f"\n== EU-DE /metrics (Prometheus, port {silo_files['EU-DE'].metrics_port}) ==")
            for line in scraped[:6]:
                print("  " + line)

        if not quiet:
            s = secure["smallest"]
            print(
                f"\n== Secure rounds: {len(secure['rounds'])} part(s) summed under masks in "
                f"{secure['seconds']:.1f}s; {secure['secure']['source']} ==\n"
                f"  smallest group {s['group']}: {s['rows']} rows, selection rate "
                f"{s['selection_rate']} pooled, {s['secure']} secure (rows, rate)"
            )
        checks = _checks(drift, got["us-ny"], eu, got["jobs"], silos) | secure["checks"]
        if retrain:
            checks["the retrained candidate passed the gates and was promoted"] = promoted
            checks["merged demographic parity ratio (sex) improved"] = bool(
                after is not None
                and after["metrics"]["fairness"]["sex"]["demographic_parity_ratio"]
                > before["metrics"]["fairness"]["sex"]["demographic_parity_ratio"]
            )
            checks["every silo now monitors the promoted version"] = bool(
                final_job and silos.monitor(final_job["candidate"])
            )
        # 7. The evidence an auditor is handed: two reports, verified against the store.
        reports = write_reports(fedgov, client, root, model=MODEL_ID, version=MODEL_VERSION)
        checks |= reports["checks"]
        elapsed = time.monotonic() - started
        _say(
            quiet,
            "",
            *(
                f"report: {r['path']} ({r['bytes']:,} bytes in {r['seconds']:.1f}s, "
                f"{r['content_hash'][:19]})"
                for r in reports["reports"].values()
            ),
            *(f"[{'ok' if ok else 'FAILED'}] {what}" for what, ok in checks.items()),
            f"demo finished in {elapsed:.1f}s",
        )
        return {
            "ok": all(checks.values()),
            "checks": checks,
            "drift": drift,
            "fairness": {"EU-*": eu, "US-*": us, "*": everyone, "US-NY": got["us-ny"]},
            "decisions": got["decisions"],
            "central": got["central"],
            "jobs": got["jobs"],
            "models": got["models"],
            "retraining": final_job,
            "secure_round": {k: v for k, v in secure.items() if k != "checks"},
            "reports": reports["reports"],
            "dispatch_seconds": dispatch_s,
            "seconds": round(elapsed, 2),
        }
    finally:
        fedgov.stop_all()
        if workdir is None:  # a temporary folder: only the reports stay
            keep_only(root, REPORTS)


def _registered(fedgov: Fedgov, client: list[str]) -> bool | None:
    rows = fedgov.call_json(["query", "silos", *client])
    serving = {r["silo"] for r in rows if f"{MODEL_ID}/{MODEL_VERSION}" in r["models"]}
    return True if serving >= {s.silo_id for s in SILOS} else None


def _retrain(
    fedgov: Fedgov, client: list[str], silos: SiloAudits, rounds: int, quiet: bool
) -> dict[str, Any]:
    _say(
        quiet,
        f"\n== Federated retraining on Flower ({rounds} FedAvg rounds, "
        "reweighing by sex; only model updates leave the silos) ==",
    )
    t_train = time.monotonic()

    def finished() -> dict[str, Any] | None:
        jobs = fedgov.call_json(["jobs", "--model", MODEL_ID, *client])
        return jobs[0] if jobs and jobs[0]["state"] in ("promoted", "rejected", "failed") else None

    # Each look is a `fedgov jobs` process: not too often, Flower needs the cores.
    job = fedgov.wait_for("the retraining job to end", finished, timeout=600, interval=2.0)
    final_job = {
        "state": job["state"],
        "candidate": job["candidate_version"],
        "detail": job["detail"],
        "seconds": round(time.monotonic() - t_train, 1),
    }
    _say(
        quiet,
        f"  job {job['job_id']}: {job['state']} in {final_job['seconds']}s "
        f"(candidate {job['candidate_version'] or '-'}): {job['detail']}",
    )
    if job["state"] == "promoted":
        # The check "every silo now monitors the promoted version" says if this times out.
        fedgov.poll(lambda: True if silos.monitor(job["candidate_version"]) else None, timeout=30)
    return final_job


def _checks(
    drift: list[dict[str, Any]],
    us_ny: dict[str, Any],
    eu: dict[str, Any],
    jobs: list[dict[str, Any]],
    silos: SiloAudits,
) -> dict[str, bool]:
    us_ratio = us_ny["metrics"]["fairness"]["sex"]["demographic_parity_ratio"]
    received = silos.records("command_received")
    return {
        "EU-DE has a feature with PSI above the threshold": any(
            r["silo"] == "EU-DE" for r in drift
        ),
        "US-NY's demographic parity ratio (sex) is below 0.8": us_ratio is not None
        and us_ratio < DP_RATIO_MIN,
        "EU figures merged from EU-DE, EU-FR and EU-IT": eu["silos"] == ["EU-DE", "EU-FR", "EU-IT"],
        "one retraining job dispatched": len(jobs) == 1,
        "every silo acknowledged the retrain command": all(
            any(c.get("command") == "retrain" for c in cmds) for cmds in received.values()
        ),
    }
