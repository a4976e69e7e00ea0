"""Reading what the audit attacks from files: report JSON files (or folders of them),
spec JSON files, and a truth file (test mode). Errors name the file and the key."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fedgov.errors import DataError
from fedgov.privacy.audit._finding import Truth
from fedgov.privacy.audit._run import release_of
from fedgov.privacy.audit._system import Release
from fedgov.report import Report
from fedgov.spec import MonitoringSpec

__all__ = ["read_files", "read_truth"]


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a readable JSON file ({exc})") from exc


def read_files(paths: Sequence[str | Path]) -> tuple[list[Release], list[MonitoringSpec]]:
    """Reports and specs from JSON files; a folder means every ``*.json`` in it. A
    document with ``stats`` is a report, one with ``features`` and ``model`` a spec;
    a truth file (``windows``) is skipped."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(p.glob("*.json"))
        elif p.is_file():
            files.append(p)
        else:
            raise DataError(f"{p}: no such file or folder")
    releases: list[Release] = []
    specs: list[MonitoringSpec] = []
    for f in files:
        doc = _json(f)
        if not isinstance(doc, dict):
            raise DataError(f"{f}: expected a JSON object (a report or a spec)")
        try:
            if "stats" in doc:
                releases.append(release_of(Report.from_dict(doc)))
            elif "features" in doc and "model" in doc:
                specs.append(MonitoringSpec.from_dict(doc, source=str(f)))
        except KeyError as exc:
            raise DataError(f"{f}: missing key {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise DataError(f"{f}: {exc}") from exc
    return releases, specs


def read_truth(path: str | Path) -> tuple[Truth, dict[str, tuple[float, float]]]:
    """The silos' unguarded statistics per window and the reference extremes."""
    p = Path(path)
    doc = _json(p)
    try:
        extremes = {k: (float(v[0]), float(v[1])) for k, v in doc.get("reference_extremes", {}).items()}
        return Truth.from_dict(doc), extremes
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{p}: not a truth file ({exc!r}); expected windows[].silo/start_ms/end_ms/stats") from exc
