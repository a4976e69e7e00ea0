"""The demo's six silos (three per part of EU-*, US-*): their story, their files, and
what their audit chains say.

Each silo gets what an operator would give it: a folder of local data (a window
to report, labelled data to train on and a holdout to gate a candidate), a
``silo.yaml`` for ``fedgov agent run``, and its own certificate from the trial PKI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedgov.cli._demo_processes import audit_records, free_port
from fedgov.synthetic import credit_data, write_table

__all__ = ["SILOS", "DemoSilo", "SiloAudits", "SiloFiles", "prepare_silo"]

#: Where `fedgov agent run` keeps a silo's audit chain: in its configured state_dir.
AGENT_AUDIT = "audit.jsonl"

#: Rows of each silo's holdout, whatever ``--rows`` is. A candidate is gated on
#: sex*age_band too, whose smallest group (F, <30) is ~7% of the rows, from noised
#: counts (candidate_rho 1.0, sigma ~3 rows per cell): ~700 rows there keep the fair
#: candidate's intersectional ratio >= 0.9 (noise sd <= 0.01) at the default seed. At
#: 5000 rows EU-FR's was 0.8545 (sd 0.016): a margin of 3.5 sd, thinner with --rows.
HOLDOUT_ROWS = 10_000


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
    DemoSilo("EU-IT", drift=0.0, bias=0.0, fmt="parquet", story="healthy"),
    DemoSilo("US-NY", drift=0.0, bias=0.12, fmt="parquet", story="model biased against women"),
    DemoSilo("US-CA", drift=0.0, bias=0.0, fmt="csv", story="healthy"),
    DemoSilo("US-TX", drift=0.0, bias=0.0, fmt="parquet", story="healthy"),
)


@dataclass(frozen=True)
class SiloFiles:
    config: Path  # silo.yaml
    staged: Path  # the window, written aside ...
    window: Path  # ... and moved here, into the watched folder, when the demo says so
    metrics_port: int


def prepare_silo(
    root: Path,
    silo: DemoSilo,
    *,
    index: int,
    seed: int,
    rows: int,
    address: str,
    pki: Path,
    policy: Path,
    spec: Path,
) -> SiloFiles:
    home = root / silo.silo_id
    data = credit_data(
        rows, seed=seed + 100 + index, drift=silo.drift, bias=silo.bias, with_score=True
    )
    name = f"window-0001.{silo.fmt}"
    staged = write_table(data, home / "staging" / name)
    (home / "incoming").mkdir(parents=True, exist_ok=True)
    # Labelled local data for federated retraining and for gating a candidate.
    write_table(
        credit_data(rows // 2, seed=seed + 200 + index, drift=silo.drift, with_score=True),
        home / "train.parquet",
    )
    write_table(
        credit_data(HOLDOUT_ROWS, seed=seed + 300 + index, drift=silo.drift, with_score=True),
        home / "holdout.parquet",
    )
    metrics_port = free_port()
    config = {
        "silo": {"id": silo.silo_id, "jurisdiction": silo.silo_id},
        "aggregator": {
            "address": address,
            "tls": {
                "ca": str(pki / "ca.pem"),
                "cert": str(pki / f"{silo.silo_id}.pem"),
                "key": str(pki / f"{silo.silo_id}.key"),
            },
        },
        "policy": str(policy),
        "state_dir": str(home / "state"),
        "metrics_port": metrics_port,
        "poll_seconds": 0.25,
        "training": {
            "data": str(home / "train.parquet"),
            "holdout": str(home / "holdout.parquet"),
            "node_key": str(pki / f"{silo.silo_id}.node"),
        },
        "models": [{"spec": str(spec), "input": str(home / "incoming")}],
    }
    (home / "silo.yaml").write_text(  # JSON is YAML: no YAML writer needed
        f"# {silo.silo_id}: `fedgov agent run --config silo.yaml`\n" + json.dumps(config, indent=2),
        encoding="utf-8",
    )
    return SiloFiles(home / "silo.yaml", staged, home / "incoming" / name, metrics_port)


class SiloAudits:
    """What each silo's audit chain says (its agent appends to it as it works)."""

    def __init__(self, root: Path) -> None:
        self.paths = {s.silo_id: root / s.silo_id / "state" / AGENT_AUDIT for s in SILOS}

    def records(self, kind: str) -> dict[str, list[dict[str, Any]]]:
        return {
            silo: [r for r in audit_records(path) if r.get("kind") == kind]
            for silo, path in self.paths.items()
        }

    def all_have(self, kind: str) -> dict[str, list[dict[str, Any]]] | None:
        """The records of ``kind`` by silo once every silo has one; None before."""
        found = self.records(kind)
        return found if all(found.values()) else None

    def monitor(self, version: str) -> bool:
        """Has every silo switched to monitoring ``version``?"""
        return all(
            any(r.get("version") == version for r in switched)
            for switched in self.records("model_switched").values()
        )
