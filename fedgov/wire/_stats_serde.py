"""Window statistics on the wire: ``fedgov.v1.WindowStats`` <-> :class:`fedgov.stats.WindowStats`.

:func:`stats_from_proto` checks every shape a peer could get wrong (kinds,
duplicate names, cell counts, negative counts, privacy settings) and raises
:class:`fedgov.wire.WireError` naming the field; the count vectors are
decoded together from their packed bytes (:mod:`fedgov.wire._varint`) into
read-only int64 arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np
from google.protobuf.message import DecodeError

from fedgov.stats import FeatureCounts, OutcomeCounts, Privacy, ScoreCounts, WindowStats
from fedgov.stats._totals import segment_sums_and_minima
from fedgov.v1 import report_pb2
from fedgov.wire._checks import WireError
from fedgov.wire._varint import packed_counts, varints

__all__ = ["stats_from_bytes", "stats_from_proto", "stats_to_bytes", "stats_to_proto"]

_T = TypeVar("_T", OutcomeCounts, ScoreCounts)
_DP_FIELDS = ("rho", "sigma", "rho_total", "delta")


def stats_to_proto(s: WindowStats) -> report_pb2.WindowStats:
    privacy = report_pb2.Privacy()
    if s.privacy.k is not None:
        privacy.k = s.privacy.k
    for name in ("epsilon", *_DP_FIELDS):
        if getattr(s.privacy, name) is not None:
            setattr(privacy, name, getattr(s.privacy, name))
    return report_pb2.WindowStats(
        spec_digest=s.spec_digest,
        rows=int(s.rows),
        features=[
            report_pb2.FeatureCounts(
                name=f.name,
                kind=f.kind,
                counts=f.counts.tolist(),
                fine_counts=f.fine.tolist(),
                suppressed=f.suppressed,
                fine_suppressed=f.fine_suppressed,
            )
            for f in s.features.values()
        ],
        outcomes=[_group_table_to_proto(report_pb2.OutcomeCounts, o) for o in s.outcomes.values()],
        outcome_missing=int(s.outcome_missing),
        privacy=privacy,
        scores=[_group_table_to_proto(report_pb2.ScoreCounts, c) for c in s.scores.values()],
    )


def _group_table_to_proto(message: Any, t: OutcomeCounts | ScoreCounts) -> Any:
    """An ``OutcomeCounts`` or ``ScoreCounts`` message (the same four fields)."""
    return message(
        attribute=t.attribute,
        groups=list(t.groups),
        counts=t.counts.ravel().tolist(),
        suppressed=t.suppressed,
    )


def _all_counts(
    vectors: list[tuple[Any, str | tuple[int, str, str]]], packed: list[bytes]
) -> tuple[list[np.ndarray], list[int], list[int]]:
    """Each repeated int64 field as an int64 array, with its sum and minimum (0 when
    empty); ``packed`` holds their wire payloads.

    The payloads (packed varints, see :func:`packed_counts`) are decoded
    together, in a few numpy passes over the bytes (:func:`varints`): about
    ten times faster than turning the fields into Python ints for numpy to
    read. Should the payloads not hold exactly the fields' values (a sender
    split or did not pack a field), the fields are read through Python ints instead.
    """
    if not vectors:
        return [], [], []  # a report with no features and no outcomes: the spec check rejects it
    ends = np.fromiter(map(len, (values for values, _ in vectors)), np.int64, len(vectors))
    ends = ends.cumsum()
    flat = varints(packed, ends)
    if flat is None:
        cells: list[int] = []
        for values, _ in vectors:
            cells += values[:]
        flat = np.fromiter(cells, dtype=np.int64, count=len(cells))
    starts = [0, *ends[:-1].tolist()]
    bounds = list(zip(starts, ends.tolist(), strict=True))
    sums, minima = segment_sums_and_minima(flat, [b - a for a, b in bounds])
    if min(minima) < 0:
        i = next(i for i, least in enumerate(minima) if least < 0)
        raise WireError(f"{_where(vectors[i][1])}: counts must be >= 0, found {minima[i]}")
    # FeatureCounts keeps read-only int64 views without a copy (the uint64 values that
    # varints views as int64 are read-only too: nothing can change them).
    flat.flags.writeable = False
    return [flat[a:b] for a, b in bounds], sums, minima


def _at(i: int, name: str) -> str:
    """Where feature ``i`` (``name``) is, for an error."""
    return f"stats.features[{i}] ({name})"


def _where(place: str | tuple[int, str, str]) -> str:
    """A count vector's place: a group table's, or (index, name, field) of a feature's."""
    return place if isinstance(place, str) else _at(*place[:2]) + place[2]


