"""Policy thresholds as a report shows them: the bundle each silo runs, resolved per jurisdiction.

A silo reports only its bundle's digest; the report reads the thresholds of the
bundles it can load (the shipped default, and any folders the arguments name as
``policies``) and matches them by digest, resolving a per-jurisdiction table the
way the packs' ``thresholds.rego`` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from aggregator import answers as a
from fedgov.errors import PolicyError
from fedgov.policy import Bundle, default_bundle_path, load_bundle

__all__ = ["SIGNALS", "known_bundles", "resolve_thresholds", "threshold_rows"]


#: What each threshold a shipped bundle may hold watches (the signal it limits).
SIGNALS = {
    "psi_max": "drift: population stability index of each feature (deny above)",
    "psi_pvalue_max": "drift: PSI counts only when its p-value is below this",
    "missing_rate_max": "data quality: share of missing values per feature (warn above)",
    "dp_ratio_min": "fairness: demographic parity ratio per attribute (deny below)",
    "dp_difference_max": "fairness: demographic parity difference per attribute (deny above)",
    "eo_difference_max": "fairness: equalized odds difference per attribute",
    "four_fifths_min": "fairness: selection-rate ratio, four-fifths rule (deny below)",
    "impact_ratio_min": "fairness: impact ratio per category (deny below)",
    "min_group_size": "fairness: groups smaller than this are not judged",
    "min_sample_size": "evidence: fewer rows give no verdict",
    "max_staleness_hours": "evidence: newest window older than this denies",
    "small_category_share": "fairness: categories under this share are marked",
    "exclude_small_categories": "fairness: small categories left out of the impact ratio",
    "include_intersections": "fairness: intersections (a*b) judged too",
    "human_oversight_required": "oversight: a deny blocks serving until a person reviews",
}


def known_bundles(policies: Iterable[str | Path]) -> dict[str, Bundle]:
    """Bundles this report can read, by digest: the shipped default and the ``--policy``
    folders (``--policy DIR``; a silo's digest names its bundle, not its content)."""
    out = {}
    try:
        shipped = load_bundle(default_bundle_path())
        out[shipped.digest] = shipped
    except PolicyError:  # an installation without the shipped bundle: only --policy ones
        pass
    for path in policies:  # a folder the user named must load (its error names it)
        bundle = load_bundle(path)
        out[bundle.digest] = bundle
    return out


def resolve_thresholds(data: Mapping[str, Any], jurisdiction: str) -> dict[str, Any]:
    """The thresholds a bundle applies in ``jurisdiction``, as its Rego resolves them
    (deploy/policies/*/thresholds.rego): a flat table applies everywhere; a table keyed
    by jurisdiction layers ``default``, matching globs (shorter first), then the exact key."""
    table = (data.get("fedgov") or {}).get("thresholds") or {}
    if not table or not all(isinstance(v, Mapping) for v in table.values()):
        return dict(table)
    keys = sorted(
        (k for k in table if k != "default" and fnmatchcase(jurisdiction, k)),
        key=lambda k: (k == jurisdiction, len(k), k),
    )
    out: dict[str, Any] = {}
    for k in ["default", *keys]:
        out.update(table.get(k) or {})
    return out


def threshold_rows(
    silos: Sequence[a.SiloRow], bundles: Mapping[str, Bundle]
) -> list[dict[str, Any]]:
    """One row per (bundle, jurisdiction, threshold) for the silos' bundles."""
    rows = []
    for (digest, jurisdiction), members in sorted(_by_bundle(silos).items()):
        bundle = bundles.get(digest)
        if bundle is None:
            continue
        for name, value in sorted(resolve_thresholds(bundle.data, jurisdiction).items()):
            rows.append(
                {
                    "bundle": digest,
                    "jurisdiction": jurisdiction,
                    "silos": ", ".join(members),
                    "threshold": name,
                    "value": _shown(value),
                    "signal": SIGNALS.get(name, "(read by the bundle's Rego rules)"),
                }
            )
    return rows


def _by_bundle(silos: Sequence[a.SiloRow]) -> dict[tuple[str, str], list[str]]:
    groups: dict[tuple[str, str], list[str]] = {}
    for s in silos:
        groups.setdefault((s.policy_bundle_digest, s.jurisdiction), []).append(s.silo)
    return {k: sorted(v) for k, v in groups.items()}


def _shown(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
