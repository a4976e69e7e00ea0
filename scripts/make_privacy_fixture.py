"""Regenerate tests/fixtures/privacy/: reports made the way the agent made them before
issue 14 (k=10 small-cell suppression, complementary suppression off, no noise), for
``fedgov privacy audit`` to attack.

Deterministic (fixed seed, fixed window times). Three silos A, B, C; the data set has
the small groups the issue names:

- silo A's ``sex*age_band`` cell ``F|18-29`` holds 3 rows, confusion [TN, FP, FN, TP] =
  [0, 1, 0, 2]; the other cells of the ``F`` margin are all >= 10, so ``F - F|30-49 -
  F|50+`` gives it back exactly;
- ``race`` has six groups, two of them under 40 rows in total (``native`` 31,
  ``pacific`` 11), small in every silo;
- ``income`` is numeric, one person in silo A holds the maximum (483270);
- ``score`` is a probability, so every group has score histograms.

Silo A sends two reports over windows that share their start: rows 0..199 and rows
0..211 (12 more rows, two of them ``pacific``). The spec is derived from the pooled
rows (the reference) by :func:`fedgov.stats.derive_spec`, with 4 coarse and 16 fine bins and 5 score
bins to keep the files small. ``truth.json`` holds every window's unsuppressed
statistics and the reference's numeric extremes, so tests can check what the audit
recovers.

Run: ``python scripts/make_privacy_fixture.py [OUT_DIR]``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from fedgov.decision import Decision
from fedgov.metrics import compute_metrics
from fedgov.privacy import suppress_small_cells
from fedgov.report import Report
from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats, derive_spec, encode_columns

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "privacy"
T0 = 1_700_000_000_000  # window times (ms): rows are i ms apart, window [T0, T0 + rows)
SEX_AGE = ("F|18-29", "F|30-49", "F|50+", "M|18-29", "M|30-49")
# Confusion counts [TN, FP, FN, TP] per sex|age_band cell of each silo's rows.
CONFUSION = {
    "A": ([0, 1, 0, 2], [22, 10, 10, 20], [20, 10, 10, 15], [12, 10, 10, 11], [10, 0, 10, 17]),
    "A+": ([0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [4, 2, 3, 3]),
    "B": ([10, 10, 10, 12], [15, 10, 10, 15], [12, 10, 10, 10], [10, 10, 10, 10], [6, 0, 10, 10]),
    "C": ([12, 10, 10, 10], [12, 10, 11, 12], [10, 10, 10, 11], [11, 10, 10, 10], [10, 0, 10, 11]),
}
SMALL_RACES = {"A": {"native": 12, "pacific": 3}, "A+": {"pacific": 2},
               "B": {"native": 10, "pacific": 3}, "C": {"native": 9, "pacific": 3}}
BIG_RACES = ("white", "black", "asian", "hispanic")
K = 10


def _rows(part: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    sex, age, y, p = [], [], [], []
    for cell, conf in zip(SEX_AGE, CONFUSION[part], strict=True):
        s, a = cell.split("|")
        for (yt, yp), n in zip(((0, 0), (0, 1), (1, 0), (1, 1)), conf, strict=True):
            sex += [s] * n
            age += [a] * n
            y += [yt] * n
            p += [yp] * n
    n = len(y)
    race = [r for r, c in SMALL_RACES[part].items() for _ in range(c)]
    race += [BIG_RACES[i % 4] for i in range(n - len(race))]
    race_arr = np.array(race)[rng.permutation(n)]
    y_arr = np.array(y, dtype=np.float64)
    income = np.round(rng.lognormal(10.7, 0.35, n), -1)
    order = rng.permutation(n)  # rows arrive in no particular order
    cols = {
        "sex": np.array(sex)[order],
        "age_band": np.array(age)[order],
        "race": race_arr,
        "income": income,
        "label": y_arr[order],
        "prediction": np.array(p, dtype=np.float64)[order],
    }
    cols["score"] = np.where(cols["label"] == 1, rng.beta(5, 2, n), rng.beta(2, 5, n)).round(3)
    if part == "A":
        cols["income"][0] = 483270.0  # one person holds the maximum income
    return cols


def _concat(*parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _stats(spec: MonitoringSpec, cols: dict[str, np.ndarray]) -> WindowStats:
    return WindowStats.zero(spec).fold(spec, encode_columns(spec, cols))


def _report(spec: MonitoringSpec, silo: str, n_rows: int, true: WindowStats) -> Report:
    """What the agent sent with its defaults then: k=10 suppression, complementary off."""
    stats = suppress_small_cells(true, K, complementary=False)
    return Report(
        report_id=f"{silo}-{n_rows}",
        silo_id=silo,
        jurisdiction=f"EU-{silo}",
        model_id=spec.model_id,
        model_version=spec.model_version,
        window_start_ms=T0,
        window_end_ms=T0 + n_rows,
        spec_digest=spec.digest,
        stats=stats,
        metrics=compute_metrics(spec, stats),
        decision=Decision(allow=True),
        created_ms=T0 + n_rows,
    )


def build() -> dict[str, Any]:
    """Spec, reports and truth, as JSON-able values keyed by file name."""
    rng = np.random.default_rng(20240614)
    parts = {name: _rows(name, rng) for name in ("A", "A+", "B", "C")}
    windows = {
        "A": [("A", parts["A"]), ("A", _concat(parts["A"], parts["A+"]))],
        "B": [("B", parts["B"])],
        "C": [("C", parts["C"])],
    }
    reference = _concat(parts["A"], parts["A+"], parts["B"], parts["C"])
    spec = derive_spec(
        reference,
        model_id="credit",
        model_version="v1",
        label="label",
        prediction="prediction",
        score="score",
        sensitive=["sex", "age_band", "race"],
        intersections=[("sex", "age_band")],
        bins=4,
        fine_bins=16,
        score_bins=5,
    )
    files: dict[str, Any] = {"spec.json": spec.to_dict()}
    truth: dict[str, Any] = {"k": K, "windows": [], "reference_extremes": {}}
    for silo, wins in windows.items():
        for _, cols in wins:
            n = len(cols["label"])
            true = _stats(spec, cols)
            report = _report(spec, silo, n, true)
            files[f"report-{silo}-{n}.json"] = report.to_dict()
            truth["windows"].append(
                {"silo": silo, "start_ms": T0, "end_ms": T0 + n, "stats": true.to_dict()}
            )
    for f in spec.features:
        if f.kind == "numeric":
            x = reference[f.name]
            truth["reference_extremes"][f.name] = [float(x.min()), float(x.max())]
    files["truth.json"] = truth
    return files


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else OUT
    out.mkdir(parents=True, exist_ok=True)
    for name, doc in build().items():
        (out / name).write_text(json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n")
    print(f"wrote {len(list(out.glob('*.json')))} files to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