def _count(value: int, field: str) -> int:
    if value < 0:
        raise WireError(f"{field}: must be >= 0, got {value}")
    return int(value)


def _privacy(m: report_pb2.Privacy) -> Privacy:
    k = m.k if m.HasField("k") else None
    if k is not None and k < 1:
        raise WireError(f"stats.privacy.k: must be >= 1 when set, got {k}")
    dp: dict[str, float] = {}
    for name in ("epsilon", *_DP_FIELDS):
        if not m.HasField(name):
            continue
        value = getattr(m, name)
        high = 1.0 if name == "delta" else math.inf
        if not 0.0 < value < high:
            bound = "in (0, 1)" if name == "delta" else "a finite number > 0"
            raise WireError(f"stats.privacy.{name}: must be {bound} when set, got {value}")
        dp[name] = value
    return Privacy(k, **dp)


def stats_from_proto(m: report_pb2.WindowStats, packed: list[bytes] | None = None) -> WindowStats:
    """The statistics of ``m``, checked as from a peer; ``packed``: the payloads of its
    count vectors, if the caller has them (:func:`fedgov.wire._varint.report_counts`)."""
    _count(m.rows, "stats.rows")
    _count(m.outcome_missing, "stats.outcome_missing")
    # Check the shapes, then convert every count vector at once, then the rest.
    # Each field is read off the message once (every read crosses into upb).
    vectors: list[tuple[Any, str | tuple[int, str, str]]] = []
    feature_rows: list[tuple[str, str, int, int, int]] = []
    names: set[str] = set()
    for i, f in enumerate(m.features):
        name, kind, counts, fine = f.name, f.kind, f.counts, f.fine_counts
        if kind not in ("numeric", "categorical"):
            raise WireError(f"stats.features[{i}].kind: unknown kind {kind!r}")
        if name in names:
            raise WireError(f"stats.features[{i}].name: duplicate feature {name!r}")
        names.add(name)
        if len(counts) < 3:
            raise WireError(f"{_at(i, name)}.counts: need at least 3 cells, got {len(counts)}")
        if fine and (kind != "numeric" or len(fine) < 3):
            raise WireError(
                f"{_at(i, name)}.fine_counts: only a numeric feature has them, with at least 3 "
                f"cells; got {len(fine)} for a {kind} feature"
            )
        # where each vector is, put into words only for an error
        vectors += [(counts, (i, name, "")), (fine, (i, name, ".fine_counts"))]
        feature_rows.append((name, kind, i, f.suppressed, f.fine_suppressed))
    outcome_rows = _group_rows(m.outcomes, "outcomes", _outcome_cells, vectors)
    score_rows = _group_rows(m.scores, "scores", _score_cells, vectors)
    if packed is None:
        packed = packed_counts(m) if vectors else []
    decoded, sums, minima = _all_counts(vectors, packed)
    arrays = iter(decoded)
    features: dict[str, FeatureCounts] = {}
    for name, kind, i, suppressed, fine_suppressed in feature_rows:
        # Checked above (kind, cells) and here (tallies); the arrays are read-only int64.
        if suppressed < 0 or fine_suppressed < 0:
            _count(suppressed, f"{_at(i, name)}.suppressed")
            _count(fine_suppressed, f"{_at(i, name)}.fine_suppressed")
        features[name] = FeatureCounts._decoded(
            name, kind, next(arrays), next(arrays), int(suppressed), int(fine_suppressed)
        )
    # In the order of ``vectors``: features, then outcomes, then scores.
    outcomes = _group_tables(OutcomeCounts, outcome_rows, arrays)
    scores = _group_tables(ScoreCounts, score_rows, arrays)
    return WindowStats(
        spec_digest=m.spec_digest,
        rows=int(m.rows),
        features=features,
        outcomes=outcomes,
        outcome_missing=int(m.outcome_missing),
        privacy=_privacy(m.privacy),
        scores=scores,
    )._keep_totals(sums, minima)


