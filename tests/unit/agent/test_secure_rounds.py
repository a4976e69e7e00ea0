"""The silo's side of secure-aggregation rounds, against an in-memory relay.

The relay below is not the aggregator: it plays the four stages the way the protocol
says (wait for every expected silo or a deadline, then hand out the material) and
unmasks the sum with :func:`fedgov.secagg.reconstruct`, so the sum the silos' agents
produce can be checked against the sum of their period vectors.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from support.secagg_rounds import make_cohort_pki, silo_ids
from support.specs import derive_credit_spec

from agent.client import Command, RoundPoll
from agent.config import SecureRoundSettings
from agent.exporter import AgentMetrics
from agent.round_ledger import RawWindow
from agent.secure_rounds import SecureRounds
from agent.state import AgentState
from fedgov.audit import AuditLog
from fedgov.data import fold_file
from fedgov.errors import TransportError
from fedgov.secagg import Advert, RoundParams, decode_share_map, reconstruct
from fedgov.secagg.layout import Layout, vector_of
from fedgov.spec import MonitoringSpec
from fedgov.synthetic import credit_data, write_table
from fedgov.tls import TlsFiles

START, END = 1_700_000_000_000, 1_700_003_600_000
PERIOD = "2023-11-14T22:13:20Z/2023-11-14T23:13:20Z"


class Relay:
    """One round, relayed in memory. A stage closes when every silo expected in it has
    sent its message, or ``timeout`` seconds after it opened; fewer than ``t`` -> failed."""

    def __init__(self, params: RoundParams, timeout: float) -> None:
        self.params, self.timeout = params, timeout
        self.cond = threading.Condition()
        self.subs: dict[int, dict[str, bytes]] = {s: {} for s in (1, 2, 3, 4)}
        self.expected: dict[int, set[str]] = {1: set(params.cohort)}
        self.opened: dict[int, float] = {}
        self.closed: dict[int, list[str]] = {}
        self.failed = ""
        self.total: np.ndarray | None = None

    def _stage(self) -> int:
        return len(self.closed) + 1

    def _advance(self) -> None:
        while not self.failed and (s := self._stage()) <= 4 and s in self.opened:
            got = set(self.subs[s]) & self.expected[s]
            if got != self.expected[s] and time.monotonic() < self.opened[s] + self.timeout:
                return
            if len(got) < self.params.threshold:
                self.failed = f"stage {s}: {len(got)} silos, fewer than the threshold"
                return
            self.closed[s] = sorted(got)
            if s == 4:
                self.total = self._unmask()
                return
            self.expected[s + 1], self.opened[s + 1] = got, time.monotonic()

    def _unmask(self) -> np.ndarray:
        adverts = [Advert.from_bytes(self.subs[1][s]) for s in self.closed[1]]
        masked = {s: self.subs[3][s] for s in self.closed[3]}
        answers = {s: decode_share_map(self.subs[4][s]) for s in self.closed[4]}
        return reconstruct(self.params, adverts, masked, self._dropped(), answers)

    def _dropped(self) -> list[str]:
        return sorted(set(self.closed[2]) - set(self.closed[3]))

    def submit(self, silo: str, stage: int, payload: bytes) -> bool:
        with self.cond:
            if stage in self.closed:  # late: discarded
                return False
            self.opened.setdefault(stage, time.monotonic())  # stage 1's clock: first advert
            self.subs[stage][silo] = payload
            self._advance()
            self.cond.notify_all()
        return False

    def poll(self, silo: str, stage: int, wait_ms: int) -> RoundPoll:
        end = time.monotonic() + wait_ms / 1000
        with self.cond:
            while True:
                self._advance()
                if self.failed:
                    return RoundPoll("failed", self.failed)
                if stage in self.closed:
                    return self._material(silo, stage)
                if time.monotonic() >= end:
                    return RoundPoll("waiting", stage=self._stage())
                self.cond.wait(0.05)

    def _material(self, silo: str, stage: int) -> RoundPoll:
        if stage == 1:
            return RoundPoll("ready", adverts=tuple(self.subs[1][s] for s in self.closed[1]))
        if stage == 2:
            inbound = {
                src: decode_share_map(self.subs[2][src])[silo]
                for src in self.closed[2]
                if src != silo
            }
            return RoundPoll("ready", inbound=inbound)
        if stage == 3:
            return RoundPoll(
                "ready", survivors=tuple(self.closed[3]), dropped=tuple(self._dropped())
            )
        return RoundPoll("completed")


@dataclasses.dataclass
class Link:
    """One silo's transport to the relay; ``fail_at`` makes its submit of that stage fail."""

    relay: Relay
    fail_at: int | None = None

    def secagg_submit(self, round_id: str, silo_id: str, stage: int, payload: bytes) -> bool:
        if stage == self.fail_at:
            raise TransportError(f"round {round_id}: aggregator unreachable (test)")
        return self.relay.submit(silo_id, stage, payload)

    def secagg_poll(self, round_id: str, silo_id: str, stage: int, wait_ms: int) -> RoundPoll:
        return self.relay.poll(silo_id, stage, wait_ms)


