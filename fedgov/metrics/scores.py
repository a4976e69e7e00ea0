"""Per-group ROC AUC and calibration error from score histograms.

Every function reads a :class:`~fedgov.stats.ScoreCounts` (counts indexed
``[group, y_true, cell]`` over the numeric layout of the spec's
``score_edges``) and returns plain Python numbers or ``None``, never NaN:
the same call gives a silo's figure on local counts and the exact
cross-silo figure on merged ones. No score value is needed, only which cell
it fell in, so both metrics are computed from binned scores:

**AUC** is the Mann-Whitney form of the ROC AUC, the probability that a
positive outscores a negative, ties counting 1/2::

    AUC = (sum_c P_c * N_{<c} + 1/2 * sum_c P_c * N_c) / (P * N)

over the ordered cells underflow < bin_0 < ... < bin_{k-1} < overflow
(``P_c``, ``N_c`` positives and negatives in cell ``c``, ``N_{<c}``
negatives in lower cells); rows with a missing score are left out. It is
``sklearn.metrics.roc_auc_score`` of the scores replaced by their cells. A
pair in different cells is ordered as by the raw scores; a pair sharing a
cell counts 1/2 whatever its true order, so::

    |AUC - exact AUC| <= auc_bound = 1/2 * sum_c P_c * N_c / (P * N)

with equality to the exact AUC when the scores within each cell are tied
(discrete scores on one value per bin). The bound shrinks as bins narrow
and as the classes separate. ``None`` for a group without positives or
without negatives (sklearn raises there).

**Calibration error** is the expected calibration error (ECE) over the
bins of the score edges::

    ECE = sum_b (n_b / n) * |mean score in b - positive rate in b|

The histogram does not know the mean score in a bin, so the bin midpoint
stands in for it; each term then moves by at most half that bin's width,
and::

    |ECE - exact ECE| <= calibration_error_bound = max half-width of a non-empty bin

with equality when every score is at its bin's midpoint. Only scores within
the edges take part (``n`` counts them): under- and overflow cells have no
midpoint. ``None`` for a group with no score within the edges. It reads the
score as a probability of the positive label; for other scores (logits,
ranks) only the AUC is meaningful.

**Scoring rate** (NYC Local Law 144's variant for score-based tools, 6 RCNY
5-300: the rate at which a category scores above the full sample's median)
from the same histograms, with no extra pass over the data. The median of
all scored rows lies in one cell, ``[score_cut_low, score_cut]``; the
histogram cannot split that cell, so per group::

    scoring_rate       = rows in cells above the median's cell / scored rows
    scoring_rate_upper = rows in the median's cell or above    / scored rows

``scoring_rate`` is the exact share scoring at or above ``score_cut`` (a bin edge at
or above the median), and the share above the true median lies in
``[scoring_rate, scoring_rate_upper]``; the gap shrinks with the bins.

Between groups, as for the fairness metrics: ``auc_difference`` is the
largest minus the smallest AUC over the declared groups where it is defined
(``__other__``/``__missing__`` slots never take part), and
``max_calibration_error`` the largest calibration error among them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fedgov.stats import ScoreCounts

__all__ = [
    "auc_difference",
    "binned_auc",
    "binned_calibration_error",
    "group_score_metrics",
    "max_calibration_error",
    "scoring_rates",
]


def binned_auc(positives: Sequence[int], negatives: Sequence[int]) -> tuple[float, float] | None:
    """``(auc, bound)`` from counts over ordered score cells; None without both classes.

    ``positives[c]`` and ``negatives[c]`` count the rows of each class in cell
    ``c``, cells in increasing score order (no missing cell). Computed in
    integers, so the only rounding is the final division.
    """
    pos = [int(v) for v in positives]
    neg = [int(v) for v in negatives]
    if len(pos) != len(neg):
        raise ValueError(f"positives and negatives need the same cells ({len(pos)} vs {len(neg)})")
    n_pos, n_neg = sum(pos), sum(neg)
    if n_pos <= 0 or n_neg <= 0:
        return None
    below = 0  # negatives in lower cells
    wins = 0  # pairs in different cells where the positive is higher
    ties = 0  # pairs sharing a cell
    for p, n in zip(pos, neg, strict=True):
        wins += p * below
        ties += p * n
        below += n
    pairs = 2 * n_pos * n_neg
    return (2 * wins + ties) / pairs, ties / pairs


def binned_calibration_error(
    positives: Sequence[int], negatives: Sequence[int], edges: Sequence[float]
) -> tuple[float, float] | None:
    """``(ece, bound)`` from counts over the ``k`` bins of ``edges``; None if all empty.

    ``positives``/``negatives`` have one count per bin (no under/overflow or
    missing cell); the bin midpoint stands for the scores in it.
    """
    e = np.asarray(edges, dtype=np.float64)
    p = np.asarray(positives, dtype=np.float64)
    n = np.asarray(negatives, dtype=np.float64)
    if not (p.shape == n.shape == (e.size - 1,)):
        raise ValueError(f"need one count per bin: {e.size - 1} bins, got {p.shape} and {n.shape}")
    rows = p + n
    total = float(rows.sum())
    if total <= 0:
        return None
    mid = (e[:-1] + e[1:]) / 2
    # n_b * |mid_b - p_b / n_b| = |mid_b * n_b - p_b|: no division by an empty bin.
    ece = float(np.abs(mid * rows - p).sum() / total)
    bound = float(((e[1:] - e[:-1]) / 2)[rows > 0].max())
    return ece, bound


def group_score_metrics(scores: ScoreCounts, edges: Sequence[float]) -> dict[str, dict[str, Any]]:
    """Per group: ``scored`` (rows with a score), ``auc``, ``auc_bound``,
    ``calibration_error`` and ``calibration_error_bound`` (None where undefined)."""
    _check_cells(scores, edges)
    out: dict[str, dict[str, Any]] = {}
    for group, c in zip(scores.groups, np.asarray(scores.counts, dtype=np.int64), strict=True):
        neg, pos = c[0, :-1], c[1, :-1]  # the missing cell is last
        auc = binned_auc(pos, neg)
        ece = binned_calibration_error(pos[1:-1], neg[1:-1], edges)
        out[group] = {
            "scored": int(pos.sum() + neg.sum()),
            "auc": None if auc is None else auc[0],
            "auc_bound": None if auc is None else auc[1],
            "calibration_error": None if ece is None else ece[0],
            "calibration_error_bound": None if ece is None else ece[1],
        }
    return out


def scoring_rates(
    scores: ScoreCounts, edges: Sequence[float]
) -> tuple[float | None, float | None, dict[str, dict[str, float | None]]]:
    """``(score_cut_low, score_cut, per group {scoring_rate, scoring_rate_upper})``: the
    cell that holds the median of every scored row and each group's share above it
    (see the module docstring). A cut beyond the edges is None; without scored rows
    every rate is None."""
    _check_cells(scores, edges)
    counts = np.asarray(scores.counts, dtype=np.int64)[:, :, :-1].sum(axis=1)  # [group, cell]
    total = counts.sum(axis=0)
    scored = int(total.sum())
    if scored == 0:
        return (
            None,
            None,
            {g: {"scoring_rate": None, "scoring_rate_upper": None} for g in scores.groups},
        )
    # The first cell where the running count reaches half: the median lies in it.
    median_cell = int(np.searchsorted(np.cumsum(total), (scored + 1) // 2))
    bounds = [None, *map(float, edges), None]  # cell c spans bounds[c]..bounds[c + 1]
    out: dict[str, dict[str, float | None]] = {}
    for group, c in zip(scores.groups, counts, strict=True):
        n = int(c.sum())
        above, at = int(c[median_cell + 1 :].sum()), int(c[median_cell])
        out[group] = {
            "scoring_rate": above / n if n else None,
            "scoring_rate_upper": (above + at) / n if n else None,
        }
    return bounds[median_cell], bounds[median_cell + 1], out


def _declared(scores: ScoreCounts, edges: Sequence[float], key: str) -> list[float]:
    per_group = group_score_metrics(scores, edges)
    return [
        float(per_group[g][key])
        for g, declared in zip(scores.groups, scores.declared_mask(), strict=True)
        if declared and per_group[g][key] is not None
    ]


def auc_difference(scores: ScoreCounts, edges: Sequence[float]) -> float | None:
    """Largest minus smallest AUC over declared groups with both classes; None if none has."""
    values = _declared(scores, edges, "auc")
    return max(values) - min(values) if values else None


def max_calibration_error(scores: ScoreCounts, edges: Sequence[float]) -> float | None:
    """Largest calibration error over declared groups with a score within the edges."""
    values = _declared(scores, edges, "calibration_error")
    return max(values) if values else None


def _check_cells(scores: ScoreCounts, edges: Sequence[float]) -> None:
    if scores.n_cells != len(edges) + 2:
        raise ValueError(
            f"{scores.attribute}: score counts have {scores.n_cells} cells, but "
            f"{len(edges)} score edges make {len(edges) + 2}"
        )
