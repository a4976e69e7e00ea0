"""Release control for secure sums: which cells of an exact cross-silo sum may be published.

A group of an outcome table (with its score cells) or a whole feature histogram is
released only when its total is at least ``k``; cells inside a released group are
exact. Withheld cells become 0 and are listed. Then the linked check: margins,
intersections, fine and score histograms tie the tables together, so a withheld group
could be rebuilt from released ones (``F|18-29 = F - F|30-49 - F|50+``). The release
is audited with the MILP interval attack (:mod:`fedgov.privacy.audit.joint`'s model);
while a withheld cell is pinned to within ``k``, the smallest released group of the
same table is withheld too (complementary withholding), until none is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedgov.privacy.audit._cells import Key
from fedgov.privacy.audit._solve import intervals
from fedgov.privacy.audit._system import SecureRelease, build_system
from fedgov.stats import FeatureCounts, OutcomeCounts, ScoreCounts, WindowStats

__all__ = ["Withheld", "release_secure_sum"]


@dataclass(frozen=True)
class Withheld:
    """A withheld part of a secure sum: ``table`` is ``feature`` (a whole histogram,
    ``group`` None) or ``outcome`` (a group, with its score cells)."""

    table: str
    name: str
    group: str | None
    rows: int


def release_secure_sum(
    stats: WindowStats, *, k: int = 10
) -> tuple[WindowStats, tuple[Withheld, ...]]:
    """The releasable part of an exact sum ``stats`` and what was withheld."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    withheld: dict[tuple[str, str, str | None], int] = {}
    for name, fc in stats.features.items():
        if 0 < fc.total < k:
            withheld[("feature", name, None)] = fc.total
    for name, oc in stats.outcomes.items():
        for g, group in enumerate(oc.groups):
            n = int(oc.counts[g].sum())
            if 0 < n < k:
                withheld[("outcome", name, group)] = n
    while True:
        released = _apply(stats, withheld)
        pinned = _pinned_groups(stats, released, withheld, k)
        grew = False
        for name, group in pinned:
            oc = stats.outcomes[name]
            shown = [
                (int(oc.counts[g].sum()), other)
                for g, other in enumerate(oc.groups)
                if ("outcome", name, other) not in withheld
                and oc.counts[g].sum() > 0
                and _same_line(group, other)
            ]
            if shown:
                n, other = min(shown)
                withheld[("outcome", name, other)] = n
                grew = True
        if not grew:
            break
    out = tuple(Withheld(t, n, g, rows) for (t, n, g), rows in sorted(withheld.items(), key=str))
    return released, out


def _apply(stats: WindowStats, withheld: dict[tuple[str, str, str | None], int]) -> WindowStats:
    features = {
        name: (
            FeatureCounts(name, fc.kind, np.zeros_like(fc.counts), np.zeros_like(fc.fine))
            if ("feature", name, None) in withheld
            else fc
        )
        for name, fc in stats.features.items()
    }
    outcomes = {}
    scores = {}
    for name, oc in stats.outcomes.items():
        keep = np.array([("outcome", name, g) not in withheld for g in oc.groups])
        outcomes[name] = OutcomeCounts(name, oc.groups, oc.counts * keep[:, None, None])
        if name in stats.scores:
            sc = stats.scores[name]
            scores[name] = ScoreCounts(name, sc.groups, sc.counts * keep[:, None, None])
    return WindowStats(
        spec_digest=stats.spec_digest,
        rows=stats.rows,
        features=features,
        outcomes=outcomes,
        outcome_missing=stats.outcome_missing,
        privacy=stats.privacy,
        scores=scores,
    )


def withheld_keys(
    stats: WindowStats, withheld: dict[tuple[str, str, str | None], int]
) -> frozenset[Key]:
    keys: set[Key] = set()
    for table, name, group in withheld:
        if table == "feature":
            fc = stats.features[name]
            keys |= {("feature", name, i) for i in range(fc.counts.size)}
            keys |= {("fine", name, i) for i in range(fc.fine.size)}
            continue
        keys |= {("outcome", name, group, y, p) for y in range(2) for p in range(2)}
        if name in stats.scores:
            n = stats.scores[name].counts.shape[2]
            keys |= {("score", name, group, y, c) for y in range(2) for c in range(n)}
    return frozenset(keys)


def _same_line(group: str, other: str) -> bool:
    """Two groups of one table under a common margin: equal in all slots but one."""
    a, b = group.split("|"), other.split("|")
    return sum(x != y for x, y in zip(a, b, strict=True)) <= 1


def _pinned_groups(
    stats: WindowStats,
    released: WindowStats,
    withheld: dict[tuple[str, str, str | None], int],
    k: int,
) -> list[tuple[str, str]]:
    """Withheld (table, group)s with a cell the release pins to within ``k``."""
    if not withheld:
        return []
    release = SecureRelease(
        "release", ("sum",), ("", "", stats.spec_digest), 0, 1, released,
        withheld_keys(stats, withheld), k,
    )
    system, forms = build_system([], [release])
    out: list[tuple[str, str]] = []
    for form, (lo, hi) in zip(forms, intervals(system, forms), strict=True):
        if hi - lo < k and hi > 0 and lo < k and form.key[0] in ("outcome", "score"):
            pair = (str(form.key[1]), str(form.key[2]))
            if pair not in out:
                out.append(pair)
    return out
