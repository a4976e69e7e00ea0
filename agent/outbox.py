"""A durable outbox: a report is on disk before it is sent, and removed after the ack.

One JSON file per report, written to a temporary name, fsynced, then renamed,
so a crash leaves either the whole report or nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from fedgov.report import Report

__all__ = ["Outbox"]


class Outbox:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def put(self, report: Report) -> Path:
        path = self.folder / f"{report.report_id}.json"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(report.to_json())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return path

    def pending(self) -> list[Report]:
        files = sorted(self.folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
        return [Report.from_dict(json.loads(p.read_text(encoding="utf-8"))) for p in files]

    def remove(self, report_id: str) -> None:
        (self.folder / f"{report_id}.json").unlink(missing_ok=True)

    def __len__(self) -> int:
        return sum(1 for _ in self.folder.glob("*.json"))
