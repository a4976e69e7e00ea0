"""The algebra every set of window statistics obeys, checked by the property tests
of each layout (plain, with score histograms): one statement of it, many specs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats, encode_columns

Rows = Sequence[tuple[Any, ...]]


def assert_split_invariant(
    spec: MonitoringSpec,
    rows: Rows,
    cut: int,
    stats_of: Callable[[Rows], WindowStats],
    columns: Callable[[Rows], dict[str, Any]],
) -> None:
    """stats(A + B) == merge(stats(A), stats(B)), and folding chunk by chunk is the same."""
    pooled = stats_of(rows)
    assert stats_of(rows[:cut]).merge(stats_of(rows[cut:])) == pooled
    chunked = WindowStats.zero(spec)
    for chunk in (rows[:cut], rows[cut:]):
        chunked = chunked.fold(spec, encode_columns(spec, columns(chunk)))
    assert chunked == pooled


def assert_merge_laws(
    spec: MonitoringSpec, sa: WindowStats, sb: WindowStats, sc: WindowStats
) -> None:
    """Merge is commutative and associative, and zero() is its identity."""
    assert sa.merge(sb) == sb.merge(sa)
    assert sa.merge(sb).merge(sc) == sa.merge(sb.merge(sc))
    assert sa.merge(WindowStats.zero(spec)) == sa


def law_tests(
    spec: MonitoringSpec,
    row: st.SearchStrategy[tuple[Any, ...]],
    stats_of: Callable[[Rows], WindowStats],
    columns: Callable[[Rows], dict[str, Any]],
) -> tuple[Callable[..., None], Callable[..., None]]:
    """The two property tests of a layout, for a test module to bind to its own names:
    any split of a union folds to the same statistics, and the merge laws."""

    @settings(max_examples=60, deadline=None, database=None)
    @given(st.lists(row, max_size=60), st.data())
    def split_invariant(rows: list[tuple[Any, ...]], data: st.DataObject) -> None:
        cut = data.draw(st.integers(0, len(rows)))
        assert_split_invariant(spec, rows, cut, stats_of, columns)

    @settings(max_examples=40, deadline=None, database=None)
    @given(
        st.lists(row, max_size=30),
        st.lists(row, max_size=30),
        st.lists(row, max_size=30),
    )
    def merge_laws(
        a: list[tuple[Any, ...]], b: list[tuple[Any, ...]], c: list[tuple[Any, ...]]
    ) -> None:
        assert_merge_laws(spec, stats_of(a), stats_of(b), stats_of(c))

    return split_invariant, merge_laws
