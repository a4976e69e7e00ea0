"""Privacy guards applied to window statistics before they leave a silo.

Counts over shared cells carry no row values, but a small count can still
single a person out ("the one applicant over 90 in this branch"). Two
guards, each a pure function ``WindowStats -> WindowStats``:

:func:`suppress_small_cells` - against small-cell re-identification.
    Every cell counting ``1 .. k-1`` rows is set to 0 (feature cells, fine
    cells, outcome cells and score-histogram cells; 0 is not a small cell, it
    reveals nothing about a person). The rows taken out are tallied per count vector in
    ``suppressed``, so ``sum(cells) + suppressed == rows`` still holds and
    the aggregator can check it.

    Because those totals are public, a lone suppressed cell could be
    recovered by subtraction. So could a suppressed fine cell from its coarse
    cell (coarse counts are sums of fine ones), and a suppressed intersection
    cell from the outcome table of one of its attributes (a margin of the
    intersection), and a suppressed score cell from the confusion counts (the
    score cells of a group and label add up to the two confusion cells of
    that group and label, and the other way round) or from the score table
    of one of its attributes. *Complementary suppression* closes these: for every such
    known total, if the cells suppressed under it add up to ``1 .. k-1``
    rows, the smallest cell still shown under it is suppressed too, until
    none does. Not covered: a sensitive attribute that is also a categorical
    feature (derive_spec never makes one), and differencing of reports over
    overlapping windows. Use noise for a formal guarantee.

    Cost: each primary suppression moves a cell by less than ``k``, so a
    histogram of ``C`` cells over ``n`` rows moves by at most ``k * C / n``
    in total variation, and KS by at most the suppressed share ``s / n``
    (added to ``ks_bound`` by :func:`fedgov.metrics.compute_metrics`). A
    complementary suppression can remove a large cell; its cost is in
    ``suppressed`` too. Fine cells (hundreds per feature) are small unless
    the window is large: with ``k = 10`` and 512 fine bins, windows under
    ~50k rows lose much of their fine detail, and the KS bound says so.

:func:`add_laplace_noise` - differential privacy of the counts.
    Adds Laplace noise of scale ``1 / epsilon`` to every count, rounds and
    clips at 0. Adding or removing one row changes each histogram (a
    feature's coarse cells, its fine cells, an outcome table, a score
    table, and the scalars ``rows`` and ``outcome_missing``) by 1 in one cell, so each
    release is ``epsilon``-differentially private; by basic composition the
    whole report is ``epsilon * H``-DP for ``H`` releases
    (:func:`total_epsilon`). Rounding and clipping are post-processing and
    keep the guarantee. Cost: each count is off by ``1 / epsilon`` on
    average, zero cells are biased up by clipping, coarse and fine counts no
    longer agree, and ``sum(cells) + suppressed == rows`` no longer holds,
    so the aggregator skips that check for noised statistics.

Order: noise first, then suppression. Suppression is not differentially
private (a cell crossing ``k`` changes by ``k``), but suppressing noised
counts is post-processing; :func:`add_laplace_noise` refuses suppressed
statistics. With noise applied, complementary suppression is skipped: the
subtraction it guards against only recovers noise.

Merged statistics equal pooled ones only when neither guard was applied;
the aggregator's figures are then approximations, and the ``privacy``
field of the statistics says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from fedgov.privacy._gaussian import with_noise
from fedgov.privacy._margins import margin_members
from fedgov.stats import FeatureCounts, OutcomeCounts, Privacy, ScoreCounts, WindowStats

__all__ = ["add_laplace_noise", "suppress_small_cells", "total_epsilon"]


def suppress_small_cells(
    stats: WindowStats, k: int = 10, *, complementary: bool = True
) -> WindowStats:
    """``stats`` with every cell of ``1 .. k-1`` rows set to 0 (see module docstring).

    ``complementary=False`` skips complementary suppression: cheaper in
    accuracy, but a lone suppressed cell can then be recovered from totals.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    if stats.privacy.k is not None:
        raise ValueError(f"these statistics were already suppressed (k={stats.privacy.k})")
    exact = complementary and not stats.privacy.noised
    features: dict[str, FeatureCounts] = {}
    for name, fc in stats.features.items():
        coarse = _suppress(fc.counts, k, [np.arange(fc.counts.size)] if exact else [])
        fine = fc.fine
        if fine.size:
            fine = _suppress(fine, k, _fine_lines(fc) if exact else [])
        features[name] = FeatureCounts(
            name,
            fc.kind,
            coarse,
            fine,
            fc.suppressed + int(fc.counts.sum() - coarse.sum()),
            fc.fine_suppressed + int(fc.fine.sum() - fine.sum()),
        )
    outcomes: dict[str, OutcomeCounts] = {}
    for name, oc in stats.outcomes.items():
        flat = oc.counts.reshape(-1)
        lines = _outcome_lines(oc, stats.outcomes, bool(stats.scores)) if exact else []
        kept = _suppress(flat, k, lines).reshape(oc.counts.shape)
        outcomes[name] = OutcomeCounts(
            name, oc.groups, kept, oc.suppressed + int(flat.sum() - kept.sum())
        )
    scores: dict[str, ScoreCounts] = {}
    for name, sc in stats.scores.items():
        flat = sc.counts.reshape(-1)
        lines = _score_lines(sc, stats.scores) if exact else []
        kept = _suppress(flat, k, lines).reshape(sc.counts.shape)
        scores[name] = ScoreCounts(
            name, sc.groups, kept, sc.suppressed + int(flat.sum() - kept.sum())
        )
    return WindowStats(
        spec_digest=stats.spec_digest,
        rows=stats.rows,
        features=features,
        outcomes=outcomes,
        outcome_missing=stats.outcome_missing,
        privacy=dataclasses.replace(stats.privacy, k=int(k)),
        scores=scores,
    )


