"""Write the store-v1 fixtures: a database made by the store as it was at commit cbe29f8.

Run once, at that commit, to make ``store-v1.db`` (SQLite) and, with pg_dump,
``store-v1.postgres.sql`` (PostgreSQL); ``test_store_migration.py`` opens them
with today's store. Kept for the record of what the fixtures hold; running it
with a later store would write that store's layout instead.

    python tests/unit/aggregator/data/make_store_v1.py URL   # a file path or postgresql://...
"""

from __future__ import annotations

import json
import sys

from aggregator.store import CentralDecisionRecord, ModelVersionRecord, create_store
from fedgov.policy import Decision
from fedgov.report import Report
from fedgov.stats import WindowStats, derive_spec, encode_columns
from fedgov.synthetic import credit_data

DRIFT = {
    "drift": {"features": {"income": {"psi": 0.31, "psi_pvalue": 0.002}, "age": {"psi": 0.05}}}
}


def main(url: str) -> None:
    spec = derive_spec(
        credit_data(400, seed=1),
        model_id="credit-risk",
        model_version="1.0.0",
        label="repaid",
        prediction="approved",
        sensitive=["sex"],
        categorical=["purpose", "employment"],
        bins=4,
        fine_bins=0,
        score_bins=4,
    )
    stats = WindowStats.zero(spec).fold(spec, encode_columns(spec, credit_data(100, seed=3)))
    store = create_store(url)
    for silo in ("EU-DE", "US-CA"):
        store.register_silo(
            silo,
            silo,
            "sha256:bundle-" + silo,
            [
                (spec.model_id, "1.0.0", spec.digest, json.dumps(spec.to_dict())),
                (spec.model_id, "1.1.0", spec.digest, json.dumps(spec.to_dict())),
            ],
        )
    reports = [
        ("r-de-1", "EU-DE", "1.0.0", 1000, Decision(allow=True)),
        (
            "r-de-2",
            "EU-DE",
            "1.0.0",
            2000,
            Decision(allow=False, deny=("drift",), actions=("retrain",)),
        ),
        ("r-ca-1", "US-CA", "1.0.0", 1500, Decision(allow=True, warn=("small window",))),
        ("r-de-3", "EU-DE", "1.1.0", 3000, Decision(allow=True)),
    ]
    for rid, silo, version, end, decision in reports:
        store.add_report(
            Report(
                report_id=rid,
                silo_id=silo,
                jurisdiction=silo,
                model_id=spec.model_id,
                model_version=version,
                window_start_ms=end - 500,
                window_end_ms=end,
                spec_digest=spec.digest,
                stats=stats,
                metrics=DRIFT,
                decision=decision,
            )
        )
    job, _ = store.open_job(spec.model_id, "1.0.0", "drift on income", ["EU-DE", "US-CA"])
    de = next(c for c in job.commands if c.silo_id == "EU-DE")
    store.ack_command(de.command_id, "EU-DE", "accepted", "on it")
    store.transition_job(job.job_id, "training", detail="round 1")
    store.transition_job(job.job_id, "evaluating", candidate_version="1.1.0")
    store.add_commands(job.job_id, "evaluate", ["EU-DE"], "evaluate 1.1.0", '{"weights": "AAE="}')
    store.add_model_version(
        ModelVersionRecord(spec.model_id, "1.0.0", "candidate", 100, spec.digest, {"parent": None})
    )
    store.add_model_version(
        ModelVersionRecord(
            spec.model_id, "1.1.0", "candidate", 200, spec.digest, {"parent": "1.0.0"}, b"\x00\x01w"
        )
    )
    store.set_model_status(spec.model_id, "1.0.0", "promoted")
    store.set_alias(spec.model_id, "champion", "1.0.0")
    store.set_alias(spec.model_id, "champion", "1.1.0")
    store.set_alias(spec.model_id, "challenger", "1.0.0")
    for t, allow in ((5000, True), (6000, False)):
        store.add_central_decision(
            CentralDecisionRecord(
                spec.model_id, "1.0.0", "EU", t, ("EU-DE",), 100, Decision(allow=allow)
            )
        )
    store.add_central_decision(
        CentralDecisionRecord(
            spec.model_id, "1.0.0", "US", 5500, ("US-CA",), 100, Decision(allow=True)
        )
    )
    store.close()


if __name__ == "__main__":
    main(sys.argv[1])