@dataclasses.dataclass
class Silo:
    id: str
    state: AgentState
    rounds: SecureRounds
    registry: CollectorRegistry

    def outcome_count(self, outcome: str) -> float:
        value = self.registry.get_sample_value(
            "fedgov_agent_secure_rounds_total",
            {"silo": self.id, "jurisdiction": self.id, "outcome": outcome},
        )
        return value or 0.0


@pytest.fixture(scope="module")
def specs() -> tuple[MonitoringSpec, MonitoringSpec]:
    return derive_credit_spec(), derive_credit_spec(model_version="2.0.0", seed=3)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_cohort_pki(tmp_path_factory.mktemp("pki"), 4)


def make_silo(
    root: Path, pki: Path, sid: str, transport: object, *, tls: bool = True, **settings: object
) -> Silo:
    state = AgentState(root / sid)
    registry = CollectorRegistry()
    rounds = SecureRounds(
        silo_id=sid,
        tls=TlsFiles(pki / "ca.pem", pki / f"{sid}.pem", pki / f"{sid}.key") if tls else None,
        settings=SecureRoundSettings(**settings),  # type: ignore[arg-type]
        ledger=state.rounds,
        transport=transport,  # type: ignore[arg-type]
        audit=AuditLog(root / sid / "audit.jsonl"),
        outcomes=AgentMetrics(sid, sid, registry).secure_rounds,
        served=lambda: {"credit-risk"},
        grace_seconds=2.0,
    )
    return Silo(sid, state, rounds, registry)


def keep_windows(silo: Silo, specs: tuple[MonitoringSpec, ...], tmp: Path, seed: int) -> None:
    """Windows of both versions inside the period, and one after it (left out)."""
    for i, (spec, end) in enumerate(
        [(specs[0], START + 10), (specs[1], END - 1), (specs[0], START + 99), (specs[0], END)]
    ):
        path = write_table(
            credit_data(40 + 17 * seed + i, seed=seed * 10 + i), tmp / f"{silo.id}-{i}.csv"
        )
        window = RawWindow(
            f"{silo.id}-{i}", spec.model_id, spec.model_version, spec.digest, end - 5, end
        )
        silo.state.rounds.keep_window(window, fold_file(path, spec), keep_days=10**5, now_ms=END)


def round_command(params: RoundParams, layout: Layout, **over: object) -> Command:
    payload = {
        "params": params.to_json(),
        "layout": layout.to_json(),
        "period_start_ms": START,
        "period_end_ms": END,
        "stage_seconds": 5,
    } | over
    return Command(
        os.urandom(8).hex(), "secagg_round", "", params.model_id, "", "round", json.dumps(payload)
    )


def params_of(
    layout: Layout, cohort: tuple[str, ...], threshold: int = 3, **over: object
) -> RoundParams:
    values: dict[str, object] = {
        "round_id": os.urandom(16).hex(),
        "model_id": "credit-risk",
        "period": PERIOD,
        "part": "EU-*",
        "cohort": cohort,
        "threshold": threshold,
        "length": layout.length,
        "layout_digest": layout.digest,
    } | over
    return RoundParams(**values)  # type: ignore[arg-type]


@pytest.fixture
def cohort(
    tmp_path: Path, pki: Path, specs: tuple[MonitoringSpec, MonitoringSpec]
) -> Iterator[tuple[dict[str, Silo], Layout, RoundParams, Relay]]:
    layout = Layout.of(list(specs))
    params = params_of(layout, silo_ids(4))
    relay = Relay(params, timeout=1.5)
    silos = {sid: make_silo(tmp_path, pki, sid, Link(relay)) for sid in silo_ids(4)}
    for n, silo in enumerate(silos.values(), start=1):
        keep_windows(silo, specs, tmp_path, n)
    yield silos, layout, params, relay
    for silo in silos.values():
        silo.state.close()


def period_vector(silo: Silo, layout: Layout) -> np.ndarray:
    return vector_of(layout, silo.state.rounds.period_sums("credit-risk", START, END))


def run_all(silos: dict[str, Silo], cmd: Command) -> None:
    admissions = {sid: s.rounds.admit(cmd) for sid, s in silos.items()}
    assert all(a.accepted for a in admissions.values()), [a.message for a in admissions.values()]
    threads = [silos[sid].rounds.start(a) for sid, a in admissions.items()]
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive()


