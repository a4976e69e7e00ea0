"""Privacy guards on score histograms: suppression with complementary lines, noise."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from support.specs import derive_toy_spec

from fedgov.metrics import compute_metrics
from fedgov.privacy import add_laplace_noise, suppress_small_cells, total_epsilon
from fedgov.spec import MonitoringSpec
from fedgov.stats import Privacy, WindowStats, encode_columns


def columns(n: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = np.clip(rng.beta(2, 5, n) + 0.4 * y, 0, 1)
    s[rng.random(n) < 0.01] = np.nan
    return {
        "x": rng.normal(size=n),
        "sex": rng.choice(["F", "M", "X"], n, p=[0.49, 0.49, 0.02]),
        "race": rng.choice(["w", "b", "a"], n, p=[0.7, 0.25, 0.05]),
        "y": y,
        "p": (np.nan_to_num(s) > 0.5).astype(int),
        "s": s,
    }


SPEC = derive_toy_spec(
    columns(5000, seed=0),
    sensitive=["sex", "race"],
    intersections=[("sex", "race")],
    score="s",
    fine_bins=0,
)
K = 10


def stats_of(n: int, seed: int, spec: MonitoringSpec = SPEC) -> WindowStats:
    return WindowStats.zero(spec).fold(spec, encode_columns(spec, columns(n, seed)))


def hidden_ok(original: np.ndarray, shown: np.ndarray) -> bool:
    gone = int(original.sum() - shown.sum())
    return gone == 0 or gone >= K or not shown.any()


@pytest.mark.parametrize("complementary", [True, False])
def test_no_small_score_cell_is_shown_and_the_tally_adds_up(complementary: bool) -> None:
    raw = stats_of(3000, seed=1)
    s = suppress_small_cells(raw, k=K, complementary=complementary)
    assert s.privacy == Privacy(K, None)
    for name, sc in s.scores.items():
        assert not ((sc.counts > 0) & (sc.counts < K)).any(), name
        assert int(sc.counts.sum()) + sc.suppressed == s.rows - s.outcome_missing, name
    assert all(sc.suppressed for sc in s.scores.values())  # 23 cells per group: small ones


def test_complementary_suppression_covers_every_known_total_of_a_score_table() -> None:
    raw = stats_of(3000, seed=2)
    s = suppress_small_cells(raw, k=K)
    for name, sc in s.scores.items():
        before, shown = raw.scores[name].counts, sc.counts
        assert hidden_ok(before, shown), name
        for g in range(len(sc.groups)):
            for y in range(2):
                # the outcome table shows this (group, label) total...
                assert hidden_ok(before[g, y], shown[g, y]), (name, g, y)
                # ...and the score table shows the two confusion cells' total
                confusion = raw.outcomes[name].counts[g, y], s.outcomes[name].counts[g, y]
                assert hidden_ok(*confusion), (name, g, y)
    # intersection cells add up, over one attribute, to the other attribute's cells
    before = raw.scores["sex*race"].counts.reshape(5, 5, 2, -1)
    shown = s.scores["sex*race"].counts.reshape(5, 5, 2, -1)
    for g in range(5):
        for y in range(2):
            for c in range(before.shape[-1]):
                assert hidden_ok(before[g, :, y, c], shown[g, :, y, c])
                assert hidden_ok(before[:, g, y, c], shown[:, g, y, c])


def test_noise_covers_score_tables_and_counts_as_a_release() -> None:
    raw = stats_of(2000, seed=3)
    noised = add_laplace_noise(raw, 1.0, seed=7)
    assert noised == add_laplace_noise(raw, 1.0, seed=7)
    for name, sc in noised.scores.items():
        assert sc.counts.shape == raw.scores[name].counts.shape
        assert (sc.counts >= 0).all() and sc.suppressed == 0
        assert not np.array_equal(sc.counts, raw.scores[name].counts), name
    # coarse x, rows + outcome_missing, 3 outcome tables, 3 score tables
    assert total_epsilon(noised) == 1.0 * (1 + 2 + 3 + 3)
    both = suppress_small_cells(noised, k=K)
    json.dumps(compute_metrics(SPEC, both), allow_nan=False)


def test_guarded_score_tables_still_merge_and_give_plain_json() -> None:
    a = suppress_small_cells(stats_of(800, seed=4), k=K)
    b = suppress_small_cells(stats_of(800, seed=5), k=K)
    merged = a.merge(b)
    for name, sc in merged.scores.items():
        assert sc.suppressed == a.scores[name].suppressed + b.scores[name].suppressed
    metrics = compute_metrics(SPEC, merged)
    json.dumps(metrics, allow_nan=False)
    assert "auc_difference" in metrics["fairness"]["sex"]
    tiny = suppress_small_cells(stats_of(12, seed=6), k=K)  # almost everything goes
    json.dumps(compute_metrics(SPEC, tiny), allow_nan=False)
