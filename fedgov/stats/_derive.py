"""Derive a monitoring spec from reference data.

The spec fixes the cells every silo counts over, so it is derived once, from
the reference (training or validation) data, and then shared. Numeric bin
edges are reference quantiles, so each bin holds about the same share of
the reference rows: PSI and chi-square are then well conditioned (no
near-empty reference bins) without hand-tuned edges.

Numeric features also get *fine* edges, ``fine_bins`` reference quantiles
(512 by default) merged with the coarse edges. KS and Wasserstein-1 are
computed over them, and their error bounds shrink with the largest fine-bin
mass, about ``1 / fine_bins`` for data like the reference. Containing the
coarse edges lets one pass at the fine resolution give both count vectors.

The label and prediction columns get their *declared values*: the values seen
in the reference, and the positive label; a window holding another value is
refused rather than counted as a negative (see :mod:`fedgov.stats._outcomes`).

A score column gets equal-width score edges (``score_bins``, 20 by default):
over ``[0, 1]`` when the reference scores lie within it (probabilities, the
usual case, giving the spec's default edges), else over the reference
scores' range. Equal width, not quantiles, because the calibration error
reads each bin's midpoint, and its error bound is half the widest bin.

The spec leaves the silo that derives it (it is stored at the aggregator and
shared with every silo), so it protects the reference rows it is made of:

- *Outer edges* of a numeric feature are rounded outward, on a grid of two
  significant digits of the reference range (step ``10^(floor(log10(range)) - 1)``),
  strictly beyond the reference minimum and maximum: no edge is the value of the
  one person who holds an extreme (the top income is known only to lie within
  about a tenth of the range). Fine edges read none of the ``TAIL_ROWS`` (10)
  smallest or largest values: no quantile level that interpolates one of them,
  and no one-value cell for a value fewer than 10 rows hold.
- *Reference counts* get discrete Gaussian noise for ``reference_rho``-zCDP
  (:data:`DEFAULT_REFERENCE_RHO`, 0.5; ``fedgov spec --reference-rho``): each
  feature's finest counts (its fine cells when it has them) get N_Z(0, sigma^2)
  with ``sigma = sqrt(F / (2 rho))`` for ``F`` features (one reference row is in
  one finest cell of each feature: L2 sensitivity ``sqrt(F)``), clipped at 0;
  the coarse counts are the sums of the noised fine ones (post-processing). The
  spec states ``reference_privacy = {"rho", "sigma"}``. The noise is drawn once,
  at derivation: a saved spec, and so its digest, is fixed. ``reference_rho=None``
  keeps the exact counts, for a reference that is public anyway.

Not covered: the inner edges are still reference quantiles (order statistics
or interpolations between two of them) and the category and group lists are the
observed values, so a rare category's existence shows; neither is noised.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fedgov.errors import DataError
from fedgov.spec import (
    DEFAULT_SCORE_BINS,
    CategoricalFeature,
    Feature,
    MonitoringSpec,
    NumericFeature,
    SensitiveAttribute,
    coarse_groups,
    outcome_value_matches,
    plain_number,
)
from fedgov.stats._batch import _as_array, _float, _keys, encode_columns
from fedgov.stats._noise import discrete_gaussian, generator
from fedgov.stats._window import WindowStats

__all__ = ["DEFAULT_REFERENCE_RHO", "derive_spec", "with_reference"]

#: zCDP of a derived spec's reference counts. sigma = sqrt(features / (2 rho)): the
#: demo's credit spec (7 features) gets sigma = sqrt(7) ~ 2.6 rows per count.
DEFAULT_REFERENCE_RHO = 0.5

#: Fine edges stay clear of this many reference rows at each end (see _fine_edges).
TAIL_ROWS = 10


def derive_spec(
    columns: Mapping[str, Any],
    *,
    model_id: str,
    model_version: str,
    label: str,
    prediction: str,
    sensitive: Sequence[str],
    intersections: Sequence[Sequence[str]] = (),
    score: str | None = None,
    positive_label: str = "1",
    categorical: Sequence[str] = (),
    bins: int = 10,
    fine_bins: int = 512,
    max_categories: int = 100,
    score_bins: int = DEFAULT_SCORE_BINS,
    reference_rho: float | None = DEFAULT_REFERENCE_RHO,
) -> MonitoringSpec:
    """A spec whose features are every column but label, prediction, score and sensitive.

    Numeric columns get quantile edges (a constant column gets one bin
    ``[v - 0.5, v + 0.5]``); non-numeric columns and those named in
    ``categorical`` get their observed values, sorted as strings; sensitive
    attributes get their observed groups. ``fine_bins=0`` leaves out fine
    edges. ``reference`` and ``reference_fine`` hold the counts of
    ``columns`` over the derived cells. A ``score`` column gets
    ``score_bins`` equal-width score edges (see the module docstring). The
    label and prediction values are the observed ones, with the positive label
    (at most ``max_categories`` of each).

    The spec leaves the silo that derives it, so it protects the reference rows:
    numeric outer edges are rounded outward (never a reference minimum or
    maximum), and the reference counts (coarse and fine) get discrete Gaussian
    noise for ``reference_rho``-zCDP, with the sensitivity of all of them
    together (a reference row is in one coarse and one fine cell of each
    feature), recorded in ``reference_privacy``. The noise is drawn once, here:
    the saved spec, hence its digest, is then fixed. ``reference_rho=None``
    keeps the exact counts (a reference that is not personal data).
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    if score_bins < 1:
        raise ValueError(f"score_bins must be >= 1, got {score_bins}")
    if fine_bins < 0:
        raise ValueError(f"fine_bins must be >= 0, got {fine_bins}")
    wanted = [label, prediction, *sensitive, *([score] if score else [])]
    absent = [c for c in (*wanted, *categorical) if c not in columns]
    if absent:
        raise DataError(f"reference data lacks column(s) {absent}; present: {sorted(columns)}")
    score_edges = _score_edges(score, columns[score], score_bins) if score else ()
    skip = set(wanted)
    forced = set(categorical)
    features: list[Feature] = []
    for name, values in columns.items():
        if name in skip:
            continue
        if name not in forced and _is_numeric(values):
            x = _float(values, name)
            edges = _edges(name, x, bins)
            fine = _fine_edges(x, edges, fine_bins) if fine_bins else ()
            features.append(NumericFeature(name, edges, fine))
        else:
            cats = _observed(name, values)
            if len(cats) > max_categories:
                raise DataError(
                    f"column '{name}' has {len(cats)} distinct values, more than "
                    f"max_categories={max_categories}; bin it into fewer values, drop it, "
                    "or raise the limit"
                )
            features.append(CategoricalFeature(name, cats))
    spec = MonitoringSpec(
        model_id=model_id,
        model_version=model_version,
        label=label,
        prediction=prediction,
        features=tuple(features),
        sensitive=tuple(SensitiveAttribute(a, _observed(a, columns[a])) for a in sensitive),
        intersections=tuple(tuple(i) for i in intersections),
        score=score,
        positive_label=positive_label,
        score_edges=score_edges,
        label_values=_outcome_values(label, columns[label], positive_label, max_categories),
        prediction_values=_outcome_values(
            prediction, columns[prediction], positive_label, max_categories
        ),
    )
    stats = WindowStats.zero(spec).fold(spec, encode_columns(spec, columns))
    spec = with_reference(spec, stats)
    return spec if reference_rho is None else _noised_reference(spec, reference_rho)


