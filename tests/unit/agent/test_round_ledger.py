"""The silo's raw windows (never sent) and its record of answered rounds, in agent.db."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from support.specs import derive_credit_spec

from agent.privacy import PrivacySettings, guard
from agent.round_ledger import Answered, RawWindow
from agent.state import AgentState
from fedgov.data import fold_file
from fedgov.secagg.layout import Layout, vector_of
from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats
from fedgov.synthetic import credit_data, write_table

DAY = 86_400_000
NOW = 1_800_000_000_000


@pytest.fixture(scope="module")
def v2_spec() -> MonitoringSpec:
    return derive_credit_spec(model_version="2.0.0", seed=7)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[AgentState]:
    s = AgentState(tmp_path / "state")
    yield s
    s.close()


def _stats(spec: MonitoringSpec, tmp: Path, rows: int, seed: int) -> WindowStats:
    path = write_table(credit_data(rows, seed=seed), tmp / f"w{seed}-{rows}.csv")
    return fold_file(path, spec, chunk_rows=1000)


def _keep(state: AgentState, spec: MonitoringSpec, stats: WindowStats, rid: str, end: int) -> int:
    window = RawWindow(rid, spec.model_id, spec.model_version, spec.digest, end - 1000, end)
    return state.rounds.keep_window(window, stats, keep_days=30, now_ms=NOW)


def test_the_period_sum_takes_every_version_whose_window_ends_in_the_period(
    state: AgentState, tmp_path: Path, credit_spec: MonitoringSpec, v2_spec: MonitoringSpec
) -> None:
    start, end = NOW - 2 * DAY, NOW - DAY
    a, b = _stats(credit_spec, tmp_path, 300, 1), _stats(credit_spec, tmp_path, 200, 2)
    c = _stats(v2_spec, tmp_path, 150, 3)
    outside = _stats(credit_spec, tmp_path, 100, 4)
    _keep(state, credit_spec, a, "r-a", start)  # end == period start: inside
    _keep(state, credit_spec, b, "r-b", end - 1)
    _keep(state, v2_spec, c, "r-c", start + 5)
    _keep(state, credit_spec, outside, "r-out", end)  # end == period end: outside
    _keep(state, credit_spec, outside, "r-before", start - 1)

    sums = state.rounds.period_sums(credit_spec.model_id, start, end)

    assert set(sums) == {credit_spec.digest, v2_spec.digest}
    assert sums[credit_spec.digest] == a.merge(b)
    assert sums[credit_spec.digest].rows == 500
    assert sums[v2_spec.digest] == c
    layout = Layout.of([credit_spec, v2_spec])
    assert (
        vector_of(layout, sums).sum()
        == vector_of(layout, {credit_spec.digest: a.merge(b), v2_spec.digest: c}).sum()
    )
    # A digest without a window in the period is zeros in the round's vector.
    only_v1 = state.rounds.period_sums(credit_spec.model_id, end - 1, end)
    vec = vector_of(layout, only_v1)
    v2_segment = slice(layout.segments[0].length, layout.length)
    assert layout.segments[1].spec_digest == v2_spec.digest
    assert not np.any(vec[v2_segment]) and vec.sum() > 0
    assert state.rounds.period_sums("another-model", start, end) == {}


def test_a_window_folded_again_replaces_its_row(
    state: AgentState, tmp_path: Path, credit_spec: MonitoringSpec
) -> None:
    s = _stats(credit_spec, tmp_path, 120, 5)
    _keep(state, credit_spec, s, "same-report", NOW - 10)
    _keep(state, credit_spec, s, "same-report", NOW - 5)
    assert state.rounds.period_sums(credit_spec.model_id, NOW - DAY, NOW)[credit_spec.digest] == s
    assert state.rounds.counts()["raw_windows"] == 1


def test_guarded_statistics_are_not_kept_as_raw(
    state: AgentState, tmp_path: Path, credit_spec: MonitoringSpec
) -> None:
    guarded = guard(_stats(credit_spec, tmp_path, 120, 6), PrivacySettings())
    with pytest.raises(ValueError, match="unguarded"):
        _keep(state, credit_spec, guarded, "g", NOW)


def test_raw_windows_older_than_keep_days_are_dropped(
    state: AgentState, tmp_path: Path, credit_spec: MonitoringSpec
) -> None:
    s = _stats(credit_spec, tmp_path, 50, 8)
    _keep(state, credit_spec, s, "old", NOW - 31 * DAY)
    _keep(state, credit_spec, s, "kept", NOW - 29 * DAY)
    # Keeping a new window prunes: the 31-day-old one went when "kept" was added.
    assert [w.report_id for w in state.rounds.windows(credit_spec.model_id)] == ["kept"]
    assert state.rounds.prune(keep_days=1, now_ms=NOW) == 1
    assert state.rounds.windows(credit_spec.model_id) == []


def _answer(period: str, start: int, end: int, part: str = "EU-*") -> Answered:
    return Answered("credit-risk", period, part, start, end, "ab" * 16, NOW)


def test_an_answered_round_is_remembered_across_a_restart(tmp_path: Path) -> None:
    first = AgentState(tmp_path / "state")
    assert first.rounds.record_answer(_answer("P1", 0, 100)) is None
    first.close()

    again = AgentState(tmp_path / "state")  # a restarted agent on the same file
    try:
        assert again.rounds.answered("credit-risk", "P1", "EU-*") == _answer("P1", 0, 100)
        # The same key again, or a period overlapping it under another name: refused.
        assert again.rounds.record_answer(_answer("P1", 0, 100)) == _answer("P1", 0, 100)
        assert again.rounds.record_answer(_answer("P1b", 50, 150)) == _answer("P1", 0, 100)
        assert again.rounds.answered_overlapping("credit-risk", 99, 200) is not None
        # An adjacent period is another round.
        assert again.rounds.answered_overlapping("credit-risk", 100, 200) is None
        assert again.rounds.record_answer(_answer("P2", 100, 200)) is None
        assert again.rounds.counts()["secagg_answered"] == 2
    finally:
        again.close()
