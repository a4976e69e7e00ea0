"""Everything released about a family of windows (one model version and spec), as
linear views of the silos' unknown true cells.

Unknowns: each silo's true cells per *piece*, the stretches of time between the
boundaries of its windows and of the secure-sum periods it took part in (two windows
that overlap share the rows of their common pieces). A release over a window is the sum
of its pieces; a secure sum over a period, the sum over its silos' pieces in it.

Views: exact equalities (an unguarded release's cells; a suppressed release's shown
non-zero cells and its tallies; a secure sum's released cells; the structural
equalities of every piece, :mod:`._cells`), and noisy observations (a noised cell: value
plus noise of the stated standard deviation). Non-negativity is implied everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from fedgov.privacy.audit._cells import Key, cell_items, structure, tallies
from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats

__all__ = [
    "ALL_STRUCTURE",
    "Form",
    "LinearSystem",
    "Release",
    "SecureRelease",
    "build_system",
]

ALL_STRUCTURE = frozenset({"total", "margin", "score", "fine"})


@dataclass(frozen=True)
class Release:
    """One silo's statistics over one window, as the aggregator holds them."""

    label: str
    silo: str
    family: tuple[str, str, str]  # model id, model version, spec digest
    start_ms: int
    end_ms: int
    stats: WindowStats

    @property
    def sigma(self) -> float | None:
        """Standard deviation of the noise on each count; None if not noised."""
        p = self.stats.privacy
        if p.sigma is not None:
            return p.sigma
        return math.sqrt(2.0) / p.epsilon if p.epsilon is not None else None


@dataclass(frozen=True)
class SecureRelease:
    """A released secure sum over ``silos`` for a period: exact cells, minus the withheld
    ones (keys of the cells that were not released)."""

    label: str
    silos: tuple[str, ...]
    family: tuple[str, str, str]
    start_ms: int
    end_ms: int
    stats: WindowStats
    withheld: frozenset[Key] = frozenset()
    k: int = 10


@dataclass(frozen=True)
class Form:
    """A protected quantity: a linear form over the unknowns, with where it comes from."""

    where: str  # release label, or silo + piece
    silo: str
    key: Key
    cols: tuple[int, ...]
    k: int
    kind: str  # suppressed | withheld | piece | noised
    release: Release | None = None


@dataclass
class LinearSystem:
    columns: dict[tuple[str, int, Key], int] = field(default_factory=dict)
    equalities: list[tuple[dict[int, float], float]] = field(default_factory=list)
    noisy: list[tuple[dict[int, float], float, float]] = field(default_factory=list)
    pieces: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    def col(self, silo: str, piece: int, key: Key) -> int:
        return self.columns.setdefault((silo, piece, key), len(self.columns))

    def covering(self, silo: str, start: int, end: int) -> list[int]:
        return [i for i, (a, b) in enumerate(self.pieces.get(silo, [])) if start <= a and b <= end]

    def sum_terms(self, parts: Iterable[tuple[str, int]], eq: Mapping[Key, float]) -> dict[int, float]:
        out: dict[int, float] = {}
        for silo, piece in parts:
            for key, c in eq.items():
                j = self.col(silo, piece, key)
                out[j] = out.get(j, 0.0) + c
        return out