def add_laplace_noise(
    stats: WindowStats, epsilon: float, *, seed: int | np.random.SeedSequence | None = None
) -> WindowStats:
    """``stats`` with Laplace(``1 / epsilon``) noise on every count, rounded, clipped at 0.

    The same ``seed`` gives the same noise (for tests and replays); leave it
    ``None`` in production. numpy's generator is not a cryptographic one and
    the noise is floating-point (Mironov 2012): adequate against a curious
    aggregator, not a hardened DP library.
    """
    eps = float(epsilon)
    if not 0.0 < eps < float("inf"):
        raise ValueError(f"epsilon must be a finite number > 0, got {epsilon!r}")
    if stats.privacy.k is not None:
        raise ValueError(
            "add noise before suppressing small cells: suppression is not differentially "
            "private, and noise added after it does not cover a cell that crossed k"
        )
    if stats.privacy.noised:
        raise ValueError(f"these statistics were already noised (epsilon={stats.privacy.epsilon})")
    rng = np.random.default_rng(seed)
    scale = 1.0 / eps
    return with_noise(
        stats,
        lambda counts: counts + rng.laplace(0.0, scale, counts.shape),
        Privacy(None, eps),
    )


def total_epsilon(stats: WindowStats) -> float | None:
    """The whole report's epsilon under basic composition; None if not noised.

    One release per count vector (coarse, fine, each outcome table, each
    score table) plus ``rows`` and ``outcome_missing``.
    """
    if stats.privacy.epsilon is None:
        return None
    releases = 2 + len(stats.outcomes) + len(stats.scores)
    releases += sum(1 + (fc.fine.size > 0) for fc in stats.features.values())
    return stats.privacy.epsilon * releases


def _suppress(counts: np.ndarray, k: int, lines: list[np.ndarray]) -> np.ndarray:
    """Primary suppression, then complementary suppression along each line.

    A *line* is a set of cells whose total a reader knows; afterwards the
    cells suppressed in every line add up to 0 or to at least ``k`` rows.
    Each pass suppresses one more cell or stops, so this ends.
    """
    original = np.asarray(counts, dtype=np.int64).reshape(-1)
    out: np.ndarray = original.copy()
    out[(out > 0) & (out < k)] = 0
    changed = bool(lines)
    while changed:
        changed = False
        for line in lines:
            gone = int(original[line].sum() - out[line].sum())
            if 0 < gone < k:
                shown = line[out[line] > 0]
                if shown.size:
                    out[shown[np.argmin(out[shown])]] = 0
                    changed = True
    return out


def _fine_lines(fc: FeatureCounts) -> list[np.ndarray]:
    """The whole fine vector, and the fine cells under each coarse cell.

    Coarse cell ``i`` is a run of fine cells; where the runs start is found
    from prefix sums (the first fine prefix reaching the coarse prefix).
    Only zero cells can sit ambiguously at a boundary, and they change no
    line's suppressed total.
    """
    fine_prefix = np.concatenate(([0], np.cumsum(fc.fine)))
    coarse_prefix = np.concatenate(([0], np.cumsum(fc.counts)))
    starts = np.searchsorted(fine_prefix, coarse_prefix, side="left")
    if not np.array_equal(fine_prefix[np.minimum(starts, fc.fine.size)], coarse_prefix):
        raise ValueError(f"{fc.name}: fine counts do not add up to the coarse counts")
    starts[-1] = fc.fine.size
    lines = [np.arange(fc.fine.size)]
    lines += [np.arange(a, b) for a, b in zip(starts[:-1], starts[1:], strict=True) if b > a]
    return lines


def _outcome_lines(
    oc: OutcomeCounts, tables: Mapping[str, OutcomeCounts], scored: bool = False
) -> list[np.ndarray]:
    """The whole table, and for every other table over a subset of its attributes,
    the cells that add up to each of that table's cells (its margins). With
    score tables (``scored``), also the two cells of each (group, y_true): the
    score histogram of that group and label shows their total."""
    n = len(oc.groups)
    lines = [np.arange(n * 4)]
    if scored:
        lines += [np.array([2 * gy, 2 * gy + 1]) for gy in range(n * 2)]
    for rows in margin_members(oc.attribute, oc.groups, tables):
        base = rows * 4
        lines += [base + cell for cell in range(4)]
    return lines


def _score_lines(sc: ScoreCounts, tables: Mapping[str, ScoreCounts]) -> list[np.ndarray]:
    """The whole table; the score cells of each (group, y_true), whose total the
    outcome table of the same attribute shows; and, for every other score table
    over a subset of its attributes, the cells that add up to each of its cells."""
    n_groups, _, n_cells = sc.counts.shape
    flat = np.arange(n_groups * 2 * n_cells).reshape(n_groups, 2, n_cells)
    lines = [flat.reshape(-1)]
    lines += [flat[g, y] for g in range(n_groups) for y in range(2)]
    for rows in margin_members(sc.attribute, sc.groups, tables):
        cells = flat[rows]  # (members, 2, n_cells)
        lines += [cells[:, y, c] for y in range(2) for c in range(n_cells)]
    return lines
