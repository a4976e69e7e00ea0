"""What ``fedgov privacy audit`` attacks, read from an aggregator store: every stored
report (through :mod:`aggregator.store`), the specs they name and, with ``with_sums``,
the released secure sums (table ``secagg_releases``). The attacks themselves are in
:mod:`fedgov.privacy.audit`."""

from __future__ import annotations

import json
from collections.abc import Callable

from aggregator.store import Store
from fedgov.errors import DataError
from fedgov.privacy.audit import Release, SecureRelease, release_of
from fedgov.privacy._release import Withheld, withheld_keys
from fedgov.spec import MonitoringSpec
from fedgov.v1 import report_pb2
from fedgov.wire import stats_from_proto

__all__ = ["read_store"]

_SUMS = (
    "SELECT round_id, model_id, model_version, period_start_ms, period_end_ms, part, "
    "silos_json, k, stats, withheld_json FROM secagg_releases ORDER BY released_unix_ms"
)


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
    specs = []
    for digest in sorted({r.family[2] for r in releases}):
        text = store.get_spec_json(digest)
        if text:
            specs.append(MonitoringSpec.from_dict(json.loads(text), source=f"spec {digest[:12]}"))
    secure = _secure_sums(store, releases) if with_sums else []
    return releases, secure, specs


def _secure_sums(store: Store, releases: list[Release]) -> list[SecureRelease]:
    try:
        rows = store._query(_SUMS)  # the lead's table; no Store method reads it yet
    except Exception as exc:  # noqa: BLE001 - a store without the table: say so
        raise DataError(f"--with-sums: the store has no readable secagg_releases table ({exc})") from exc
    out = []
    for round_id, model, version, start, end, part, silos, k, blob, withheld in rows:
        where = f"secagg_releases round {round_id}"
        try:
            m = report_pb2.WindowStats()
            m.ParseFromString(bytes(blob))
            stats = stats_from_proto(m)
            gone = [Withheld(w["table"], w["name"], w.get("group"), int(w.get("rows", 0)))
                    for w in json.loads(withheld or "[]")]
            silo_ids = tuple(json.loads(silos))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{where}: bad row ({exc!r}); keys stats, silos_json, withheld_json") from exc
        keys = withheld_keys(stats, {(w.table, w.name, w.group): w.rows for w in gone})
        out.append(
            SecureRelease(
                f"sum {part} [{start}, {end}) {round_id[:12]}", silo_ids,
                (model, version, stats.spec_digest), int(start), int(end), stats, keys, int(k),
            )
        )
    return out
