"""What ``fedgov privacy audit`` attacks, read from an aggregator store: every stored
report, the specs they name and, with ``with_sums``, the released secure sums (all
through :mod:`aggregator.store`). The attacks themselves are in
:mod:`fedgov.privacy.audit`."""

from __future__ import annotations

import json
from collections.abc import Callable

from aggregator.store import ReleaseRecord, Store
from fedgov.errors import DataError
from fedgov.privacy._release import Withheld, withheld_keys
from fedgov.privacy.audit import Release, SecureRelease, release_of
from fedgov.spec import MonitoringSpec
from fedgov.wire import WireError, stats_from_bytes

__all__ = ["read_store"]


def read_store(
    store: Store, *, with_sums: bool, progress: Callable[[str], None] | None = None
) -> tuple[list[Release], list[SecureRelease], list[MonitoringSpec]]:
    releases: list[Release] = []
    models = sorted({(r.model_id) for r in store.latest_reports()})
    total = store.count_reports()
    for model in models:
        for report in store.reports_for_model(model, None, latest_only=False):
            releases.append(release_of(report))
            if progress and len(releases) % 1000 == 0:
                progress(f"read {len(releases)}/{total} reports")
    secure = [_secure_release(r) for r in store.releases()] if with_sums else []
    specs = []
    for digest in sorted({r.family[2] for r in releases} | {s.family[2] for s in secure}):
        text = store.get_spec_json(digest)
        if text:
            specs.append(MonitoringSpec.from_dict(json.loads(text), source=f"spec {digest[:12]}"))
    return releases, secure, specs


def _secure_release(r: ReleaseRecord) -> SecureRelease:
    where = f"secure release of round {r.round_id}"
    try:
        stats = stats_from_bytes(r.stats, f"{where}: stats")
        gone = [
            Withheld(w["table"], w["name"], w.get("group"), int(w.get("rows", 0)))
            for w in json.loads(r.withheld_json or "[]")
        ]
    except WireError as exc:
        raise DataError(str(exc)) from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{where}: bad withheld_json ({exc!r}); keys table, name, group") from exc
    keys = withheld_keys(stats, {(w.table, w.name, w.group): w.rows for w in gone})
    return SecureRelease(
        f"sum {r.part} [{r.period_start_ms}, {r.period_end_ms}) {r.round_id[:12]}",
        r.silos,
        (r.model_id, r.model_version, stats.spec_digest),
        r.period_start_ms,
        r.period_end_ms,
        stats,
        keys,
        r.k,
    )
