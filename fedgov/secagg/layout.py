"""What a silo's secure-aggregation vector holds, cell by cell.

A round covers one model over one period and every version the silos
monitored in it (feature histograms of one window are the same under every
version, so separate rounds per version could be differenced). The vector
is the concatenation, in the order of :class:`Layout`, of one segment per
``(model_version, spec_digest)``: that version's :class:`~fedgov.stats.WindowStats`
flattened as ``rows, outcome_missing``, then each feature's coarse and fine
cells (spec order), each outcome table, each score table (sorted by name).
A silo that does not run a version contributes zeros to its segment, which
the masks hide like any other value.

Counts are summed as uint64 modulo 2^64; the true sum over a cohort is far
below 2^63, so the sum read back as int64 is the exact integer sum.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fedgov.spec import MonitoringSpec
from fedgov.stats import FeatureCounts, OutcomeCounts, ScoreCounts, WindowStats

__all__ = ["Layout", "Segment", "stats_of", "vector_of"]


@dataclass(frozen=True)
class Segment:
    model_version: str
    spec_digest: str
    length: int


@dataclass(frozen=True)
class Layout:
    segments: tuple[Segment, ...]

    @classmethod
    def of(cls, specs: Sequence[MonitoringSpec]) -> Layout:
        """One segment per spec, ordered by version then digest."""
        ordered = sorted(specs, key=lambda s: (s.model_version, s.digest))
        return cls(tuple(Segment(s.model_version, s.digest, cells(s)) for s in ordered))

    @property
    def length(self) -> int:
        return sum(s.length for s in self.segments)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    def to_json(self) -> str:
        return json.dumps(
            [[s.model_version, s.spec_digest, s.length] for s in self.segments],
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Layout:
        try:
            rows = json.loads(text)
            segments = tuple(Segment(str(v), str(d), int(n)) for v, d, n in rows)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"malformed round layout: {exc}") from None
        if any(s.length < 2 for s in segments) or len(set(segments)) != len(segments):
            raise ValueError("malformed round layout: a segment is empty or repeated")
        return cls(segments)


def cells(spec: MonitoringSpec) -> int:
    """Length of one version's segment."""
    return sum(a.size for a in _arrays(WindowStats.zero(spec)))


def _arrays(stats: WindowStats) -> Iterator[np.ndarray]:
    yield np.array([stats.rows, stats.outcome_missing], dtype=np.int64)
    for fc in stats.features.values():
        yield fc.counts
        yield fc.fine
    for name in sorted(stats.outcomes):
        yield stats.outcomes[name].counts.reshape(-1)
    for name in sorted(stats.scores):
        yield stats.scores[name].counts.reshape(-1)


def vector_of(layout: Layout, stats: Mapping[str, WindowStats]) -> np.ndarray:
    """The uint64 vector of ``stats`` (by spec digest); a digest not given is zeros.

    The stats must be unguarded counts (no suppression, no noise): the secure
    sum is exact, and its release control applies after summing.
    """
    parts = []
    for seg in layout.segments:
        s = stats.get(seg.spec_digest)
        if s is None:
            parts.append(np.zeros(seg.length, dtype=np.uint64))
            continue
        if s.privacy.k is not None or s.privacy.noised:
            raise ValueError("a secure sum takes the raw counts, not guarded ones")
        flat = np.concatenate(list(_arrays(s)))
        if flat.size != seg.length:
            raise ValueError(
                f"statistics of {seg.spec_digest[:12]} have {flat.size} cells, "
                f"the round's layout says {seg.length}"
            )
        parts.append(flat.astype(np.uint64))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)


def stats_of(
    layout: Layout, vector: np.ndarray, specs: Mapping[str, MonitoringSpec]
) -> dict[str, WindowStats]:
    """Inverse of :func:`vector_of`: the summed statistics per spec digest."""
    if vector.size != layout.length:
        raise ValueError(f"vector has {vector.size} cells, the layout {layout.length}")
    values = vector.astype(np.uint64).view(np.int64)
    if values.min(initial=0) < 0:
        raise ValueError("a summed count is negative: the masks did not cancel")
    out: dict[str, WindowStats] = {}
    at = 0
    for seg in layout.segments:
        zero = WindowStats.zero(specs[seg.spec_digest])
        out[seg.spec_digest] = _filled(zero, values[at : at + seg.length])
        at += seg.length
    return out


def _filled(zero: WindowStats, values: np.ndarray) -> WindowStats:
    at = 2

    def take(shape: tuple[int, ...]) -> np.ndarray:
        nonlocal at
        n = int(np.prod(shape)) if shape else 0
        arr = values[at : at + n].reshape(shape).copy()
        at += n
        return arr

    features = {
        name: FeatureCounts(name, fc.kind, take(fc.counts.shape), take(fc.fine.shape))
        for name, fc in zero.features.items()
    }
    outcomes = {
        name: OutcomeCounts(name, zero.outcomes[name].groups, take(zero.outcomes[name].counts.shape))
        for name in sorted(zero.outcomes)
    }
    scores = {
        name: ScoreCounts(name, zero.scores[name].groups, take(zero.scores[name].counts.shape))
        for name in sorted(zero.scores)
    }
    return WindowStats(
        spec_digest=zero.spec_digest,
        rows=int(values[0]),
        features=features,
        outcomes={n: outcomes[n] for n in zero.outcomes},
        outcome_missing=int(values[1]),
        scores={n: scores[n] for n in zero.scores},
    )
