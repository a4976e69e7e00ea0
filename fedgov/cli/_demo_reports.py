"""The demo's last step: the evidence an auditor is handed, written as files.

As the auditor role (its certificate from the trial PKI), over the query API,
exactly as a person would run ``fedgov report``:

- ``report-nyc-ll144.html``: the bias audit of US-NY's model (NYC Local Law 144),
  with the women's impact ratio under 0.8, the retraining job and the promoted
  candidate's figures;
- ``report-eu-ai-act.pdf``: post-market monitoring of the EU silos (EU AI Act
  Art. 72), with EU-DE's drifted features over time.

Each report is then checked with ``fedgov report verify`` against the store.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from fedgov.cli._demo_processes import Fedgov
from fedgov.errors import GovernanceError

__all__ = ["REPORTS", "keep_only", "write_reports"]

#: file name -> (regime, format, jurisdictions)
REPORTS = {
    "report-nyc-ll144.html": ("nyc-ll144", "html", "US-NY"),
    "report-eu-ai-act.pdf": ("eu-ai-act", "pdf", "EU-*"),
}


def write_reports(
    fedgov: Fedgov, client: Sequence[str], root: Path, *, model: str, version: str
) -> dict[str, Any]:
    """Write the demo's reports into ``root`` and verify them; their paths, hashes,
    sizes and times, and a check per report."""
    auditor = [*client[: client.index("--identity")], "--identity", "auditor"]
    written: dict[str, Any] = {}
    checks: dict[str, bool] = {}
    for name, (regime, fmt, where) in REPORTS.items():
        path = root / name
        t0 = time.monotonic()
        made = fedgov.call_json(
            ["report", "--model", model, "--version", version, "--regime", regime]
            + ["--jurisdictions", where, "--format", fmt, "-o", str(path), *auditor]
        )
        seconds = time.monotonic() - t0
        try:
            verified = fedgov.call_json(["report", "verify", str(path), *auditor])
        except GovernanceError as exc:  # exit 1: it differs; the check below says FAILED
            verified = {"verified": False, "problems": [str(exc)]}
        written[name] = {
            "path": str(path),
            "regime": regime,
            "content_hash": made["content_hash"],
            "bytes": path.stat().st_size,
            "seconds": round(seconds, 2),
            "verified": bool(verified["verified"]),
            "problems": list(verified.get("problems") or []),
        }
        checks[f"{name} written and verified against the store"] = bool(verified["verified"])
    return {"reports": written, "checks": checks}


def keep_only(root: Path, names: Iterable[str]) -> None:
    """Remove everything in ``root`` but the files ``names`` (the demo's temporary
    folder ends holding its reports only)."""
    kept = set(names)
    for entry in root.iterdir():
        if entry.name in kept:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
