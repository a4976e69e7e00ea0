"""Mergeable sufficient statistics of monitored data.

Raw columns are encoded against a :class:`~fedgov.spec.MonitoringSpec` into
a :class:`Batch` (numbers and integer codes only), and batches are folded
into :class:`WindowStats`: per-feature cell counts (plus fine counts over
the spec's fine edges, for KS and Wasserstein), per-group confusion counts
and, with a score column, per-group score histograms (:class:`ScoreCounts`);
:class:`Privacy` records the guards of :mod:`fedgov.privacy`.
Statistics have ``zero()`` and an associative, commutative ``merge()``, so
silo statistics add up to exactly the pooled ones::

    stats = WindowStats.zero(spec)
    for chunk in chunks:
        stats = stats.fold(spec, encode_columns(spec, chunk))
"""

from fedgov.stats._batch import Batch, encode_columns
from fedgov.stats._counts import (
    MISSING_GROUP,
    OTHER_GROUP,
    FeatureCounts,
    OutcomeCounts,
    ScoreCounts,
    numeric_cells,
    outcome_layouts,
)
from fedgov.stats._derive import DEFAULT_REFERENCE_RHO, derive_spec, with_reference
from fedgov.stats._window import Privacy, WindowStats

__all__ = [
    "DEFAULT_REFERENCE_RHO",
    "MISSING_GROUP",
    "OTHER_GROUP",
    "Batch",
    "FeatureCounts",
    "OutcomeCounts",
    "Privacy",
    "ScoreCounts",
    "WindowStats",
    "derive_spec",
    "encode_columns",
    "numeric_cells",
    "outcome_layouts",
    "with_reference",
]
