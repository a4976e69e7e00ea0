"""What an attack found about one protected cell, and how findings are judged."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from fedgov.privacy.audit._cells import Key, cell_items
from fedgov.privacy.audit._system import Form, LinearSystem, describe
from fedgov.stats import WindowStats

__all__ = ["Finding", "Truth", "interval_findings"]

TOLERANCE = 0.02
"""Relative slack on the noisy criterion: ``sd < threshold * (1 - TOLERANCE)``."""


@dataclass(frozen=True)
class Finding:
    attack: str
    where: str
    cell: str
    estimate: float
    error: float  # interval width (exact releases) or standard deviation (noised)
    error_kind: str  # "width" | "sd" | "exact"
    protection: float  # k, or the sd the release's budget states
    recovered: bool
    low: float | None = None
    high: float | None = None
    truth: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and math.isinf(v) else v)
                for k, v in asdict(self).items()}


class Truth:
    """The silos' unguarded statistics per window (test mode): ``(silo, start, end)``."""

    def __init__(self, windows: Mapping[tuple[str, int, int], WindowStats]) -> None:
        self._cells = {w: dict(cell_items(s)) for w, s in windows.items()}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Truth:
        return cls(
            {
                (str(w["silo"]), int(w["start_ms"]), int(w["end_ms"])): WindowStats.from_dict(
                    w["stats"]
                )
                for w in doc["windows"]
            }
        )

    def window(self, silo: str, start: int, end: int, key: Key) -> float | None:
        cells = self._cells.get((silo, start, end))
        if cells is not None:
            return float(cells[key])
        # a piece [start, end) of nested windows: (s, end) minus (s, start)
        for s, a, b in self._cells:
            if s == silo and b == end and (s, a, start) in self._cells:
                return float(self._cells[(s, a, end)][key] - self._cells[(s, a, start)][key])
        return None

    def of(self, form: Form, system: LinearSystem) -> float | None:
        if form.release is not None:
            r = form.release
            return self.window(r.silo, r.start_ms, r.end_ms, form.key)
        total = 0.0
        spans = {(silo, system.pieces[silo][p]) for (silo, p, _), j in system.columns.items()
                 if j in form.cols}
        for silo, (a, b) in spans:
            v = self.window(silo, a, b, form.key)
            if v is None:
                return None
            total += v
        return total


def interval_findings(
    attack: str,
    system: LinearSystem,
    forms: Sequence[Form],
    bounds: Sequence[tuple[float, float]],
    truth: Truth | None,
) -> list[Finding]:
    """A cell is recovered when its interval is narrower than ``k`` and says it is
    small (``low < k``) and not empty (``high > 0``); a cell pinned to 0 reveals no one."""
    out = []
    for form, (lo, hi) in zip(forms, bounds, strict=True):
        width = hi - lo
        recovered = width < form.k and lo < form.k and hi > 0
        out.append(
            Finding(
                attack,
                form.where,
                describe(form.key),
                (lo + hi) / 2 if math.isfinite(hi) else lo,
                width,
                "width",
                float(form.k),
                recovered,
                lo,
                hi,
                truth.of(form, system) if truth else None,
            )
        )
    return out
