"""Who sums with whom: the partition of silos into secure-aggregation cohorts.

Cohorts are the parts of a partition of the silos, given as jurisdiction
globs (``--groups EU-*,US-*``); each part must hold at least ``m`` silos, and
figures for a union of parts are sums of the parts' releases. If two groups
overlapped, the difference of their sums would be the sum of the silos in one
and not the other: a group set whose differences could isolate fewer than
``m`` silos is refused, naming the silos and the groups.

Periods are fixed, aligned intervals (``--round-period``): a round sums every
window whose end falls in its period, and opens when the period has closed
and a grace time (for late windows) has passed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aggregator.merge import matches_glob
from fedgov.errors import ConfigError, RoundRefused

__all__ = [
    "RoundSettings",
    "check_partition",
    "check_period",
    "cohort_of",
    "last_closed_period",
    "period_label",
]


@dataclass(frozen=True)
class RoundSettings:
    groups: tuple[str, ...] = ("*",)  # the parts: jurisdiction globs
    min_cohort: int = 3  # m: no sum over fewer silos
    threshold: float = 2 / 3  # share of the cohort that must finish a round
    period_ms: int = 24 * 3600 * 1000
    grace_ms: int = 10 * 60 * 1000
    stage_ms: int = 60 * 1000  # how long a stage waits for the slow silos
    k: int = 10  # release control: a group of fewer rows is withheld
    auto_open: bool = True  # open a round for each period as it closes

    def __post_init__(self) -> None:
        if self.min_cohort < 2:
            raise ConfigError(f"--min-cohort must be at least 2, got {self.min_cohort}")
        if not 0.0 < self.threshold <= 1.0:
            raise ConfigError(f"--round-threshold must be in (0, 1], got {self.threshold}")
        if min(self.period_ms, self.stage_ms) <= 0 or self.grace_ms < 0:
            raise ConfigError("--round-period and --round-stage-timeout must be positive")
        if self.k < 1:
            raise ConfigError(f"--release-k must be at least 1, got {self.k}")

    def needed(self, cohort: int) -> int:
        """t: silos that must finish a round of this cohort, ``max(m, ceil(theta * n))``."""
        return min(cohort, max(self.min_cohort, math.ceil(self.threshold * cohort - 1e-9)))


def cohort_of(part: str, silos: Iterable[tuple[str, str]]) -> list[str]:
    """The ids of ``(silo_id, jurisdiction)`` whose jurisdiction the part's glob matches."""
    return sorted(s for s, j in silos if matches_glob(j, part))


def check_partition(
    groups: Sequence[str], silos: Iterable[tuple[str, str]], min_cohort: int
) -> None:
    """Refuse groups that are not a partition into parts of at least ``min_cohort``
    of the known silos (``(silo_id, jurisdiction)``), saying which silos and groups."""
    known = list(silos)
    if len(set(groups)) != len(groups):
        raise ConfigError(f"--groups names a group twice: {', '.join(groups)}")
    problems = []
    for i, g in enumerate(groups):
        for h in groups[i + 1 :]:
            if "*" in (g, h) or matches_glob(g, h) or matches_glob(h, g):
                problems.append(
                    f"groups {g} and {h} overlap (one matches the other) before any silo "
                    "registers: the difference of their sums could isolate silos"
                )
    for silo, jurisdiction in known:
        hits = [g for g in groups if matches_glob(jurisdiction, g)]
        if len(hits) > 1:
            problems.append(
                f"silo {silo} ({jurisdiction}) is in {' and '.join(hits)}: the difference of "
                "their sums would isolate the silos in one group and not the other"
            )
    for g in groups:
        members = cohort_of(g, known)
        if 0 < len(members) < min_cohort:
            problems.append(
                f"group {g} holds {len(members)} silo(s) ({', '.join(members)}), fewer than "
                f"--min-cohort {min_cohort}: its sum would be theirs alone"
            )
    if problems:
        raise ConfigError(
            "the --groups do not partition the silos into secure cohorts:\n  - "
            + "\n  - ".join(problems)
            + "\nmake the groups disjoint, each with at least --min-cohort silos "
            "(or merge small groups into one)"
        )


def last_closed_period(now_ms: int, s: RoundSettings) -> tuple[int, int]:
    """The newest period whose end plus the grace time has passed."""
    end = (now_ms - s.grace_ms) // s.period_ms * s.period_ms
    return end - s.period_ms, end


def period_label(start_ms: int, end_ms: int) -> str:
    def iso(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    return f"{iso(start_ms)}/{iso(end_ms)}"


def check_period(start_ms: int, end_ms: int, now_ms: int) -> None:
    if not 0 <= start_ms < end_ms:
        raise RoundRefused(f"period [{start_ms}, {end_ms}) is empty; give its start before its end")
    if end_ms > now_ms:
        raise RoundRefused(
            f"period {period_label(start_ms, end_ms)} has not closed yet: a round sums a "
            "closed period (windows still arriving would be left out)"
        )
