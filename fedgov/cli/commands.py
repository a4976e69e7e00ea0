"""The handlers behind each `fedgov` verb. Each returns an exit code."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from fedgov.cli._format import fmt, iso, print_json, table
from fedgov.errors import ConfigError, DataError, PolicyError

log = logging.getLogger(__name__)


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


# -- spec ------------------------------------------------------------------------
def cmd_spec(args: argparse.Namespace) -> int:
    from fedgov.data import read_columns
    from fedgov.spec import save_spec
    from fedgov.stats import derive_spec

    sensitive = _split(args.sensitive)
    categorical = _split(args.categorical)
    exclude = set(_split(args.exclude))
    intersections = [tuple(_split(i.replace("*", ","))) for i in args.intersection]
    for inter in intersections:
        unknown = [a for a in inter if a not in sensitive]
        if len(inter) < 2 or unknown:
            raise ConfigError(
                f"--intersection {'*'.join(inter)}: name two or more --sensitive columns "
                f"(unknown: {unknown})"
            )
    columns = read_columns(args.reference, string_columns=sensitive + categorical)
    for name in [args.label, args.prediction, *sensitive, *categorical] + (
        [args.score] if args.score else []
    ):
        if name not in columns:
            raise DataError(
                f"{args.reference}: no column '{name}'; the file has {sorted(columns)[:20]}"
            )
    for name in exclude:
        columns.pop(name, None)
    spec = derive_spec(
        columns,
        model_id=args.model,
        model_version=args.model_version,
        label=args.label,
        prediction=args.prediction,
        sensitive=sensitive,
        intersections=intersections,
        score=args.score,
        positive_label=args.positive_label,
        categorical=categorical,
        bins=args.bins,
        score_bins=args.score_bins,
    )
    save_spec(spec, args.output)
    n_num = sum(1 for f in spec.features if f.kind == "numeric")
    print(
        f"wrote {args.output}: {len(spec.features)} features ({n_num} numeric), "
        f"{len(spec.sensitive)} sensitive attribute(s), digest {spec.digest[:12]}"
    )
    return 0


# -- agent -----------------------------------------------------------------------
def cmd_agent(args: argparse.Namespace) -> int:
    import signal

    from agent.config import load_agent_config
    from agent.runner import Agent

    config = load_agent_config(args.config)
    agent = Agent(config)  # fails closed: a broken spec or policy stops here

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        agent.stop()

    signal.signal(signal.SIGTERM, _stop)
    try:
        agent.run(once=args.once)
    finally:
        agent.close()
    return 0


# -- aggregator ------------------------------------------------------------------
def cmd_aggregator(args: argparse.Namespace) -> int:
    from aggregator.central import CentralGate
    from aggregator.server import create_server, serve_forever
    from aggregator.store import create_store
    from fedgov.audit import AuditLog
    from fedgov.policy import RegoEngine, default_bundle_path
    from fedgov.tls import TlsFiles

    if args.insecure and args.tls_dir:
        raise ConfigError("--insecure and --tls-dir exclude each other")
    tls = None
    if args.tls_dir:
        d = Path(args.tls_dir)
        tls = TlsFiles(d / "ca.pem", d / "aggregator.pem", d / "aggregator.key")
        tls.read()  # a bad certificate stops the start, with the file named
    elif not args.insecure:
        raise ConfigError(
            "mTLS is the default: pass --tls-dir DIR (see `fedgov certs init`), or --insecure "
            "to serve plaintext gRPC on a trusted network"
        )
    if args.reannotation_dir and Path(args.reannotation_dir).exists():
        if not Path(args.reannotation_dir).is_dir():
            raise ConfigError(f"--reannotation-dir {args.reannotation_dir}: not a directory")
    audit = AuditLog(args.audit or f"{args.db}.audit.jsonl")
    engine = RegoEngine.from_bundle(args.policy or default_bundle_path())  # fail closed at start
    central = CentralGate(engine, tuple(_split(args.groups)) or ("*",))
    store = create_store(args.db)
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry()
    if args.metrics_port is not None:
        try:
            start_http_server(args.metrics_port, registry=registry)
        except OSError as exc:
            raise ConfigError(
                f"--metrics-port {args.metrics_port}: cannot serve /metrics there "
                f"({exc.strerror or exc}); pick a free port"
            ) from None
    from aggregator.retrain import TrainingSettings

    training = None
    if args.retrain:
        training = TrainingSettings(
            rounds=args.rounds, reweigh_attribute=args.reweigh, app=args.flower_app
        )
    running = create_server(
        args.listen,
        store,
        central=central,
        tls=tls,
        audit=audit,
        registry=registry,
        health_address=args.health_listen,
        training=training,
        cooldown_s=args.cooldown / 1000,
    )
    if args.reannotation_dir:
        running.handler.reannotation_dir = Path(args.reannotation_dir)
    from aggregator.store import redact_url

    print(
        f"aggregator listening on port {running.port} (store {redact_url(str(args.db))})",
        flush=True,
    )
    serve_forever(running)
    return 0


def _client_tls(args: argparse.Namespace) -> Any:
    from fedgov.tls import TlsFiles

    if not args.tls_dir:
        return None
    d = Path(args.tls_dir)
    return TlsFiles(d / "ca.pem", d / f"{args.identity}.pem", d / f"{args.identity}.key")


def cmd_certs(args: argparse.Namespace) -> int:
    from fedgov.tls import init_trial_pki

    written = init_trial_pki(
        args.out, [*args.silos, "operator"], aggregator_hosts=_split(args.hosts), days=args.days
    )
    for name, path in written.items():
        print(f"{name:12} {path}")
    return 0


# -- queries ---------------------------------------------------------------------
def _query_promql(args: argparse.Namespace) -> int:
    from aggregator.promql import PromQLClient

    client = PromQLClient(args.promql_url)
    if args.query_command == "drift":
        rows = client.drift(
            args.psi,
            since_ms=args.since,
            model_id=args.model,
            jurisdiction_glob=args.jurisdictions,
        )
        if args.json:
            print_json(rows)
        else:
            print_drift(rows, args.psi)
        return 0
    rows = client.disparate_impact(
        args.model,
        model_version=args.model_version,
        jurisdiction_glob=args.jurisdictions,
        merge=bool(args.jurisdictions),
    )
    if args.json:
        print_json(rows)
    else:
        table(
            ["jurisdiction", "model", "version", "attribute", "disparate impact", "silos", "rows"],
            [
                [
                    r["jurisdiction"],
                    r["model"],
                    r["version"],
                    r["attribute"],
                    r["disparate_impact"],
                    r["silos"],
                    r["rows"],
                ]
                for r in rows
            ],
        )
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    from aggregator.query_client import QueryClient

    if getattr(args, "promql_url", None):
        return _query_promql(args)

    with QueryClient(args.aggregator, tls=_client_tls(args)) as client:
        if args.query_command == "drift":
            rows = client.drift(
                args.psi,
                since_ms=args.since,
                model_id=args.model,
                jurisdiction_glob=args.jurisdictions,
            )
            if args.json:
                print_json(rows)
            else:
                print_drift(rows, args.psi)
        elif args.query_command == "fairness":
            ans = client.fairness(
                args.model,
                model_version=args.model_version,
                jurisdiction_glob=args.jurisdictions,
                since_ms=args.since,
            )
            if args.json:
                print_json(ans)
            else:
                print_fairness(ans)
        elif args.query_command == "central":
            rows = client.central(model_id=args.model)
            if args.json:
                print_json(rows)
            else:
                print_central(rows)
        elif args.query_command == "silos":
            rows = client.silos(stale_after_ms=args.stale, jurisdiction_glob=args.jurisdictions)
            if args.json:
                print_json(rows)
            else:
                print_silos(rows)
        elif args.query_command == "history":
            rows = client.history(
                args.model,
                args.metric,
                feature=args.feature,
                attribute=args.attribute,
                since_ms=args.since,
                jurisdiction_glob=args.jurisdictions,
            )
            if args.json:
                print_json(rows)
            else:
                table(
                    ["window end", "silo", "jurisdiction", "version", args.metric],
                    [
                        [
                            iso(r["window_end_ms"]),
                            r["silo"],
                            r["jurisdiction"],
                            r["version"],
                            r["value"],
                        ]
                        for r in rows
                    ],
                )
        else:
            rows = client.decisions(jurisdiction_glob=args.jurisdictions)
            if args.deny_only:
                rows = [r for r in rows if not r["allow"]]
            if args.json:
                print_json(rows)
            else:
                print_decisions(rows)
    return 0


def print_drift(rows: list[dict[str, Any]], threshold: float) -> None:
    if not rows:
        print(f"no feature has PSI above {threshold}")
        return
    table(
        ["silo", "jurisdiction", "model", "version", "feature", "psi", "p-value", "window end"],
        [
            [
                r["silo"],
                r["jurisdiction"],
                r["model"],
                r["version"],
                r["feature"],
                r["psi"],
                r["psi_pvalue"],
                iso(r["window_end_ms"]),
            ]
            for r in rows
        ],
    )


def print_fairness(ans: dict[str, Any]) -> None:
    print(
        f"model {ans['model']} version {ans['version']}: {ans['rows']} rows from "
        f"{ans['reports']} report(s), silos {fmt(ans['silos'])} "
        f"(jurisdictions {fmt(ans['jurisdictions'])})"
    )
    fairness = ans["metrics"].get("fairness") or {}
    table(
        ["attribute", "DP difference", "DP ratio", "EO difference", "EO ratio", "EOpp difference"],
        [
            [
                attr,
                m.get("demographic_parity_difference"),
                m.get("demographic_parity_ratio"),
                m.get("equalized_odds_difference"),
                m.get("equalized_odds_ratio"),
                m.get("equal_opportunity_difference"),
            ]
            for attr, m in fairness.items()
        ],
    )
    print()
    table(
        ["attribute", "group", "rows", "selection rate", "TPR", "FPR", "accuracy"],
        [
            [
                attr,
                g,
                gm.get("count"),
                gm.get("selection_rate"),
                gm.get("tpr"),
                gm.get("fpr"),
                gm.get("accuracy"),
            ]
            for attr, m in fairness.items()
            for g, gm in (m.get("groups") or {}).items()
            if gm.get("count")  # empty slots (no rows) say nothing
        ],
    )
    scored = {attr: m for attr, m in fairness.items() if "auc_difference" in m}
    if not scored:  # the spec has no score column (or a report predates score histograms)
        return
    print()
    table(
        ["attribute", "group", "scored", "AUC", "AUC bound", "calibration error", "ECE bound"],
        [
            [
                attr,
                g,
                gm.get("scored"),
                gm.get("auc"),
                gm.get("auc_bound"),
                gm.get("calibration_error"),
                gm.get("calibration_error_bound"),
            ]
            for attr, m in scored.items()
            for g, gm in (m.get("groups") or {}).items()
            if gm.get("scored")
        ]
        + [
            [
                attr,
                "(difference / max)",
                None,
                m.get("auc_difference"),
                None,
                m.get("max_calibration_error"),
                None,
            ]
            for attr, m in scored.items()
        ],
    )


def print_decisions(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("no reports yet")
        return
    table(
        ["silo", "jurisdiction", "model", "version", "allow", "actions", "deny reasons"],
        [
            [
                r["silo"],
                r["jurisdiction"],
                r["model"],
                r["version"],
                r["allow"],
                r["actions"],
                "; ".join(r["deny"]) or "-",
            ]
            for r in rows
        ],
    )


def print_silos(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("no silos match")
        return
    table(
        ["silo", "jurisdiction", "last seen", "registered", "models"],
        [
            [
                r["silo"],
                r["jurisdiction"],
                iso(r["last_seen_ms"]),
                iso(r["registered_ms"]),
                r["models"],
            ]
            for r in rows
        ],
    )


def print_central(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("no central decisions yet")
        return
    table(
        ["model", "version", "group", "silos", "rows", "allow", "actions", "deny reasons"],
        [
            [
                r["model"],
                r["version"],
                r["group"],
                r["silos"],
                r["rows"],
                r["allow"],
                r["actions"],
                "; ".join(r["deny"]) or "-",
            ]
            for r in rows
        ],
    )


def print_jobs(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("no retraining jobs")
        return
    table(
        ["job", "model", "version", "state", "candidate", "silos", "acknowledged by", "detail"],
        [
            [
                j["job_id"],
                j["model"],
                j["version"],
                j["state"],
                j.get("candidate_version") or "-",
                j["silos"],
                j["acked_silos"],
                (j.get("detail") or j["reason"])[:90],
            ]
            for j in rows
        ],
    )


def print_models(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("no model versions registered")
        return
    table(
        ["model", "version", "status", "aliases", "created", "flower run", "silos"],
        [
            [
                r["model"],
                r["version"],
                r["status"],
                r["aliases"],
                iso(r["created_ms"]),
                r["lineage"].get("flower_run_id"),
                r["lineage"].get("silos"),
            ]
            for r in rows
        ],
    )


def cmd_model(args: argparse.Namespace) -> int:
    from aggregator.query_client import QueryClient

    with QueryClient(args.aggregator, tls=_client_tls(args)) as client:
        if args.model_command == "list":
            rows = client.models(model_id=args.model)
        elif args.model_command == "show":
            rows = client.models(model_id=args.model)
            want = args.version or next(
                (r["version"] for r in rows if "production" in r["aliases"]), ""
            )
            rows = [r for r in rows if r["version"] == want]
            if not rows:
                raise ConfigError(f"no version {want!r} of model {args.model!r} in the registry")
            if args.json:
                print_json(rows[0])
            else:
                for k, v in rows[0].items():
                    print(f"{k:15} {json.dumps(v) if isinstance(v, (dict, list)) else v}")
            return 0
        elif args.model_command == "promote":
            rows = client.promote(args.model, args.version, args.reason)
        else:
            rows = client.rollback(args.model)
    if args.json:
        print_json(rows)
    else:
        print_models(rows)
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    from aggregator.query_client import QueryClient

    with QueryClient(args.aggregator, tls=_client_tls(args)) as client:
        rows = client.jobs(model_id=args.model)
    if args.json:
        print_json(rows)
    else:
        print_jobs(rows)
    return 0


# -- stats -----------------------------------------------------------------------
def cmd_stats(args: argparse.Namespace) -> int:
    from fedgov.data import fold_file
    from fedgov.metrics import compute_metrics
    from fedgov.spec import load_spec

    spec = load_spec(args.spec)
    # The bar goes to stderr, and only when it is a terminal: pipes stay clean.
    progress = not getattr(args, "no_progress", False)
    reference = getattr(args, "reference", None)
    if reference:
        from fedgov.stats import with_reference

        spec = with_reference(spec, fold_file(reference, spec, progress=progress))
    stats = fold_file(args.file, spec, progress=progress)
    metrics = compute_metrics(spec, stats)
    against = f"reference {reference}" if reference else "the spec's reference profile"
    if args.json:
        print_json(
            {"stats": stats.to_dict(), "metrics": metrics, "drift_against": reference or "spec"}
        )
        return 0
    print(
        f"{args.file}: {stats.rows} rows, model {spec.model_id} version {spec.model_version}; "
        f"drift against {against}"
    )
    feats = (metrics.get("drift") or {}).get("features") or {}
    table(
        ["feature", "psi", "p-value", "JS distance", "missing rate"],
        [
            [n, m.get("psi"), m.get("psi_pvalue"), m.get("jensen_shannon"), m.get("missing_rate")]
            for n, m in feats.items()
        ],
    )
    print()
    print_fairness(
        {
            "model": spec.model_id,
            "version": spec.model_version,
            "rows": stats.rows,
            "reports": 1,
            "silos": ["local"],
            "jurisdictions": ["-"],
            "metrics": metrics,
        }
    )
    return 0


# -- policy ----------------------------------------------------------------------
def cmd_policy(args: argparse.Namespace) -> int:
    from fedgov.policy import RegoEngine, load_bundle, run_policy_tests

    if args.policy_command == "check":
        engine = RegoEngine.from_bundle(args.bundle)
        bundle = load_bundle(args.bundle)
        print(f"{args.bundle}: OK ({len(bundle.modules)} module(s), digest {engine.digest[:12]})")
        return 0
    if args.policy_command == "test":
        results = run_policy_tests(args.bundle)
        failed = [r for r in results if not r.passed]
        if args.json:
            print_json(
                [{"name": r.name, "passed": r.passed, "message": r.message} for r in results]
            )
        else:
            for r in results:
                verdict = "PASS" if r.passed else "FAIL"
                print(f"{verdict}: {r.name}{'' if r.passed else ' ' + r.message}")
            print("-" * 40)
            print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
        if not results:
            raise PolicyError(f"{args.bundle}: no test_* rules found in *_test.rego files")
        return 1 if failed else 0
    from fedgov.documents import load_document

    engine = RegoEngine.from_bundle(args.bundle)
    # Missing, a directory, not UTF-8, not JSON, nested absurdly: one located message.
    doc = load_document(args.input, what="JSON input file", yaml_syntax=False)
    decision = engine.evaluate(doc)
    print_json(decision.to_dict())
    return 0 if decision.allow else 1


# -- audit ---------------------------------------------------------------------
def cmd_audit(args: argparse.Namespace) -> int:
    from fedgov.audit import verify_chain

    rep = verify_chain(args.path)
    if args.json:
        print_json(
            {
                "ok": rep.ok,
                "records": rep.records,
                "head": rep.head,
                "broken_line": rep.broken_line,
                "reason": rep.reason,
            }
        )
    elif rep.ok:
        print(f"{args.path}: OK, {rep.records} records, head {rep.head[:16]}")
    else:
        print(
            f"{args.path}:{rep.broken_line}: chain broken: {rep.reason} "
            f"({rep.records} records verified before it)"
        )
    return 0 if rep.ok else 1


# -- demo ------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from fedgov.cli.demo import run_demo

    result = run_demo(
        seed=args.seed,
        rows=args.rows,
        workdir=args.workdir,
        as_json=args.json,
        retrain=not args.no_retrain,
        rounds=args.rounds,
    )
    if args.json:
        print_json(result)
    sys.stdout.flush()
    return 0 if result["ok"] else 1