def _noised_reference(spec: MonitoringSpec, rho: float) -> MonitoringSpec:
    """Discrete Gaussian noise on each feature's finest reference counts (its fine
    cells when it has them), clipped at 0; coarse counts are then the sums of the
    noised fine ones (post-processing, and the spec's check that they agree holds).
    One reference row is in one finest cell per feature: L2 sensitivity
    ``sqrt(features)``."""
    if not 0.0 < float(rho) < math.inf:
        raise ValueError(f"reference_rho must be a finite number > 0, got {rho!r}")
    sigma = math.sqrt(len(spec.reference) / (2.0 * float(rho)))
    rng = generator(None)

    def noisy(counts: tuple[int, ...]) -> np.ndarray:
        drawn = np.asarray(counts, dtype=np.int64) + discrete_gaussian(sigma, len(counts), rng)
        clipped: np.ndarray = np.clip(drawn, 0, None)
        return clipped

    reference: dict[str, tuple[int, ...]] = {}
    fine: dict[str, tuple[int, ...]] = {}
    for f in spec.features:
        if f.name in spec.reference_fine:
            cells = noisy(spec.reference_fine[f.name])
            fine[f.name] = tuple(int(v) for v in cells)
            assert isinstance(f, NumericFeature)
            coarse = np.add.reduceat(cells, np.array(coarse_groups(f), dtype=np.intp))
            reference[f.name] = tuple(int(v) for v in coarse)
        elif f.name in spec.reference:
            reference[f.name] = tuple(int(v) for v in noisy(spec.reference[f.name]))
    return dataclasses.replace(
        spec,
        reference=reference,
        reference_fine=fine,
        reference_privacy={"rho": float(rho), "sigma": sigma},
    )