#: A checked group table: attribute, groups, where, cells per group and label, suppressed.
_GroupRow = tuple[str, tuple[str, ...], str, int, int]


def _group_rows(
    tables: Any,
    field: str,
    cells: Callable[[tuple[str, ...], int, str], int],
    vectors: list[tuple[Any, str | tuple[int, str, str]]],
) -> list[_GroupRow]:
    """Check the ``OutcomeCounts`` or ``ScoreCounts`` messages of ``stats.<field>``
    (``cells`` checks the groups and the count length, and gives the cells per group
    and label); their count vectors go onto ``vectors``."""
    rows: list[_GroupRow] = []
    seen: set[str] = set()
    for i, t in enumerate(tables):
        attribute, groups, counts = t.attribute, tuple(t.groups), t.counts
        where = f"stats.{field}[{i}] ({attribute})"
        if attribute in seen:
            raise WireError(f"{where}.attribute: duplicate attribute {attribute!r}")
        seen.add(attribute)
        n_cells = cells(groups, len(counts), where)
        vectors.append((counts, where))
        rows.append((attribute, groups, where, n_cells, t.suppressed))
    return rows


def _outcome_cells(groups: tuple[str, ...], n_counts: int, where: str) -> int:
    if len(set(groups)) != len(groups):
        raise WireError(f"{where}.groups: duplicate group names")
    if n_counts != 4 * len(groups):
        raise WireError(
            f"{where}: expected {4 * len(groups)} counts for {len(groups)} groups, got {n_counts}"
        )
    return 2


def _score_cells(groups: tuple[str, ...], n_counts: int, where: str) -> int:
    if not groups or len(set(groups)) != len(groups):
        raise WireError(f"{where}.groups: need at least one group, each named once")
    per_group = 2 * len(groups)
    if n_counts % per_group or n_counts // per_group < 4:
        raise WireError(
            f"{where}: expected len(groups) * 2 * (k + 3) counts with k >= 1 score bins "
            f"for {len(groups)} groups, got {n_counts}"
        )
    return n_counts // per_group


def _group_tables(
    cls: type[_T],
    rows: list[_GroupRow],
    arrays: Iterator[np.ndarray],
) -> dict[str, _T]:
    """Checked rows ``(attribute, groups, where, cells, suppressed)`` and their next
    count arrays as ``cls`` tables, ``counts[group, y_true, cell]``, by attribute."""
    return {
        attribute: cls(
            attribute=attribute,
            groups=groups,
            counts=next(arrays).reshape(len(groups), 2, n_cells),
            suppressed=_count(suppressed, f"{where}.suppressed"),
        )
        for attribute, groups, where, n_cells, suppressed in rows
    }


def stats_to_bytes(s: WindowStats) -> bytes:
    """``s`` as the serialized ``fedgov.v1.WindowStats`` a store keeps."""
    data: bytes = stats_to_proto(s).SerializeToString()
    return data


def stats_from_bytes(data: bytes, where: str = "stats") -> WindowStats:
    """The statistics of a serialized ``fedgov.v1.WindowStats``, checked as from a peer;
    :class:`WireError` names ``where`` when the bytes are not one."""
    try:
        m = report_pb2.WindowStats.FromString(data)
    except DecodeError as exc:
        raise WireError(f"{where}: not a serialized WindowStats ({exc})") from exc
    return stats_from_proto(m)
