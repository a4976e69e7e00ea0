"""Privacy guards: small-cell suppression and Laplace noise on window statistics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from support.specs import derive_toy_spec, toy_spec

from fedgov.metrics import compute_metrics
from fedgov.privacy import add_laplace_noise, suppress_small_cells, total_epsilon
from fedgov.spec import MonitoringSpec, NumericFeature, coarse_groups
from fedgov.stats import FeatureCounts, Privacy, WindowStats, encode_columns


def columns(n: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    x[rng.random(n) < 0.01] = np.nan
    return {
        "x": x,
        "city": rng.choice(["paris", "lyon", "nice", "brest"], n, p=[0.6, 0.3, 0.098, 0.002]),
        "sex": rng.choice(["F", "M", "X"], n, p=[0.49, 0.49, 0.02]),
        "race": rng.choice(["w", "b", "a"], n, p=[0.7, 0.25, 0.05]),
        "y": rng.integers(0, 2, n),
        "p": rng.integers(0, 2, n),
    }


SPEC = derive_toy_spec(
    columns(20_000, seed=0),
    sensitive=["sex", "race"],
    intersections=[("sex", "race")],
    fine_bins=128,
)


def stats_of(n: int, seed: int, spec: MonitoringSpec = SPEC) -> WindowStats:
    return WindowStats.zero(spec).fold(spec, encode_columns(spec, columns(n, seed)))


def vectors(s: WindowStats) -> list[tuple[str, np.ndarray, int, int]]:
    """(name, cells, suppressed, rows they must add up to) for every count vector."""
    out = []
    for name, fc in s.features.items():
        out.append((name, fc.counts, fc.suppressed, s.rows))
        if fc.fine.size:
            out.append((f"{name}.fine", fc.fine, fc.fine_suppressed, s.rows))
    for name, oc in s.outcomes.items():
        out.append((name, oc.counts.reshape(-1), oc.suppressed, s.rows - s.outcome_missing))
    return out


@pytest.mark.parametrize("complementary", [True, False])
def test_no_small_cell_is_shown_and_the_tally_adds_up(complementary: bool) -> None:
    raw = stats_of(3000, seed=1)
    s = suppress_small_cells(raw, k=10, complementary=complementary)
    assert s.privacy == Privacy(10, None) and s.rows == raw.rows
    assert s.outcome_missing == raw.outcome_missing
    for name, cells, suppressed, rows in vectors(s):
        assert not ((cells > 0) & (cells < 10)).any(), name
        assert int(cells.sum()) + suppressed == rows, name
    assert any(suppressed for _, _, suppressed, _ in vectors(s))  # the test data has small cells


def test_complementary_suppression_leaves_nothing_to_subtract() -> None:
    """Every total a reader knows (a whole vector, a coarse cell over its fine cells,
    an intersection's margin) hides 0 or at least k suppressed rows."""
    k = 10
    raw = stats_of(3000, seed=2)
    s = suppress_small_cells(raw, k=k)

    def hidden_ok(original: np.ndarray, shown: np.ndarray) -> bool:
        gone = int(original.sum() - shown.sum())
        return gone == 0 or gone >= k or not shown.any()

    for (name, cells, _, _), (_, before, _, _) in zip(vectors(s), vectors(raw), strict=True):
        assert hidden_ok(before, cells), name
    f = SPEC.feature("x")
    assert isinstance(f, NumericFeature)
    bounds = (*coarse_groups(f), f.n_fine_cells)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        assert hidden_ok(raw.features["x"].fine[a:b], s.features["x"].fine[a:b])
    # sex and race: 3 groups + other + missing each; cells [sex, race, y, p]
    before = raw.outcomes["sex*race"].counts.reshape(5, 5, 2, 2)
    shown = s.outcomes["sex*race"].counts.reshape(5, 5, 2, 2)
    for g in range(5):  # across one attribute, cells add up to the other's table
        for y in range(2):
            for p in range(2):
                assert hidden_ok(before[g, :, y, p], shown[g, :, y, p])
                assert hidden_ok(before[:, g, y, p], shown[:, g, y, p])


def test_a_lone_small_cell_takes_the_next_smallest_with_it() -> None:
    spec = toy_spec(features=(SPEC.feature("city"),))
    raw = WindowStats(
        spec_digest=spec.digest,
        rows=113,
        features={"city": FeatureCounts("city", "categorical", [3, 50, 60, 0, 0, 0])},
    )
    both = suppress_small_cells(raw, k=10).features["city"]
    assert both.counts.tolist() == [0, 0, 60, 0, 0, 0] and both.suppressed == 53
    lone = suppress_small_cells(raw, k=10, complementary=False).features["city"]
    assert lone.counts.tolist() == [0, 50, 60, 0, 0, 0] and lone.suppressed == 3


def test_suppression_error_is_at_most_k_cells_over_rows() -> None:
    k, raw = 10, stats_of(5000, seed=3)
    s = suppress_small_cells(raw, k=k, complementary=False)
    for name, fc in raw.features.items():
        moved = np.abs(fc.counts - s.features[name].counts).sum() / raw.rows
        assert moved <= k * fc.counts.size / raw.rows
    plain = compute_metrics(SPEC, raw)["drift"]["features"]
    shown = compute_metrics(SPEC, s)["drift"]["features"]
    for name, fc in raw.features.items():
        cells = fc.fine.size or fc.counts.size
        for metric in ("missing_rate", "ks") if fc.fine.size else ("missing_rate",):
            assert abs(shown[name][metric] - plain[name][metric]) <= k * cells / raw.rows


def test_small_and_empty_windows() -> None:
    zero = suppress_small_cells(WindowStats.zero(SPEC), k=10)
    assert all(s == 0 for _, _, s, _ in vectors(zero)) and zero.rows == 0
    tiny = suppress_small_cells(stats_of(7, seed=4), k=10)  # fewer rows than k: all hidden
    for name, cells, suppressed, rows in vectors(tiny):
        assert cells.sum() == 0 and suppressed == rows, name
    m = compute_metrics(SPEC, tiny)
    assert m["drift"]["features"]["x"]["ks"] is None


def test_laplace_noise_is_seeded_non_negative_and_recorded() -> None:
    raw = stats_of(4000, seed=5)
    a = add_laplace_noise(raw, 0.5, seed=7)
    assert a == add_laplace_noise(raw, 0.5, seed=7)
    assert a != add_laplace_noise(raw, 0.5, seed=8)
    assert a.privacy == Privacy(None, 0.5)
    for name, cells, suppressed, _ in vectors(a):
        assert cells.dtype == np.int64 and (cells >= 0).all() and suppressed == 0, name
    assert a.features["x"].fine.size == raw.features["x"].fine.size
    assert abs(a.rows - raw.rows) < 50
    n_releases = 2 + len(raw.outcomes) + sum(1 + (fc.fine.size > 0) for fc in raw.features.values())
    assert total_epsilon(a) == pytest.approx(0.5 * n_releases)
    assert total_epsilon(raw) is None


def test_noise_error_shrinks_as_epsilon_grows() -> None:
    raw = stats_of(4000, seed=6)
    truth = np.concatenate([c for _, c, _, _ in vectors(raw)])
    errors = []
    for eps in (0.1, 1.0, 10.0):
        noisy = add_laplace_noise(raw, eps, seed=1)
        errors.append(np.abs(np.concatenate([c for _, c, _, _ in vectors(noisy)]) - truth).mean())
    assert errors[0] > errors[1] > errors[2]
    # Laplace(1/eps) has mean absolute deviation 1/eps; clipping at 0 only shrinks it
    assert 2.0 < errors[0] < 10.0 and 0.2 < errors[1] < 1.0 and errors[2] < 0.05


def test_guards_refuse_a_wrong_order_or_repeat() -> None:
    raw = stats_of(500, seed=7)
    suppressed = suppress_small_cells(raw, k=5)
    with pytest.raises(ValueError, match="add noise before suppressing"):
        add_laplace_noise(suppressed, 1.0)
    with pytest.raises(ValueError, match="already suppressed"):
        suppress_small_cells(suppressed, k=5)
    noised = add_laplace_noise(raw, 1.0, seed=0)
    with pytest.raises(ValueError, match="already noised"):
        add_laplace_noise(noised, 1.0)
    both = suppress_small_cells(noised, k=5)  # post-processing: allowed
    assert both.privacy == Privacy(5, 1.0)
    for name, cells, _, _ in vectors(both):
        assert not ((cells > 0) & (cells < 5)).any(), name
    for bad_k in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="k must be"):
            suppress_small_cells(raw, k=bad_k)  # type: ignore[arg-type]
    for bad_eps in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="epsilon must be"):
            add_laplace_noise(raw, bad_eps)


