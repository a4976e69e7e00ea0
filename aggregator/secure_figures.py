"""Cross-silo figures from released secure sums, and where every figure comes from.

A query over several silos prefers a secure sum: exact counts of every group
released by release control (:mod:`aggregator.round_release`). Figures for a
union of parts are the sum of the parts' releases of one period; a
jurisdiction filter that is not a union of parts cannot be answered from
secure sums (its difference with a part would isolate silos), so the
per-silo reports answer it, and the answer's ``source`` says which path it
took and with which privacy terms.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aggregator.answers import Fairness
from aggregator.partition import period_label
from aggregator.specs import SpecCache
from aggregator.store import ReleaseRecord, Store
from fedgov.metrics import compute_metrics
from fedgov.stats import Privacy, WindowStats
from fedgov.wire import stats_from_bytes

__all__ = ["clear_source", "secure_fairness"]


def secure_fairness(
    store: Store, specs: SpecCache, model_id: str, version: str, glob: str
) -> Fairness | None:
    """The newest secure sum covering ``glob`` (a union of parts; "" = every part), or None."""
    releases = store.releases(model_id, version)
    if not releases:
        return None
    wanted = {p.strip() for p in glob.split(",") if p.strip()}
    newest = max(releases, key=lambda r: (r.period_start_ms, r.model_version))
    chosen = [
        r
        for r in releases
        if (r.period_start_ms, r.model_version) == (newest.period_start_ms, newest.model_version)
        and (not wanted or r.part in wanted)
    ]
    if not chosen or (wanted and {r.part for r in chosen} != wanted):
        return None
    stats = _summed(chosen)
    spec = specs.get(stats.spec_digest)
    if spec is None:
        return None
    silos = sorted({s for r in chosen for s in r.silos})
    where = {s.silo_id: s.jurisdiction for s in store.list_silos()}
    withheld = sorted(
        (w for r in chosen for w in json.loads(r.withheld_json)),
        key=lambda w: (w["table"], w["name"], w.get("group") or ""),
    )
    return Fairness(
        model=model_id,
        version=newest.model_version,
        silos=tuple(silos),
        jurisdictions=tuple(sorted({where.get(s, "?") for s in silos})),
        rows=stats.rows,
        reports=0,
        metrics=compute_metrics(spec, stats),
        source=_secure_source(withheld, chosen[0].k, len(silos)),
        period=period_label(newest.period_start_ms, newest.period_end_ms),
        spec_digest=spec.digest,
        round_ids=tuple(sorted(r.round_id for r in chosen)),
        withheld=tuple(withheld),
    )


def _summed(releases: Sequence[ReleaseRecord]) -> WindowStats:
    total: WindowStats | None = None
    for r in releases:
        s = stats_from_bytes(r.stats, f"secure release {r.round_id}")
        total = s if total is None else total.merge(s)
    assert total is not None
    return total


def _secure_source(withheld: Sequence[dict[str, Any]], k: int, silos: int) -> str:
    text = f"exact, secure sum of {silos} silos"
    if withheld:
        names = sorted(
            {f"{w['name']}={w['group']}" if w.get("group") else w["name"] for w in withheld}
        )
        text += f"; withheld under k={k} (fewer rows in the sum): {', '.join(names)}"
    return text


def clear_source(privacy: Privacy) -> str:
    """How per-silo reports protected what they sent."""
    terms = []
    if privacy.sigma is not None:
        terms.append(f"discrete Gaussian noise, sigma={privacy.sigma:.3g} per count")
    if privacy.epsilon is not None:
        terms.append(f"Laplace noise, epsilon={privacy.epsilon:g}")
    if privacy.k is not None:
        terms.append(f"cells under k={privacy.k} suppressed")
    if not terms:
        return "per-silo reports, unprotected (exact counts)"
    return f"per-silo reports, protected ({'; '.join(terms)})"
