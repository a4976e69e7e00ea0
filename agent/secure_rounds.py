"""The silo's side of secure-aggregation rounds (:mod:`fedgov.secagg`).

The aggregator opens a round with a ``secagg_round`` command whose payload is::

    {"params": RoundParams.to_json(), "layout": Layout.to_json(),
     "period_start_ms": int, "period_end_ms": int, "stage_seconds": int}

:meth:`SecureRounds.admit` checks it (the command thread acknowledges the verdict),
then :meth:`SecureRounds.start` runs the round on its own thread, so the command
stream keeps listening. The silo contributes the sum of the unguarded statistics of
its windows of the model whose end lies in the period (:mod:`agent.round_ledger`),
as the round's layout flattens them; they never leave the silo unmasked.

Refused (acknowledged ``rejected`` with the reason, audited, counted): rounds when
``secure_rounds.enabled`` is false; an agent without mTLS (the round keys are signed
with the certificate key, so peers can check the aggregator did not substitute them);
a silo not in the cohort or a model it does not monitor; a cohort smaller than
``secure_rounds.min_cohort`` or a threshold below it; a layout whose digest or length
is not the parameters'; a period not closed yet; a round whose (model, period, part)
this silo already answered an unmask for, or whose period overlaps one it answered
(recorded in ``agent.db`` before the answer leaves, so a replay after a restart is
refused too); a second round for a key while one runs.

Stages ``s = 1..4``: ``SecAggSubmit(stage=s, payload)``, then ``SecAggPoll(stage=s)``
until the status is not ``waiting``: ``ready`` gives the next stage's material,
``completed``/``failed`` end the round. Each stage waits at most ``stage_seconds``
(plus a grace) for the aggregator; calls retry UNAVAILABLE with the agent's backoff.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from agent.client import Command, RoundPoll
from agent.config import SecureRoundSettings
from agent.round_ledger import Answered, RoundLedger
from fedgov.audit import AuditLog
from fedgov.errors import GovernanceError
from fedgov.report import now_ms
from fedgov.secagg import Advert, RoundParams, SecAggError, SiloRound, encode_share_map
from fedgov.secagg.layout import Layout, vector_of
from fedgov.tls import TlsFiles

__all__ = ["OUTCOMES", "Admission", "RoundOrder", "RoundTransport", "SecureRounds"]

log = logging.getLogger(__name__)

#: ``outcome`` label values of ``fedgov_agent_secure_rounds_total``.
OUTCOMES = ("completed", "failed", "rejected")
_PAYLOAD_KEYS = {"params", "layout", "period_start_ms", "period_end_ms", "stage_seconds"}
_STAGE_NAMES = {1: "advertise keys", 2: "share keys", 3: "masked input", 4: "unmask"}


class RoundTransport(Protocol):
    """The two RPCs of a round (:class:`agent.client.AggregatorClient` has them)."""

    def secagg_submit(self, round_id: str, silo_id: str, stage: int, payload: bytes) -> bool: ...

    def secagg_poll(self, round_id: str, silo_id: str, stage: int, wait_ms: int) -> RoundPoll: ...


@dataclass(frozen=True)
class RoundOrder:
    """A ``secagg_round`` command, decoded."""

    command_id: str
    params: RoundParams
    layout: Layout
    period_start_ms: int
    period_end_ms: int
    stage_seconds: float

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.params.model_id, self.params.period, self.params.part)

    @classmethod
    def from_command(cls, cmd: Command) -> RoundOrder:
        where = f"secagg_round command {cmd.command_id}"
        try:
            data = json.loads(cmd.payload or "null")
        except ValueError as exc:
            raise SecAggError(f"{where}: the payload is not JSON ({exc})") from None
        if not isinstance(data, dict) or set(data) != _PAYLOAD_KEYS:
            got = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise SecAggError(f"{where}: expected the keys {sorted(_PAYLOAD_KEYS)}, got {got}")
        params = RoundParams.from_json(data["params"])
        try:
            layout = Layout.from_json(data["layout"])
        except (ValueError, TypeError) as exc:
            raise SecAggError(f"{where}: {exc}") from None
        start, end, stage = data["period_start_ms"], data["period_end_ms"], data["stage_seconds"]
        if type(start) is not int or type(end) is not int:
            raise SecAggError(f"{where}: period_start_ms and period_end_ms must be integers")
        if type(stage) not in (int, float) or not 0 < stage < float("inf"):
            raise SecAggError(f"{where}: stage_seconds must be a positive number")
        if cmd.model_id and cmd.model_id != params.model_id:
            raise SecAggError(
                f"{where}: the command names model {cmd.model_id!r}, its round {params.model_id!r}"
            )
        return cls(cmd.command_id, params, layout, start, end, float(stage))


@dataclass(frozen=True)
class Admission:
    """The verdict on a round command: ``accepted`` with its message, the round to run."""

    accepted: bool
    message: str
    job: _Job | None = None  # the round to run (its order), when accepted


@dataclass(frozen=True)
class _Job:
    order: RoundOrder
    silo: SiloRound
    vector: np.ndarray


class SecureRounds:
    """This silo's rounds: admit a command, run it on a thread, count and audit outcomes.

    ``outcomes`` is a labelled counter (``.labels(outcome).inc()``); ``served`` returns
    the model ids the silo monitors now; ``stop`` ends a running round at its next call.
    """

    def __init__(
        self,
        *,
        silo_id: str,
        tls: TlsFiles | None,
        settings: SecureRoundSettings,
        ledger: RoundLedger,
        transport: RoundTransport,
        audit: AuditLog,
        outcomes: Any,
        served: Callable[[], Collection[str]],
        stop: threading.Event | None = None,
        grace_seconds: float = 5.0,
        max_poll_ms: int = 10_000,
    ) -> None:
        self.silo_id = silo_id
        self.tls = tls
        self.settings = settings
        self.ledger = ledger
        self.transport = transport
        self.audit = audit
        self.outcomes = outcomes
        self.served = served
        self._stop = stop or threading.Event()
        self._grace = grace_seconds
        self._max_poll_ms = max_poll_ms
        self._idle = threading.Condition()
        self._running: dict[tuple[str, str, str], str] = {}  # key -> round id
        self.finished: dict[str, tuple[str, str]] = {}  # round id -> (outcome, reason)

    # -- admission ---------------------------------------------------------------------
    def admit(self, cmd: Command) -> Admission:
        """Check a ``secagg_round`` command; a rejection is audited and counted here."""
        try:
            job = self._check(cmd)
        except GovernanceError as exc:
            reason = str(exc)
            log.warning("%s: secure round refused: %s", self.silo_id, reason)
            self.audit.append("secure_round_rejected", command_id=cmd.command_id, reason=reason)
            self.outcomes.labels("rejected").inc()
            return Admission(False, reason)
        p = job.order.params
        return Admission(
            True,
            f"taking part in round {p.round_id} ({p.model_id}, {p.period}, part {p.part})",
            job,
        )

    def _check(self, cmd: Command) -> _Job:
        me, cfg = self.silo_id, self.settings
        if not cfg.enabled:
            raise SecAggError(
                "secure rounds are disabled in this silo's config (secure_rounds.enabled: false)"
            )
        if self.tls is None:
            raise SecAggError(
                "secure rounds need mTLS: the round keys are signed with the silo's certificate "
                "key so that peers can tell the aggregator did not substitute them, and this "
                "agent runs with aggregator.insecure: true; configure aggregator.tls"
            )
        order = RoundOrder.from_command(cmd)
        p = order.params
        where = f"round {p.round_id} ({p.model_id}, {p.period}, part {p.part})"
        if me not in p.cohort:
            raise SecAggError(f"{where}: this silo ({me}) is not in the cohort {list(p.cohort)}")
        if p.model_id not in self.served():
            raise SecAggError(f"{where}: this silo does not monitor model {p.model_id!r}")
        if len(p.cohort) < cfg.min_cohort:
            raise SecAggError(
                f"{where}: cohort too small: {len(p.cohort)} silos, fewer than this silo's "
                f"secure_rounds.min_cohort {cfg.min_cohort} (a sum over so few silos could "
                "single one out)"
            )
        if p.threshold < cfg.min_cohort:
            raise SecAggError(
                f"{where}: threshold {p.threshold} is below this silo's secure_rounds."
                f"min_cohort {cfg.min_cohort}: a sum over fewer survivors could be released"
            )
        if order.layout.digest != p.layout_digest or order.layout.length != p.length:
            raise SecAggError(
                f"{where}: the layout sent (digest {order.layout.digest[:12]}, length "
                f"{order.layout.length}) is not the one the round parameters name "
                f"({p.layout_digest[:12]}, {p.length})"
            )
        if not order.period_start_ms < order.period_end_ms <= now_ms():
            raise SecAggError(
                f"{where}: the period [{order.period_start_ms}, {order.period_end_ms}) ms is "
                "empty or not closed yet; its windows could still change"
            )
        before = self.ledger.answered_overlapping(
            p.model_id, order.period_start_ms, order.period_end_ms
        )
        if before is not None:
            raise SecAggError(_answered_before(where, before))
        with self._idle:
            if order.key in self._running:
                raise SecAggError(
                    f"{where}: round {self._running[order.key]} for the same model, period "
                    "and part is running on this silo"
                )
        cert_key, cert, ca = _pem(self.tls)
        silo = SiloRound(p, me, cert_key, cert, ca)
        sums = self.ledger.period_sums(p.model_id, order.period_start_ms, order.period_end_ms)
        left_out = sorted(set(sums) - {s.spec_digest for s in order.layout.segments})
        if left_out:
            log.warning(
                "%s: %s: windows of specs %s are not in the round's layout; left out",
                me,
                where,
                [d[:12] for d in left_out],
            )
        try:
            vector = vector_of(order.layout, sums)
        except ValueError as exc:
            raise SecAggError(f"{where}: {exc}") from None
        return _Job(order, silo, vector)

    # -- running -----------------------------------------------------------------------
    def start(self, admission: Admission) -> threading.Thread:
        """Run an accepted round on its own thread (after its command was acknowledged)."""
        job = admission.job
        if job is None:
            raise ValueError("start: the round was not accepted")
        with self._idle:
            self._running[job.order.key] = job.order.params.round_id
        thread = threading.Thread(
            target=self._run,
            args=(job,),
            name=f"fedgov-round-{job.order.params.round_id[:8]}",
            daemon=True,
        )
        thread.start()
        return thread

    def busy(self) -> bool:
        with self._idle:
            return bool(self._running)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no round runs (at most ``timeout`` seconds); True when none does."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._running, timeout)

    def _run(self, job: _Job) -> None:
        p = job.order.params
        try:
            outcome, reason = self._stages(job)
        except GovernanceError as exc:
            outcome, reason = "failed", str(exc)
        except Exception:  # a thread must not die silently; details go to the log
            log.exception("%s: round %s broke", self.silo_id, p.round_id)
            outcome, reason = "failed", "internal error in the agent (see its log)"
        self.outcomes.labels(outcome).inc()
        self.audit.append(
            "secure_round",
            round_id=p.round_id,
            model=p.model_id,
            period=p.period,
            part=p.part,
            outcome=outcome,
            reason=reason,
        )
        level = logging.INFO if outcome == "completed" else logging.WARNING
        log.log(level, "%s: round %s %s %s", self.silo_id, p.round_id, outcome, reason)
        with self._idle:
            self.finished[p.round_id] = (outcome, reason)
            self._running.pop(job.order.key, None)
            self._idle.notify_all()

    def _stages(self, job: _Job) -> tuple[str, str]:
        order, silo, p = job.order, job.silo, job.order.params
        got = self._exchange(order, 1, silo.advertise().to_bytes())
        if got.status != "ready":
            return _ended(got, 1)
        adverts = [Advert.from_bytes(b) for b in got.adverts]
        got = self._exchange(order, 2, encode_share_map(silo.share_keys(adverts)))
        if got.status != "ready":
            return _ended(got, 2)
        got = self._exchange(order, 3, silo.masked_input(job.vector, dict(got.inbound)))
        if got.status != "ready":
            return _ended(got, 3)
        if self.silo_id not in got.survivors:
            return "failed", "the aggregator counted this silo as dropped after its masked input"
        answer = silo.unmask(got.survivors, got.dropped)  # checked, not sent yet
        before = self.ledger.record_answer(
            Answered(
                p.model_id,
                p.period,
                p.part,
                order.period_start_ms,
                order.period_end_ms,
                p.round_id,
                now_ms(),
            )
        )
        if before is not None:
            raise SecAggError(_answered_before(f"round {p.round_id}, unmask refused", before))
        self.audit.append(
            "secure_round_unmask",
            round_id=p.round_id,
            survivors=list(got.survivors),
            dropped=list(got.dropped),
        )
        got = self._exchange(order, 4, encode_share_map(answer))
        return _ended(got, 4)

    def _exchange(self, order: RoundOrder, stage: int, payload: bytes) -> RoundPoll:
        """Submit this silo's message of ``stage``, then poll until it is not waiting."""
        rid = order.params.round_id
        deadline = time.monotonic() + order.stage_seconds + self._grace
        self._check_stop(rid)
        self.transport.secagg_submit(rid, self.silo_id, stage, payload)
        while True:
            self._check_stop(rid)
            left = deadline - time.monotonic()
            if left <= 0:
                raise SecAggError(
                    f"round {rid}, stage {stage} ({_STAGE_NAMES[stage]}): the aggregator did not "
                    f"move on within {order.stage_seconds:g}s; giving up"
                )
            asked = time.monotonic()
            got = self.transport.secagg_poll(
                rid, self.silo_id, stage, int(min(left * 1000, self._max_poll_ms))
            )
            if got.status not in ("waiting", "ready", "completed", "failed"):
                raise SecAggError(f"round {rid}, stage {stage}: unknown status {got.status!r}")
            if got.status != "waiting":
                return got
            # An aggregator that answers "waiting" at once is not polled in a tight loop.
            self._stop.wait(max(0.0, 0.05 - (time.monotonic() - asked)))

    def _check_stop(self, round_id: str) -> None:
        if self._stop.is_set():
            raise SecAggError(f"round {round_id}: the agent is stopping")


def _ended(got: RoundPoll, stage: int) -> tuple[str, str]:
    if got.status == "failed":
        return "failed", got.reason or "the aggregator gave no reason"
    if stage == 4:  # "ready" after the unmask answer: the aggregator has the sum
        return "completed", ""
    return "failed", f"the round {got.status} without this silo after stage {stage}"


def _answered_before(where: str, before: Answered) -> str:
    return (
        f"{where}: this silo already answered an unmask for model {before.model_id!r}, "
        f"period {before.period}, part {before.part} (round {before.round_id}); a second "
        "round over the same or an overlapping period could single out its vector"
    )


def _pem(tls: TlsFiles) -> tuple[bytes, bytes, bytes]:
    ca, cert, key = tls.read()
    return key, cert, ca