def _pieces(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    spans = list(spans)
    cuts = sorted({t for s in spans for t in s})
    return [
        (a, b)
        for a, b in zip(cuts[:-1], cuts[1:], strict=True)
        if any(s <= a and b <= e for s, e in spans)
    ]


def build_system(
    releases: Sequence[Release],
    secure: Sequence[SecureRelease] = (),
    spec: MonitoringSpec | None = None,
    *,
    kinds: frozenset[str] = ALL_STRUCTURE,
    use_tallies: bool = True,
    default_k: int = 10,
) -> tuple[LinearSystem, list[Form]]:
    """The linear system of ``releases`` and ``secure`` sums (one family) and the
    protected forms: suppressed cells (shown as 0), withheld secure cells, noised cells,
    and the cells of pieces no single release covers exactly (window differencing)."""
    system = LinearSystem()
    spans: dict[str, list[tuple[int, int]]] = {}
    for r in releases:
        spans.setdefault(r.silo, []).append((r.start_ms, r.end_ms))
    for s in secure:
        for silo in s.silos:
            spans.setdefault(silo, []).append((s.start_ms, s.end_ms))
    system.pieces = {silo: _pieces(v) for silo, v in spans.items()}
    template = (releases[0] if releases else secure[0]).stats
    shape = list(structure(template, spec))
    for silo, pieces in system.pieces.items():
        for p in range(len(pieces)):
            for key, _ in cell_items(template):
                system.col(silo, p, key)
            for kind, (eq, rhs) in shape:
                if kind in kinds:
                    system.equalities.append((system.sum_terms([(silo, p)], eq), rhs))
    forms: list[Form] = []
    for r in releases:
        parts = [(r.silo, p) for p in system.covering(r.silo, r.start_ms, r.end_ms)]
        k = r.stats.privacy.k or default_k
        sigma = r.sigma
        for key, value in cell_items(r.stats):
            terms = system.sum_terms(parts, {key: 1.0})
            scalar = key[0] in ("rows", "outcome_missing")
            if sigma is not None:
                system.noisy.append((terms, float(value), sigma))
                forms.append(Form(r.label, r.silo, key, tuple(terms), k, "noised", r))
            elif r.stats.privacy.k is None or value > 0 or scalar:
                system.equalities.append((terms, float(value)))
            else:
                forms.append(Form(r.label, r.silo, key, tuple(terms), k, "suppressed", r))
        if sigma is None and r.stats.privacy.k is not None and use_tallies:
            for eq, rhs in tallies(r.stats):
                system.equalities.append((system.sum_terms(parts, eq), float(rhs)))
    for s in secure:
        parts = [(silo, p) for silo in s.silos for p in system.covering(silo, s.start_ms, s.end_ms)]
        for key, value in cell_items(s.stats):
            terms = system.sum_terms(parts, {key: 1.0})
            if key in s.withheld:
                forms.append(Form(s.label, "+".join(s.silos), key, tuple(terms), s.k, "withheld"))
            else:
                system.equalities.append((terms, float(value)))
    forms += _piece_forms(system, releases, template, default_k)
    return system, forms


def _piece_forms(
    system: LinearSystem, releases: Sequence[Release], template: WindowStats, k: int
) -> list[Form]:
    """Cells of a piece that no release of its silo covers alone: a window difference."""
    out: list[Form] = []
    windows = {(r.silo, r.start_ms, r.end_ms) for r in releases}
    for silo, pieces in system.pieces.items():
        if len(pieces) < 2:
            continue
        for p, (a, b) in enumerate(pieces):
            if (silo, a, b) in windows:
                continue
            for key, _ in cell_items(template):
                j = system.col(silo, p, key)
                out.append(Form(f"{silo} rows [{a}, {b})", silo, key, (j,), k, "piece"))
    return out


def equation_matrix(
    rows: Sequence[tuple[dict[int, float], float]], n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """COO triplets (row, col, value) and the right-hand sides of ``rows``."""
    r, c, v = [], [], []
    for i, (terms, _) in enumerate(rows):
        for j, a in terms.items():
            r.append(i)
            c.append(j)
            v.append(a)
    rhs = np.array([b for _, b in rows], dtype=np.float64)
    return np.array(r, dtype=np.intp), np.array(c, dtype=np.intp), np.array(v), rhs


def describe(key: Key) -> str:
    """A cell key for people: ``outcome sex*age_band F|18-29 y=1 pred=1``."""
    if key[0] in ("rows", "outcome_missing"):
        return str(key[0])
    if key[0] == "outcome":
        return f"outcome {key[1]} {key[2]} y={key[3]} pred={key[4]}"
    if key[0] == "score":
        return f"score {key[1]} {key[2]} y={key[3]} cell={key[4]}"
    return f"{key[0]} {key[1]} cell={key[2]}"