def with_reference(spec: MonitoringSpec, stats: WindowStats) -> MonitoringSpec:
    """``spec`` with its reference profile replaced by the exact counts of ``stats``
    (folded under ``spec``): drift is then measured against those rows. The
    result records no ``reference_privacy``: its counts are not noised, so it is
    for local use (``fedgov stats --reference``), not to be shared."""
    if stats.spec_digest != spec.digest:
        raise ValueError("with_reference: the statistics were not made under this spec")
    reference = {k: tuple(int(c) for c in v.counts) for k, v in stats.features.items()}
    reference_fine = {
        k: tuple(int(c) for c in v.fine) for k, v in stats.features.items() if v.fine.size
    }
    return dataclasses.replace(
        spec, reference=reference, reference_fine=reference_fine, reference_privacy={}
    )


def _score_edges(name: str, values: Any, bins: int) -> tuple[float, ...]:
    """``bins`` equal-width edges over [0, 1], or over the scores' range if they leave it."""
    x = _float(values, name)
    finite = x[np.isfinite(x)]
    lo, hi = 0.0, 1.0
    if finite.size and (finite.min() < 0.0 or finite.max() > 1.0):
        lo, hi = float(finite.min()), float(finite.max())
        if hi <= lo:  # one distinct score outside [0, 1]: a unit bin around it
            lo, hi = lo - 0.5, hi + 0.5
    # i / bins over [0, 1] keeps each edge the float nearest its decimal (0.15, not
    # 0.15000000000000002), so default-sized specs carry exactly DEFAULT_SCORE_EDGES.
    edges = tuple(lo + (hi - lo) * (i / bins) for i in range(bins + 1))
    if len(set(edges)) != len(edges):
        raise DataError(
            f"score column '{name}': its range [{lo}, {hi}] is too narrow for {bins} bins"
        )
    return edges


def _is_numeric(values: Any) -> bool:
    """Numbers (with None/NaN gaps) are numeric; bools and strings are not."""
    arr = _as_array(values)
    if arr.dtype.kind in "iuf":
        return True
    if arr.dtype.kind != "O":
        return False
    seen = False
    for v in arr.tolist():
        if isinstance(v, bool) or not isinstance(v, (int, float, type(None))):
            return False
        seen = seen or v is not None
    return seen


def _edges(name: str, x: np.ndarray, bins: int) -> tuple[float, ...]:
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        raise DataError(
            f"column '{name}' has no finite value in the reference data (all missing or "
            "infinite); drop it, or list it in `categorical` to monitor its missing rate"
        )
    edges = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)))
    if edges.size < 2:  # constant column: one bin around the value
        v = float(edges[0])
        lo, hi = v - 0.5, v + 0.5
        # Far from zero, +-0.5 is below float resolution: use the neighbours.
        lo = lo if lo < v else float(np.nextafter(v, -np.inf))
        hi = hi if hi > v else float(np.nextafter(v, np.inf))
        return (lo, hi)
    low, high = _outward(float(edges[0]), float(edges[-1]))
    return (low, *(float(e) for e in edges[1:-1]), high)