def test_guarded_stats_still_merge() -> None:
    a = suppress_small_cells(stats_of(800, seed=8), k=10)
    b = suppress_small_cells(add_laplace_noise(stats_of(900, seed=9), 2.0, seed=3), k=4)
    merged = a.merge(b)
    assert merged.privacy == Privacy(10, 2.0)
    fc = merged.features["x"]
    assert fc.suppressed == a.features["x"].suppressed + b.features["x"].suppressed
    assert merged.merge(WindowStats.zero(SPEC)) == merged


def test_guarded_metrics_stay_plain_json_at_the_edges() -> None:
    """Unseen categories, a group without positives, infinities, an all-missing
    window: guarded statistics still give JSON numbers or None, never NaN."""
    import json

    cols = columns(400, seed=10)
    cols["city"] = np.array(["rome"] * 400, dtype=object)  # every value unseen
    cols["y"] = np.where(cols["sex"] == "X", 0, cols["y"])  # X: no positives
    cols["x"][:5] = [np.inf, -np.inf, np.nan, 1e300, -1e300]
    raw = WindowStats.zero(SPEC).fold(SPEC, encode_columns(SPEC, cols))
    empty_x = dict(cols, x=np.full(400, np.nan))
    all_missing = WindowStats.zero(SPEC).fold(SPEC, encode_columns(SPEC, empty_x))
    for s in (raw, all_missing, WindowStats.zero(SPEC)):
        for guarded in (
            suppress_small_cells(s, k=10),
            add_laplace_noise(s, 0.5, seed=2),
            suppress_small_cells(add_laplace_noise(s, 0.5, seed=2), k=10),
        ):
            m = compute_metrics(SPEC, guarded)
            json.dumps(m, allow_nan=False)
            x = m["drift"]["features"]["x"]
            assert x["ks_bound"] is None or 0.0 <= x["ks_bound"] <= 2.0
