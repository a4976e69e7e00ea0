"""The aggregator's rules for secure rounds, without the network: who may open one, who
may speak in which stage, and which groups make a partition."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.servers import register

from aggregator.handler import AggregatorHandler
from aggregator.partition import RoundSettings, check_partition, last_closed_period
from aggregator.store import SqliteStore
from fedgov.errors import ConfigError, RoundRefused
from fedgov.report import now_ms
from fedgov.spec import MonitoringSpec

EU = ("EU-DE", "EU-FR", "EU-IT")
US = ("US-NY", "US-CA")


@pytest.fixture
def handler(tmp_path: Path, credit_spec: MonitoringSpec) -> AggregatorHandler:
    h = AggregatorHandler(SqliteStore(tmp_path / "agg.db"))
    register(h, credit_spec, EU + US)
    h.rounds.settings = RoundSettings(groups=("EU-*", "US-*"), min_cohort=3)
    return h


def _closed() -> tuple[int, int]:
    end = now_ms() - 1000
    return end - 3_600_000, end


def test_a_round_per_part_commands_each_member_once(
    handler: AggregatorHandler, credit_spec: MonitoringSpec
) -> None:
    [eu] = handler.rounds.open(credit_spec.model_id, *_closed(), "EU-*")
    params = json.loads(eu.params)
    assert params["cohort"] == sorted(EU) and params["threshold"] == 3  # max(3, ceil(2/3*3))
    for silo in EU:
        [cmd] = handler.pending_commands(silo)
        assert cmd.kind == "secagg_round" and json.loads(cmd.payload)["params"] == eu.params
    assert handler.pending_commands("US-NY") == []
    # The same key again gives the same round back, and no new command.
    [again] = handler.rounds.open(
        credit_spec.model_id, eu.period_start_ms, eu.period_end_ms, "EU-*"
    )
    assert again.round_id == eu.round_id and len(handler.pending_commands("EU-DE")) == 1


def test_opening_is_refused_for_small_parts_open_periods_and_unknown_parts(
    handler: AggregatorHandler, credit_spec: MonitoringSpec
) -> None:
    with pytest.raises(RoundRefused, match=r"US-\* has 2 silo\(s\).*fewer than --min-cohort 3"):
        handler.rounds.open(credit_spec.model_id, *_closed(), "US-*")
    with pytest.raises(RoundRefused, match="has not closed yet"):
        handler.rounds.open(credit_spec.model_id, now_ms() - 1000, now_ms() + 60_000)
    with pytest.raises(RoundRefused, match="not one of the groups"):
        handler.rounds.open(credit_spec.model_id, *_closed(), "EU-DE")


def test_messages_only_from_the_cohort_in_the_current_stage(
    handler: AggregatorHandler, credit_spec: MonitoringSpec
) -> None:
    [eu] = handler.rounds.open(credit_spec.model_id, *_closed(), "EU-*")
    rid = eu.round_id
    with pytest.raises(RoundRefused, match="not in the cohort"):
        handler.rounds.submit(rid, "US-NY", 1, b"advert")
    with pytest.raises(RoundRefused, match="stage 2 .* has not begun"):
        handler.rounds.submit(rid, "EU-DE", 2, b"shares")
    assert handler.rounds.submit(rid, "EU-DE", 1, b"advert") is True
    assert handler.rounds.submit(rid, "EU-DE", 1, b"advert") is False  # stored once
    with pytest.raises(Exception, match="already sent a different stage-1 message"):
        handler.rounds.submit(rid, "EU-DE", 1, b"another advert")
    assert handler.rounds.poll(rid, "EU-DE", 1).status == "waiting"
    with pytest.raises(RoundRefused, match="no secure round"):
        handler.rounds.poll("f" * 32, "EU-DE", 1)


def test_a_stage_short_of_the_threshold_at_its_deadline_fails_the_round(
    handler: AggregatorHandler, credit_spec: MonitoringSpec
) -> None:
    handler.rounds.settings = RoundSettings(groups=("EU-*", "US-*"), stage_ms=1)
    [eu] = handler.rounds.open(credit_spec.model_id, *_closed(), "EU-*")
    handler.rounds.submit(eu.round_id, "EU-DE", 1, b"advert")
    ans = handler.rounds.poll(eu.round_id, "EU-DE", 1)
    assert (
        ans.status == "failed" and "1 of 3 silos answered by the deadline, 3 needed" in ans.reason
    )
    assert handler.store.round_messages(eu.round_id, 1) == {}  # forgotten
    assert handler.store.releases(credit_spec.model_id) == []
    # A failed round may be opened again, with a new id.
    [again] = handler.rounds.open(
        credit_spec.model_id, eu.period_start_ms, eu.period_end_ms, "EU-*"
    )
    assert again.round_id != eu.round_id and again.status == "open"


def test_groups_that_overlap_or_hold_too_few_silos_are_refused_by_name() -> None:
    silos = [(s, s) for s in EU + US]
    check_partition(("EU-*", "US-*"), [*silos, ("US-TX", "US-TX")], 3)  # a partition
    with pytest.raises(ConfigError, match=r"silo EU-DE \(EU-DE\) is in EU-\* and EU-DE"):
        check_partition(("EU-*", "EU-DE"), silos, 2)
    with pytest.raises(ConfigError, match=r"group US-\* holds 2 silo\(s\) \(US-CA, US-NY\)"):
        check_partition(("EU-*", "US-*"), silos, 3)
    with pytest.raises(ConfigError, match=r"groups EU-\* and EU-D\? overlap"):
        check_partition(("EU-*", "EU-D?"), [], 3)  # refused before any silo registers
    with pytest.raises(ConfigError, match="names a group twice"):
        check_partition(("EU-*", "EU-*"), silos, 3)


def test_the_last_closed_period_leaves_the_grace_time() -> None:
    s = RoundSettings(period_ms=3_600_000, grace_ms=600_000)
    assert last_closed_period(10 * 3_600_000 + 599_999, s) == (8 * 3_600_000, 9 * 3_600_000)
    assert last_closed_period(10 * 3_600_000 + 600_000, s) == (9 * 3_600_000, 10 * 3_600_000)


def test_the_sweep_opens_a_round_per_part_for_the_period_that_closed(
    handler: AggregatorHandler, credit_spec: MonitoringSpec
) -> None:
    from support.reports import report_of
    from support.specs import stats_of

    from fedgov.synthetic import credit_data

    hour = 3_600_000
    handler.rounds.settings = RoundSettings(
        groups=("EU-*", "US-*"), period_ms=hour, grace_ms=0, min_cohort=2
    )
    start, end = last_closed_period(now_ms(), handler.rounds.settings)
    stats = stats_of(credit_spec, credit_data(100, seed=1))
    report = report_of(credit_spec, stats, "w1", window_start_ms=start, window_end_ms=start + 1)
    handler.store.add_report(report)
    handler.rounds.tick()
    opened = handler.rounds.rounds(credit_spec.model_id)
    assert sorted(r.part for r in opened) == ["EU-*", "US-*"]
    assert {(r.period_start_ms, r.period_end_ms) for r in opened} == {(start, end)}
    handler.rounds.tick()  # the next sweep opens nothing new
    assert len(handler.rounds.rounds(credit_spec.model_id)) == 2
    handler.rounds.settings = RoundSettings(groups=("EU-*", "US-*"), auto_open=False)
    handler.store.add_report(report_of(credit_spec, stats, "w2", window_end_ms=end + 1))
    handler.rounds.tick()  # --no-secure-rounds: only `fedgov round open`
    assert len(handler.rounds.rounds(credit_spec.model_id)) == 2
