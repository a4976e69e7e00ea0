"""Counting one batch: the compiled engine, and the numpy engine it must equal.

Two engines count a :class:`~fedgov.stats.Batch` into the same cells:

* ``numba`` (the default when numba imports): one compiled pass per column
  (:mod:`fedgov.stats._kernel`);
* ``numpy``: vectorised calls (:class:`~fedgov.stats._binning.Binner`,
  ``bincount``), the reference the compiled engine is tested against, cell
  for cell, and the fallback where numba is not installed.

``FEDGOV_STATS_ENGINE`` (``numba`` or ``numpy``) picks one, read on each
fold like ``FEDGOV_STATS_THREADS``. Either way the columns of a batch are
counted as independent tasks on the fold threads (:mod:`fedgov.stats._parallel`),
so the counts never depend on the thread count.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from functools import lru_cache, partial
from types import ModuleType
from typing import Any

import numpy as np

from fedgov.errors import ConfigError
from fedgov.spec import Feature, MonitoringSpec, NumericFeature, coarse_groups
from fedgov.stats._batch import Batch
from fedgov.stats._binning import binner
from fedgov.stats._counts import FeatureCounts, OutcomeCounts, ScoreCounts, outcome_layouts
from fedgov.stats._parallel import run_all

__all__ = ["ENGINES", "count_batch", "engine"]

ENGINES = ("numba", "numpy")
_log = logging.getLogger(__name__)

Counted = tuple[dict[str, FeatureCounts], dict[str, OutcomeCounts], dict[str, ScoreCounts], int]


@lru_cache(maxsize=1)
def _kernel() -> ModuleType | None:
    """The compiled kernels, imported on first use (numba takes ~0.5 s to import)."""
    try:
        from fedgov.stats import _kernel as kernel
    except ImportError as exc:  # not installed, or built for another numpy
        _log.warning("numba does not import (%s): statistics use the numpy engine", exc)
        return None
    return kernel


def engine() -> str:
    """``FEDGOV_STATS_ENGINE``, else ``numba`` when it imports, else ``numpy``."""
    raw = os.environ.get("FEDGOV_STATS_ENGINE", "").strip().lower()
    if raw and raw not in ENGINES:
        raise ConfigError(
            f"FEDGOV_STATS_ENGINE must be one of {', '.join(ENGINES)}, got {raw!r}; "
            "unset it to use numba when it is installed"
        )
    if raw == "numpy":
        return "numpy"
    if _kernel() is not None:
        return "numba"
    if raw == "numba":
        raise ConfigError(
            "FEDGOV_STATS_ENGINE=numba but numba does not import; install it "
            "(pip install numba) or set FEDGOV_STATS_ENGINE=numpy"
        )
    return "numpy"


def count_batch(spec: MonitoringSpec, batch: Batch) -> Counted:
    """Feature counts, outcome and score tables of ``batch``, and the rows with label and
    prediction known; each column a task on the fold threads."""
    kernel = _kernel() if engine() == "numba" else None
    # The outcome tables (the longest task, several columns a row) first: taken last,
    # one thread counted them while the other waited (2-8% of a fold, measured).
    tasks: list[Callable[[], Any]] = [partial(_outcome_counts, spec, batch, kernel)]
    tasks += [partial(_feature_counts, f, batch, kernel) for f in spec.features]
    (outcomes, scores, known), *counted = run_all(tasks, values=batch.n_rows * len(tasks))
    features = {f.name: c for f, c in zip(spec.features, counted, strict=True)}
    return features, outcomes, scores, known


def _feature_counts(f: Feature, batch: Batch, kernel: ModuleType | None) -> FeatureCounts:
    if isinstance(f, NumericFeature):
        x = batch.numeric[f.name]
        b = binner(f.fine_edges or f.edges)
        counts = b.counts(x) if kernel is None else kernel.numeric_counts(b, x)
        if not f.fine_edges:
            return FeatureCounts(f.name, f.kind, counts)
        # One pass over the rows, at the fine resolution; the coarse cells
        # are sums of fine ones (the spec guarantees coarse edges are fine edges).
        coarse = np.add.reduceat(counts, _coarse_starts(f))
        return FeatureCounts(f.name, f.kind, coarse, counts)
    if kernel is not None:
        return FeatureCounts(
            f.name, f.kind, kernel.code_counts(batch.codes[f.name], f.n_cells, f.name)
        )
    counts = np.bincount(batch.codes[f.name], minlength=f.n_cells)
    if counts.size != f.n_cells:
        raise ValueError(f"batch codes of '{f.name}' fall outside its {f.n_cells} cells")
    return FeatureCounts(f.name, f.kind, counts)


@lru_cache(maxsize=1024)
def _coarse_starts(f: NumericFeature) -> np.ndarray:
    return np.array(coarse_groups(f), dtype=np.intp)


def _check_score(spec: MonitoringSpec, batch: Batch) -> None:
    if spec.score and batch.score is None:
        raise ValueError(
            f"the spec has a score column '{spec.score}' but the batch has no scores; "
            "encode it with encode_columns(spec, ...)"
        )


def _layout_arrays(
    spec: MonitoringSpec,
) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, list[int]]:
    """For the kernel: the attributes, their slot counts, each layout's attribute
    indices (``-1`` padded) and group counts."""
    attrs = tuple(a.name for a in spec.sensitive)
    radix = np.array([len(a.groups) + 2 for a in spec.sensitive], dtype=np.int64)
    layouts = list(outcome_layouts(spec).values())
    width = max((len(names) for names, _ in layouts), default=1)
    members = np.full((len(layouts), width), -1, dtype=np.int64)
    for j, (names, _) in enumerate(layouts):
        members[j, : len(names)] = [attrs.index(a) for a in names]
    return attrs, radix, members, [len(groups) for _, groups in layouts]


def _outcome_counts(
    spec: MonitoringSpec, batch: Batch, kernel: ModuleType | None
) -> tuple[dict[str, OutcomeCounts], dict[str, ScoreCounts], int]:
    """Confusion counts and score histograms per outcome layout, and how many
    rows had both label and prediction (the rows both tables count)."""
    _check_score(spec, batch)
    if kernel is None:
        return _outcome_counts_numpy(spec, batch)
    attrs, radix, members, n_groups = _layout_arrays(spec)
    codes = [batch.codes[a] for a in attrs]
    if not codes:  # no attribute: a slot of one for the kernel's single signature
        codes, radix = [np.zeros(batch.n_rows, dtype=np.int64)], np.ones(1, dtype=np.int64)
    tables, hists, known = kernel.outcome_tables(
        batch.y_true,
        batch.y_pred,
        codes,
        radix,
        members,
        n_groups,
        batch.score if spec.score else None,
        binner(spec.score_edges) if spec.score else None,
    )
    layouts = outcome_layouts(spec)
    outcomes = {
        name: OutcomeCounts(name, groups, t)
        for (name, (_, groups)), t in zip(layouts.items(), tables, strict=True)
    }
    scores = (
        {
            name: ScoreCounts(name, groups, h)
            for (name, (_, groups)), h in zip(layouts.items(), hists, strict=True)
        }
        if spec.score
        else {}
    )
    return outcomes, scores, known


def _outcome_counts_numpy(
    spec: MonitoringSpec, batch: Batch
) -> tuple[dict[str, OutcomeCounts], dict[str, ScoreCounts], int]:
    """The numpy engine's :func:`_outcome_counts`."""
    yt = np.asarray(batch.y_true)
    yp = np.asarray(batch.y_pred)
    known = (yt >= 0) & (yp >= 0)
    n_known = int(np.count_nonzero(known))
    yt_known = yt[known].astype(np.int64)
    outcome = (yt_known << 1) | yp[known].astype(np.int64)  # 0..3
    outcomes: dict[str, OutcomeCounts] = {}
    # Score histograms count the same rows as the confusion counts (label and
    # prediction known), so the two tables agree on every (group, y_true) total.
    scores: dict[str, ScoreCounts] = {}
    cells: np.ndarray | None = None
    n_cells = spec.n_score_cells
    if spec.score:
        assert batch.score is not None  # _check_score
        cells = binner(spec.score_edges).cells(np.asarray(batch.score, dtype=np.float64)[known])
    n_slots = {a.name: len(a.groups) + 2 for a in spec.sensitive}
    for name, (attrs, groups) in outcome_layouts(spec).items():
        group = np.zeros(n_known, dtype=np.int64)
        for a in attrs:  # mixed radix: first attribute varies slowest
            group = group * n_slots[a] + batch.codes[a][known]
        flat = np.bincount(group * 4 + outcome, minlength=len(groups) * 4)
        if flat.size != len(groups) * 4:
            raise ValueError(f"batch codes of '{name}' fall outside its {len(groups)} groups")
        outcomes[name] = OutcomeCounts(name, groups, flat.reshape(len(groups), 2, 2))
        if cells is not None:
            n = len(groups) * 2 * n_cells
            flat = np.bincount(((group << 1) | yt_known) * n_cells + cells, minlength=n)
            scores[name] = ScoreCounts(name, groups, flat.reshape(len(groups), 2, n_cells))
    return outcomes, scores, n_known
