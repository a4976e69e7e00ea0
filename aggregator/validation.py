"""Checking a report's statistics against its model's monitoring spec.

Every count vector must have the spec's cell layout, every count must be
>= 0, and (without noise) each vector must add up to the window's rows once
suppressed rows are added back; score histograms must agree with the
outcome tables. A report that breaks any of this is rejected with a
:class:`fedgov.errors.ReportRejected` naming the field. The audit head a
report carries must look like one (:func:`check_audit_head`).
"""

from __future__ import annotations

import re
from typing import NoReturn

import numpy as np

from fedgov.errors import ReportRejected
from fedgov.report import Report
from fedgov.spec import MonitoringSpec, NumericFeature
from fedgov.stats import WindowStats, outcome_layouts

__all__ = ["check_against_spec", "check_audit_head"]

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_MAX_SEQ = (1 << 62) - 1


def check_against_spec(report: Report, spec: MonitoringSpec) -> None:
    """Counts must have the spec's layout and add up; otherwise reject, naming the field.

    Every count vector has the spec's cell layout (fine counts exactly when
    the spec has fine edges), every count is >= 0, and each vector adds up
    to the window's rows once the rows small-cell suppression removed are
    added back (``suppressed``, which only statistics with ``privacy.k`` may
    have). Noised statistics (``privacy.epsilon`` or ``privacy.sigma``) cannot add up, as every
    count got its own noise: for them only the layout and signs are checked.
    Score histograms are checked the same way (:func:`_check_scores`).
    The layout is compared with the spec's as one tuple (:class:`_Layout`, made once
    per spec); only a report that differs is walked feature by feature for the error.
    """
    stats = report.stats
    noised = stats.privacy.noised
    where = "report.stats"
    if stats.rows < 0 or stats.outcome_missing < 0:
        raise ReportRejected(f"{where}: rows and outcome_missing must be >= 0")
    layout = _Layout.of(spec)
    shapes = tuple(
        (fc.name, fc.kind, len(fc.counts), len(fc.fine)) for fc in stats.features.values()
    )
    if shapes != layout.features:
        _check_feature_layout(stats, spec)  # raises, naming the first feature that differs
    total, least = stats.cell_totals()
    k, rows = stats.privacy.k, stats.rows
    for name, _, _, n_fine in layout.features:
        fc = stats.features[name]
        counts, fine, suppressed = fc.counts, fc.fine, fc.suppressed
        if least[id(counts)] < 0 or least[id(fine)] < 0:
            raise ReportRejected(f"{where}.features[{name}]: negative count")
        if suppressed or fc.fine_suppressed:
            _check_suppressed(f"{where}.features[{name}]", k, suppressed, fc.fine_suppressed)
        if noised:
            continue
        if total[id(counts)] + suppressed != rows:
            _not_adding_up(f"{where}.features[{name}].counts", total[id(counts)], suppressed, rows)
        if n_fine and total[id(fine)] + fc.fine_suppressed != rows:
            _not_adding_up(
                f"{where}.features[{name}].fine", total[id(fine)], fc.fine_suppressed, rows
            )
    layouts = layout.outcomes
    if set(stats.outcomes) != set(layouts):
        raise ReportRejected(
            f"{where}.outcomes: expected attributes {sorted(layouts)}, got {sorted(stats.outcomes)}"
        )
    for attr, oc in stats.outcomes.items():
        at = f"{where}.outcomes[{attr}]"
        if oc.groups != layouts[attr][1]:
            raise ReportRejected(f"{at}: groups differ from the spec's {list(layouts[attr][1])}")
        if least[id(oc.counts)] < 0:
            raise ReportRejected(f"{at}: negative count")
        _check_suppressed(at, stats.privacy.k, oc.suppressed)
        cells = total[id(oc.counts)]
        if not noised and cells + oc.suppressed + stats.outcome_missing != stats.rows:
            raise ReportRejected(
                f"{at}: counts add up to {cells} + {oc.suppressed} suppressed "
                f"+ {stats.outcome_missing} missing, but the window has {stats.rows} rows"
            )
    _check_scores(report, spec, layouts, total, least)


class _Layout:
    """What a spec asks of a report's statistics, worked out once per spec (by digest):
    (name, kind, cells, fine cells) of each feature in spec order, and the outcome
    tables (:func:`fedgov.stats.outcome_layouts`)."""

    _made: dict[str, _Layout] = {}  # a cache: specs never change under a digest
    _KEEP = 256  # specs whose layouts are kept (a registry holds a few)

    def __init__(self, spec: MonitoringSpec) -> None:
        self.features = tuple(
            (
                f.name,
                "numeric" if isinstance(f, NumericFeature) else "categorical",
                f.n_cells,
                f.n_fine_cells if isinstance(f, NumericFeature) else 0,
            )
            for f in spec.features
        )
        self.outcomes = outcome_layouts(spec)

    @classmethod
    def of(cls, spec: MonitoringSpec) -> _Layout:
        layout = cls._made.get(spec.digest)
        if layout is None:
            if len(cls._made) >= cls._KEEP:
                cls._made.clear()
            layout = cls._made[spec.digest] = cls(spec)
        return layout


