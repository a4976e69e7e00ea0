"""The newest report of each silo, decoded once and kept while it stays the newest.

The central gate runs on every ingest of a production model and merges the
newest report of every silo in the jurisdiction group. Reading and decoding
all of them each time costs O(silos) decodes per ingest. A stored report never
changes (reports are stored once by id), so a decoded report stays valid for
as long as it is its silo's newest: each evaluation asks the store which
report ids are the newest (an index read, nothing decoded), reuses the ones
it holds, and decodes only those that changed, which after an ingest is the
new report alone.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from aggregator.merge import matches_glob
from aggregator.store import ReportRef, Store
from fedgov.report import Report

__all__ = ["LatestReports"]


class LatestReports:
    """Decoded newest reports per (model, version), keyed by silo; safe to share between threads.

    ``max_versions`` bounds the memory: the model versions used least recently
    are forgotten first (they are read from the store again if asked for).
    """

    def __init__(self, store: Store, *, max_versions: int = 32) -> None:
        self._store = store
        self._max_versions = max_versions
        self._lock = threading.Lock()
        self._by_version: OrderedDict[tuple[str, str], dict[str, Report]] = OrderedDict()

    def get(
        self, model_id: str, model_version: str | None, group: str | None = None
    ) -> list[Report]:
        """The newest report of each silo (and version) whose jurisdiction matches ``group``.

        The same reports, in the same order, as ``store.reports_for_model(model_id,
        model_version, latest_only=True)`` filtered by the group.
        """
        return self.reports(
            [
                ref
                for ref in self._store.latest_report_refs(model_id, model_version)
                if matches_glob(ref.jurisdiction, group)
            ]
        )

    def reports(self, refs: Sequence[ReportRef]) -> list[Report]:
        """The reports these refs (from ``store.latest_report_refs``) name, in their order."""
        with self._lock:
            held = {key: dict(self._by_version.get(key, {})) for key in _versions(refs)}

        def is_held(ref: ReportRef) -> bool:
            report = held[(ref.model_id, ref.model_version)].get(ref.silo_id)
            return report is not None and report.report_id == ref.report_id

        # New, or no longer the newest: read in one go and decode what the store names now.
        stale = [ref.report_id for ref in refs if not is_held(ref)]
        fetched = self._store.get_reports(stale) if stale else {}
        out: list[Report] = []
        decoded: dict[tuple[str, str], dict[str, Report]] = {}
        for ref in refs:
            key = (ref.model_id, ref.model_version)
            if ref.report_id in fetched:
                report = fetched[ref.report_id]
                decoded.setdefault(key, {})[ref.silo_id] = report
            elif is_held(ref):
                report = held[key][ref.silo_id]
            else:  # pragma: no cover - pointers only name stored reports
                continue
            out.append(report)
        with self._lock:
            for key in held:
                entry = self._by_version.setdefault(key, {})
                # A concurrent call may have stored a newer report of a silo meanwhile;
                # overwriting it with an older one costs that silo one decode next time,
                # as the id check above never serves a report that is no longer the newest.
                entry.update(decoded.get(key, {}))
                self._by_version.move_to_end(key)
            while len(self._by_version) > self._max_versions:
                self._by_version.popitem(last=False)
        return out


def _versions(refs: Sequence[ReportRef]) -> list[tuple[str, str]]:
    return list(dict.fromkeys((r.model_id, r.model_version) for r in refs))