def _outward(lo: float, hi: float) -> tuple[float, float]:
    """The outer edges for a column whose reference values span ``[lo, hi]``: rounded
    outward to a grid of two significant digits of the span, strictly beyond both
    extremes, so no edge is one person's minimum or maximum (it is known only to
    within about a tenth of the span)."""
    step = 10.0 ** (math.floor(math.log10(hi - lo)) - 1)
    low = math.floor(lo / step) * step
    high = math.ceil(hi / step) * step
    low, high = float(f"{low:.12g}"), float(f"{high:.12g}")
    low = low if low < lo else float(f"{low - step:.12g}")
    high = high if high > hi else float(f"{high + step:.12g}")
    return low, high


def _fine_edges(x: np.ndarray, edges: tuple[float, ...], fine_bins: int) -> tuple[float, ...]:
    """Reference quantiles at ``fine_bins + 1`` levels, every coarse edge, and a
    one-value cell ``[v, nextafter(v))`` around each *atom*.

    An atom is a value holding at least one fine bin's share of the reference
    (integer codes, a zero-inflated amount, a cap). Alone in its cell, its
    mass sits at a known point, so KS and Wasserstein lose nothing to it
    (:mod:`fedgov.metrics.drift`); sharing a cell, it would widen the KS bound
    by its whole share. The last edge is left alone: the last bin is closed.

    No fine edge reads the :data:`TAIL_ROWS` smallest or largest reference values:
    quantile levels whose interpolation would use one of them are dropped (two such
    edges solve for the two values they interpolate), and an atom holds at least
    ``TAIL_ROWS`` rows. The coarse outer edges (rounded outward) bound the tails.
    """
    finite = x[np.isfinite(x)]
    n = finite.size
    levels = np.linspace(0.0, 1.0, fine_bins + 1)[1:-1]
    position = levels * (n - 1)  # np.quantile interpolates x[floor(p)] and x[ceil(p)]
    levels = levels[(np.floor(position) >= TAIL_ROWS) & (np.ceil(position) < n - TAIL_ROWS)]
    quantiles = np.quantile(finite, levels) if levels.size else np.empty(0)
    values, counts = np.unique(finite, return_counts=True)
    common = (counts * fine_bins >= n) & (counts >= TAIL_ROWS)
    atoms = values[common & (values < edges[-1])]
    fine = np.union1d(
        np.concatenate([quantiles, atoms, np.nextafter(atoms, np.inf)]),
        np.asarray(edges, dtype=np.float64),
    )
    # A constant column's coarse edges straddle its value; so must the fine ones.
    fine = fine[(fine >= edges[0]) & (fine <= edges[-1])]
    return tuple(float(e) for e in fine)


def _outcome_values(
    name: str, values: Any, positive_label: str, max_values: int
) -> tuple[str, ...]:
    """The distinct values of an outcome column, with the positive label added if
    no value is it; numbers first, by value, then other values as strings."""
    _, _, keys = _keys(values)
    present = {k for k in keys if k is not None}
    if len(present) > max_values:
        raise DataError(
            f"column '{name}' has {len(present)} distinct values in the reference data, more "
            f"than max_categories={max_values}; a label or prediction holds classes (scores "
            "go in the score column)"
        )
    if not any(outcome_value_matches(positive_label, v) for v in present):
        present.add(positive_label)

    def order(v: str) -> tuple[int, float, str]:
        n = plain_number(v)
        return (0, n, v) if n is not None else (1, 0.0, v)

    return tuple(sorted(present, key=order))


def _observed(name: str, values: Any) -> tuple[str, ...]:
    _, _, keys = _keys(values)
    present = sorted({k for k in keys if k is not None})
    if not present:
        raise DataError(
            f"column '{name}' has no non-missing value in the reference data; "
            "its categories cannot be derived"
        )
    return tuple(present)