def _check_feature_layout(stats: WindowStats, spec: MonitoringSpec) -> None:
    """The features must be the spec's, each with its cell layout: raise for the first that
    is not (a report whose features merely come in another order passes)."""
    where = "report.stats"
    extra = sorted(set(stats.features) - {f.name for f in spec.features})
    if extra:
        raise ReportRejected(f"{where}.features: not in the spec: {extra}")
    for f in spec.features:
        fc = stats.features.get(f.name)
        if fc is None:
            raise ReportRejected(f"{where}.features: missing feature {f.name!r}")
        at = f"{where}.features[{f.name}]"
        kind = "numeric" if isinstance(f, NumericFeature) else "categorical"
        if fc.kind != kind or len(fc.counts) != f.n_cells:
            raise ReportRejected(
                f"{at}: expected {f.n_cells} {kind} cells, got {len(fc.counts)} {fc.kind}"
            )
        n_fine = f.n_fine_cells if isinstance(f, NumericFeature) else 0
        if len(fc.fine) != n_fine:
            raise ReportRejected(
                f"{at}.fine: expected {n_fine} cells (the spec's fine_edges), got {len(fc.fine)}"
            )


def _not_adding_up(at: str, total: int, suppressed: int, rows: int) -> NoReturn:
    raise ReportRejected(
        f"{at}: counts add up to {total} + {suppressed} suppressed, but the window has {rows} rows"
    )


def _check_scores(
    report: Report,
    spec: MonitoringSpec,
    layouts: dict[str, tuple[tuple[str, ...], tuple[str, ...]]],
    total: dict[int, int],
    least: dict[int, int],
) -> None:
    """Score histograms: one per outcome table exactly when the spec has a score column.

    A report with no score tables at all is accepted for a spec with a score
    column: agents made before score histograms existed send none, and the
    merge then leaves AUC and calibration out (:func:`aggregator.merge.merge_stats`).
    Each table has the outcome table's groups and ``2 * (k + 3)`` cells per
    group; it counts the outcome table's rows, so (without noise) it adds up to
    ``rows - outcome_missing`` with its ``suppressed``, and (with nothing
    suppressed either) each group and label has as many rows in both tables.
    ``total`` and ``least`` are the sums and minima of ``WindowStats.cell_totals``.
    """
    stats = report.stats
    where = "report.stats.scores"
    if not stats.scores:
        return
    if not spec.score:
        raise ReportRejected(
            f"{where}: the spec names no score column, but the report has score tables "
            f"{sorted(stats.scores)}"
        )
    if set(stats.scores) != set(layouts):
        raise ReportRejected(
            f"{where}: expected one table per attribute {sorted(layouts)}, "
            f"got {sorted(stats.scores)}"
        )
    noised = stats.privacy.noised
    for attr, sc in stats.scores.items():
        at = f"{where}[{attr}]"
        if sc.groups != layouts[attr][1]:
            raise ReportRejected(f"{at}: groups differ from the spec's {list(layouts[attr][1])}")
        if sc.n_cells != spec.n_score_cells:
            raise ReportRejected(
                f"{at}: expected {spec.n_score_cells} cells per group and label (the spec's "
                f"score_edges), got {sc.n_cells}"
            )
        if least[id(sc.counts)] < 0:
            raise ReportRejected(f"{at}: negative count")
        _check_suppressed(at, stats.privacy.k, sc.suppressed)
        if noised:
            continue
        cells = total[id(sc.counts)]
        if cells + sc.suppressed + stats.outcome_missing != stats.rows:
            raise ReportRejected(
                f"{at}: counts add up to {cells} + {sc.suppressed} suppressed "
                f"+ {stats.outcome_missing} missing, but the window has {stats.rows} rows"
            )
        oc = stats.outcomes[attr]
        if sc.suppressed or oc.suppressed:
            continue
        per_score, per_outcome = sc.counts.sum(axis=2), oc.counts.sum(axis=2)
        if not np.array_equal(per_score, per_outcome):
            g, y = (int(i) for i in np.argwhere(per_score != per_outcome)[0])
            raise ReportRejected(
                f"{at}: group {sc.groups[g]!r} with y_true={y} has {int(per_score[g, y])} "
                f"scored rows but {int(per_outcome[g, y])} rows in the outcome counts; both "
                "tables count the same rows"
            )


def _check_suppressed(at: str, k: int | None, *suppressed: int) -> None:
    if min(suppressed) < 0:
        raise ReportRejected(f"{at}: suppressed must be >= 0")
    if k is None and max(suppressed) > 0:
        raise ReportRejected(f"{at}: rows are marked suppressed, but stats.privacy.k is not set")


def check_audit_head(report: Report) -> None:
    """The report's audit head, if any, is a record number and a sha256 hex digest."""
    head = report.audit_head
    if head is None:
        return
    if not 0 <= head.seq <= _MAX_SEQ:
        raise ReportRejected(f"report.audit_head.seq: must be 0..{_MAX_SEQ}, got {head.seq}")
    if not _SHA256_HEX.fullmatch(head.hash):
        raise ReportRejected(
            "report.audit_head.hash: must be 64 lowercase hex digits (a sha256), "
            f"got {head.hash[:80]!r}"
        )
