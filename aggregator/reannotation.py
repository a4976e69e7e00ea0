"""Re-annotation requests: a file naming a report's failing slices by counts, never rows.

When a silo's policy asks for ``reannotate`` on a production model, the
aggregator writes one JSON document per report into a folder the data team
watches: which attributes and groups fail, with their counts and rates.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from aggregator._audit import Audit
from fedgov.report import Report

__all__ = ["Reannotation"]

log = logging.getLogger(__name__)


class Reannotation:
    def __init__(self, audit: Audit, folder: Path | None = None) -> None:
        self._audit = audit
        self.folder = folder  # None: requests are logged as not written

    def request(self, report: Report) -> None:
        """Write a re-annotation request naming failing slices by counts, never rows."""
        if self.folder is None:
            log.warning(
                "reannotate requested by %s but no reannotation folder is set", report.silo_id
            )
            return
        slices = []
        for attr, m in (report.metrics.get("fairness") or {}).items():
            for group, g in (m.get("groups") or {}).items():
                if g.get("count"):
                    slices.append(
                        {
                            "attribute": attr,
                            "group": group,
                            "rows": g["count"],
                            "positives": g.get("positives"),
                            "tpr": g.get("tpr"),
                            "fpr": g.get("fpr"),
                        }
                    )
        doc = {
            "report_id": report.report_id,
            "silo": report.silo_id,
            "model": report.model_id,
            "version": report.model_version,
            "reasons": list(report.decision.deny),
            "slices": slices,
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"reannotate-{report.report_id}.json"
        path.write_text(json.dumps(doc, indent=2, sort_keys=True))
        self._audit("reannotation_requested", report_id=report.report_id, path=str(path))