def test_four_silos_sum_exactly_their_period_vectors(cohort) -> None:  # type: ignore[no-untyped-def]
    silos, layout, params, relay = cohort
    run_all(silos, round_command(params, layout))

    assert relay.closed[4] == list(silo_ids(4))
    expected = sum(period_vector(s, layout) for s in silos.values())
    assert relay.total is not None and np.array_equal(relay.total, expected)
    # Both versions' windows entered (each version's segment starts with its row count).
    v2_at = layout.segments[0].length
    assert expected[0] > 0 and expected[v2_at] > 0
    for s in silos.values():
        assert s.rounds.finished[params.round_id] == ("completed", "")
        assert s.outcome_count("completed") == 1
        assert s.state.rounds.answered("credit-risk", PERIOD, "EU-*").round_id == params.round_id  # type: ignore[union-attr]


def test_one_silo_silent_after_sharing_keys_the_others_complete(cohort) -> None:  # type: ignore[no-untyped-def]
    silos, layout, params, relay = cohort
    silos["S04"].rounds.transport = Link(relay, fail_at=3)  # gone after stage 2

    run_all(silos, round_command(params, layout))

    assert relay.closed[3] == ["S01", "S02", "S03"] and relay._dropped() == ["S04"]
    expected = sum(period_vector(silos[s], layout) for s in ("S01", "S02", "S03"))
    assert relay.total is not None and np.array_equal(relay.total, expected)
    assert not np.array_equal(relay.total, expected + period_vector(silos["S04"], layout))
    assert silos["S04"].rounds.finished[params.round_id][0] == "failed"
    assert silos["S04"].outcome_count("failed") == 1
    assert silos["S04"].state.rounds.answered("credit-risk", PERIOD, "EU-*") is None
    for sid in ("S01", "S02", "S03"):
        assert silos[sid].rounds.finished[params.round_id] == ("completed", "")


def test_the_unmask_is_recorded_before_it_is_sent_and_a_second_round_is_refused_after_a_restart(
    cohort,
    tmp_path: Path,
    pki: Path,  # type: ignore[no-untyped-def]
) -> None:
    silos, layout, params, relay = cohort
    silos["S01"].rounds.transport = Link(relay, fail_at=4)  # its answer never arrives

    run_all(silos, round_command(params, layout))

    assert relay.total is not None  # three answers are enough
    first = silos["S01"]
    assert first.rounds.finished[params.round_id][0] == "failed"
    assert first.state.rounds.answered("credit-risk", PERIOD, "EU-*") is not None
    first.state.close()

    # Restarted: a new AgentState on the same agent.db.
    again = make_silo(tmp_path, pki, "S01", Link(Relay(params, 1.0)))
    try:
        replay = again.rounds.admit(round_command(params, layout))
        fresh = params_of(layout, silo_ids(4))
        second = again.rounds.admit(round_command(fresh, layout))
        overlap = params_of(layout, silo_ids(4), period="another label")
        third = again.rounds.admit(
            round_command(overlap, layout, period_start_ms=START + 1, period_end_ms=END + 1)
        )
        for refused in (replay, second, third):
            assert not refused.accepted
            assert "already answered an unmask" in refused.message
        assert again.outcome_count("rejected") == 3
    finally:
        again.state.close()
        silos["S01"] = make_silo(tmp_path, pki, "S01", None)  # for the fixture's teardown


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("small cohort", "cohort too small: 2 silos, fewer than this silo's"),
        ("low threshold", "threshold 2 is below this silo's secure_rounds.min_cohort 3"),
        ("insecure", "secure rounds need mTLS"),
        ("disabled", "secure_rounds.enabled: false"),
        ("not in cohort", "is not in the cohort"),
        ("layout", "is not the one the round parameters name"),
        ("open period", "not closed yet"),
        ("malformed", "stage_seconds must be a positive number"),
    ],
)
def test_a_round_that_fails_a_check_is_rejected_with_its_reason(
    case: str, reason: str, tmp_path: Path, pki: Path, specs: tuple[MonitoringSpec, ...]
) -> None:
    layout = Layout.of(list(specs))
    cohort, threshold, sent, over, kw = silo_ids(4), 3, layout, {}, {}
    if case == "small cohort":
        cohort, threshold = silo_ids(2), 2
    elif case == "low threshold":
        threshold = 2
    elif case == "insecure":
        kw = {"tls": False}
    elif case == "disabled":
        kw = {"enabled": False}
    elif case == "not in cohort":
        cohort = ("S02", "S03", "S04")
    elif case == "layout":
        sent = Layout.of([specs[0]])
    elif case == "malformed":
        over = {"stage_seconds": "soon"}
    elif case == "open period":
        over = {"period_end_ms": int(time.time() * 1000) + 60_000}
    silo = make_silo(tmp_path, pki, "S01", None, **kw)
    try:
        params = params_of(layout, cohort, threshold)
        admission = silo.rounds.admit(round_command(params, sent, **over))
        assert not admission.accepted and admission.job is None
        assert reason in admission.message
        assert silo.outcome_count("rejected") == 1 and silo.outcome_count("completed") == 0
    finally:
        silo.state.close()
