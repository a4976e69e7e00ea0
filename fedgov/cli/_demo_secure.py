"""The demo's secure round: exact cross-silo figures from masked sums, and the audit.

After every silo has reported, an operator opens a secure aggregation round
(`fedgov round open`) for the period that holds the windows. Each part of the
partition (EU-*, US-*: three silos each) sums its silos' unguarded counts
under pairwise masks; the aggregator learns the sums alone and releases them
under release control. The demo then checks, as a person would:

- the cross-silo fairness of every group, down to the smallest intersection
  cell, equals the figure of the pooled data exactly (the demo still holds
  every silo's window, so it can pool them, which the aggregator cannot);
- `fedgov privacy audit` run against the aggregator's store, secure sums
  included, recovers no protected cell.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fedgov.cli._demo_processes import Fedgov
from fedgov.spec import MonitoringSpec

__all__ = ["secure_round"]


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def _completed(fedgov: Fedgov, client: Sequence[str], model: str) -> list[Any] | None:
    rounds = fedgov.call_json(["round", "list", "--model", model, *client])
    if rounds and all(r["status"] != "open" for r in rounds):
        return list(rounds)
    return None


def _pooled(spec: MonitoringSpec, windows: Sequence[Path]) -> dict[str, Any]:
    """The fairness of all windows pooled in one place (what no silo may do)."""
    from fedgov.data import fold_file
    from fedgov.metrics import compute_metrics

    total = None
    for path in windows:
        stats = fold_file(path, spec, chunk_rows=65_536)
        total = stats if total is None else total.merge(stats)
    assert total is not None
    return dict(compute_metrics(spec, total)["fairness"])


def _groups(fairness: Mapping[str, Any]) -> dict[tuple[str, str], tuple[Any, Any]]:
    """(attribute, group) -> (rows, selection rate)."""
    out = {}
    for attr, m in fairness.items():
        for group, gm in (m.get("groups") or {}).items():
            out[(attr, group)] = (gm.get("count"), gm.get("selection_rate"))
    return out


def secure_round(
    fedgov: Fedgov,
    client: Sequence[str],
    *,
    model: str,
    version: str,
    spec: MonitoringSpec,
    windows: Sequence[Path],
    since_ms: int,
    store: Path,
) -> dict[str, Any]:
    """What the step found: ``rounds``, ``secure`` (the fairness answer), ``checks``..."""
    period = f"{_iso(since_ms)}/{_iso(int(time.time() * 1000))}"
    opened = time.monotonic()
    fedgov.call_json(["round", "open", "--model", model, "--period", period, *client])
    rounds = fedgov.wait_for(
        "the secure rounds to end",
        lambda: _completed(fedgov, client, model),
        timeout=120,
        interval=0.5,
    )
    took = time.monotonic() - opened
    secure = fedgov.call_json(
        ["query", "fairness", "--model", model, "--model-version", version, "--source", "secure",
         *client]
    )  # fmt: skip
    pooled = _groups(_pooled(spec, windows))
    got = _groups(secure["metrics"]["fairness"])
    smallest = min((g for g in pooled if pooled[g][0]), key=lambda g: pooled[g][0])
    audit = subprocess.run(
        [*fedgov.argv0, "privacy", "audit", str(store), "--with-sums", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    try:
        audit_report = json.loads(audit.stdout)
    except json.JSONDecodeError:
        audit_report = {"error": audit.stderr.strip()[-2000:]}
    completed = [r for r in rounds if r["status"] == "completed"]
    return dict(
        rounds=rounds,
        seconds=round(took, 2),
        secure=secure,
        smallest={
            "group": "=".join(smallest),
            "rows": pooled[smallest][0],
            "selection_rate": pooled[smallest][1],
            "secure": got.get(smallest),
        },  # fmt: skip
        audit=audit_report,
        audit_exit=audit.returncode,
        checks={
            "a secure round completed in each part (EU-*, US-*), sums of 3 silos": len(completed)
            == len(rounds)
            and len(rounds) == 2
            and all(len(r["survivors"]) == 3 for r in completed),
            "secure cross-silo figures equal the pooled data exactly, smallest group too": bool(
                got and got == pooled
            ),
            "fedgov privacy audit recovers nothing from the aggregator's store": audit.returncode
            == 0,
        },
    )
