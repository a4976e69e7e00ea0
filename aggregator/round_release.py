"""The end of a secure round: the cohort's sum, formed and put through release control.

The masked vectors and unmask shares give the exact sum of the survivors'
vectors (:func:`fedgov.secagg.reconstruct`); it is read back as statistics
per model version (:mod:`fedgov.secagg.layout`) and released under the
release control of :func:`fedgov.privacy.release_secure_sum`: a group or a
histogram with fewer than ``k`` rows in the sum is withheld (with its linked
complements), the cells of a released one are exact. Only the release is
returned for storage; the raw sum lives in this call alone.
"""

from __future__ import annotations

import dataclasses
import json

from aggregator.specs import SpecCache
from aggregator.store import ReleaseRecord, RoundRecord, Store
from fedgov.errors import RoundRefused
from fedgov.privacy import release_secure_sum
from fedgov.report import now_ms
from fedgov.secagg import Advert, RoundParams, decode_share_map, reconstruct
from fedgov.secagg.layout import Layout, stats_of
from fedgov.stats import WindowStats
from fedgov.wire import stats_to_bytes

__all__ = ["release_round"]


def release_round(
    rec: RoundRecord, store: Store, specs: SpecCache, k: int
) -> list[tuple[ReleaseRecord, WindowStats]]:
    """Each released version's record (for the store) with its released statistics."""
    params = RoundParams.from_json(rec.params)
    layout = Layout.from_json(rec.layout)
    adverts = [Advert.from_bytes(b) for b in store.round_messages(rec.round_id, 1).values()]
    masked = {s: b for s, b in store.round_messages(rec.round_id, 3).items() if s in rec.survivors}
    answers = {
        s: decode_share_map(b)
        for s, b in store.round_messages(rec.round_id, 4).items()
        if s in rec.survivors
    }
    total = reconstruct(params, adverts, masked, rec.dropped, answers)
    known = {seg.spec_digest: specs.get(seg.spec_digest) for seg in layout.segments}
    missing = [d[:12] for d, s in known.items() if s is None]
    if missing:
        raise RoundRefused(f"the specs {', '.join(missing)} of the round are no longer known")
    summed = stats_of(layout, total, {d: s for d, s in known.items() if s is not None})
    now = now_ms()
    out = []
    for seg in layout.segments:
        stats = summed[seg.spec_digest]
        if stats.rows == 0:
            continue  # no silo ran this version in the period: nothing to release
        released, withheld = release_secure_sum(stats, k=k)
        record = ReleaseRecord(
            rec.round_id,
            rec.model_id,
            seg.model_version,
            rec.period_start_ms,
            rec.period_end_ms,
            rec.part,
            tuple(sorted(masked)),
            k,
            stats_to_bytes(released),
            json.dumps([dataclasses.asdict(w) for w in withheld]),
            now,
        )
        out.append((record, released))
    return out
