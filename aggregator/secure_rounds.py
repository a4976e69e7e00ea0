"""Secure aggregation rounds at the aggregator: open, relay, move on, release.

The aggregator follows the protocol of :mod:`fedgov.secagg` as its relay: it
stores each silo's message of a stage, hands each silo the material of the
next stage once the stage closes, and at the end combines the masked vectors
with the unmask shares into the cohort's sum. It never holds a key that opens
one silo's vector; the threat model and the protocol are in
:mod:`fedgov.secagg`.

A stage closes when every silo expected in it has answered, or at its
deadline with at least ``t`` answers (the survivors go on; the silos that
sent shares but no masked vector are the dropped ones, whose masks the
protocol removes). Fewer than ``t`` answers by a deadline fails the round:
audited, its messages deleted, nothing published. Whoever calls next (a
silo's submit or poll, the sweep) moves the round on; the store settles races
between processes (:mod:`aggregator.store._rounds`).

Rounds are keyed by (model, period, part). One round at a time per key and at
most one completed round per key: a second sum over another survivor set
could be differenced against the first. A failed round may be reopened (new
keys, new round id).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aggregator._audit import Audit
from aggregator.partition import (
    RoundSettings,
    check_period,
    cohort_of,
    last_closed_period,
    period_label,
)
from aggregator.round_release import release_round
from aggregator.silo_commands import CommandHub
from aggregator.specs import SpecCache
from aggregator.store import ReleaseRecord, RoundRecord, SiloRecord, Store
from fedgov.errors import GovernanceError, RoundRefused
from fedgov.report import now_ms
from fedgov.secagg import RoundParams, decode_share_map
from fedgov.secagg.layout import Layout
from fedgov.stats import WindowStats

__all__ = ["PollAnswer", "SecureRounds"]

log = logging.getLogger(__name__)

_STAGES = {1: "advertise keys", 2: "share keys", 3: "masked input", 4: "unmask", 5: "combine"}
# Stage 5: one caller has claimed the round and forms the sum on its own thread (the
# Shamir combines take seconds at 50 silos), renewing its claim (the stage deadline)
# every third of a stage timeout; the others wait. A claim that ran out means the
# replica forming the sum stopped: whoever notices takes it over once and forms the sum
# again from the stored messages (the round's reason says so while it is open); a second
# claim that runs out fails the round. Of two replicas forming it, one publishes.
TAKEN_OVER = "the replica forming the sum stopped; another took it over"


@functools.lru_cache(maxsize=256)
def _params(text: str) -> RoundParams:
    """A stored round's parameters, parsed and checked once (every poll reads them)."""
    return RoundParams.from_json(text)


@dataclass(frozen=True)
class PollAnswer:
    status: str  # waiting | ready | completed | failed
    stage: int
    reason: str = ""
    adverts: tuple[bytes, ...] = ()
    inbound: dict[str, bytes] = field(default_factory=dict)
    survivors: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()


@dataclass(eq=False)
class SecureRounds:
    _store: Store
    _specs: SpecCache
    _hub: CommandHub
    _audit: Audit
    settings: RoundSettings = field(default_factory=RoundSettings)
    # Told of each release, with its statistics and source (the central gate).
    on_release: Callable[[ReleaseRecord, WindowStats, str], object] | None = None

    # -- opening ---------------------------------------------------------------------
    def open(
        self, model_id: str, start_ms: int, end_ms: int, part: str = "", *, by: str = "operator"
    ) -> list[RoundRecord]:
        """Open a round per part (or the one named) for a closed period; a key that
        has an open or completed round gives that round back instead."""
        check_period(start_ms, end_ms, now_ms())
        parts = [part] if part else list(self.settings.groups)
        if part and part not in self.settings.groups:
            raise RoundRefused(
                f"part {part!r} is not one of the groups {', '.join(self.settings.groups)}"
            )
        return [self._open_part(model_id, start_ms, end_ms, p, by) for p in parts]

    def _open_part(self, model_id: str, start: int, end: int, part: str, by: str) -> RoundRecord:
        silos = [s for s in self._store.list_silos() if s.serves(model_id)]
        cohort = cohort_of(part, [(s.silo_id, s.jurisdiction) for s in silos])
        m = self.settings.min_cohort
        if len(cohort) < m:
            raise RoundRefused(
                f"part {part} has {len(cohort)} silo(s) serving {model_id} "
                f"({', '.join(cohort) or 'none'}), fewer than --min-cohort {m}: no round"
            )
        layout = self._layout(model_id, start, end, [s for s in silos if s.silo_id in cohort])
        now = now_ms()
        params = RoundParams(
            round_id=uuid.uuid4().hex,
            model_id=model_id,
            period=period_label(start, end),
            part=part,
            cohort=tuple(cohort),
            threshold=self.settings.needed(len(cohort)),
            length=layout.length,
            layout_digest=layout.digest,
        )
        rec = RoundRecord(
            params.round_id, model_id, start, end, part, params.to_json(), layout.to_json(),
            1, "open", "", now, now + self.settings.stage_ms,
        )  # fmt: skip
        payload = json.dumps(
            {
                "params": params.to_json(),
                "layout": layout.to_json(),
                "period_start_ms": start,
                "period_end_ms": end,
                "stage_seconds": self.settings.stage_ms / 1000,
            }
        )
        stored, created = self._store.open_round(rec, cohort, payload)
        if created:
            self._audit(
                "round_opened", round_id=rec.round_id, model_id=model_id, part=part,
                period=params.period, cohort=cohort, threshold=params.threshold, by=by,
            )  # fmt: skip
            log.info(
                "secure round %s opened: %s %s %s", rec.round_id[:8], model_id, part, params.period
            )
            self._hub.notify(cohort)
        return stored

    def _layout(self, model_id: str, start: int, end: int, silos: Sequence[SiloRecord]) -> Layout:
        keys = set(self._store.period_specs(model_id, start, end))
        keys |= {(v, d) for s in silos for m, v, d in s.models if m == model_id}
        specs = [spec for _, d in sorted(keys) if (spec := self._specs.get(d)) is not None]
        if not specs:
            raise RoundRefused(f"no spec known for {model_id}: nothing to sum")
        return Layout.of(specs)

    def tick(self) -> None:
        """Move on rounds past their deadline; open rounds for the period that closed."""
        for rec in self._store.list_rounds(status="open"):
            self._advance(rec)
        if not self.settings.auto_open:
            return
        start, end = last_closed_period(now_ms(), self.settings)
        models = {m for s in self._store.list_silos() for m, _, _ in s.models}
        for model_id in sorted(models):
            if not self._store.period_specs(model_id, start, end):
                continue  # no window of this model in the period
            for part in self.settings.groups:
                try:
                    self._open_part(model_id, start, end, part, "schedule")
                except RoundRefused as exc:
                    log.debug("no scheduled round: %s", exc)

    # -- a silo's messages -----------------------------------------------------------
    def submit(self, round_id: str, silo: str, stage: int, data: bytes) -> bool:
        """Store a silo's message of the current stage; True if it was new."""
        rec = self._round(round_id, silo)
        if rec.status != "open":
            raise RoundRefused(f"round {round_id} has {rec.status}: {rec.reason or 'ended'}")
        if stage != rec.stage:
            when = "has closed" if stage < rec.stage else "has not begun"
            raise RoundRefused(
                f"round {round_id}: stage {stage} ({_STAGES.get(stage, '?')}) {when}; "
                f"the round is in stage {rec.stage} ({_STAGES[rec.stage]})"
            )
        if silo not in self._expected(rec):
            raise RoundRefused(
                f"round {round_id}: silo {silo} is not expected in stage {stage} "
                "(it missed an earlier stage, or was declared dropped)"
            )
        limit = 8 * _params(rec.params).length + 4096 if stage == 3 else 16 << 20
        if len(data) > limit:
            raise RoundRefused(f"round {round_id}: a stage-{stage} message of {len(data)} bytes")
        new = self._store.add_round_message(round_id, stage, silo, data)
        self._advance(rec)
        return new

    def poll(self, round_id: str, silo: str, stage: int) -> PollAnswer:
        """What ``silo`` may have after ``stage``: waiting, ready (with its material), or ended."""
        rec = self._round(round_id, silo)
        if rec.status == "open":
            rec = self._advance(rec)
        if rec.status != "open":
            return PollAnswer(rec.status, rec.stage, rec.reason, survivors=rec.survivors)
        if rec.stage <= stage or rec.stage == 5:
            return PollAnswer("waiting", rec.stage)
        if stage == 1:
            return PollAnswer("ready", rec.stage, adverts=tuple(self._messages(rec, 1).values()))
        if stage == 2:
            inbound = {}
            for src, data in self._messages(rec, 2).items():
                ct = decode_share_map(data).get(silo)
                if ct is not None:
                    inbound[src] = ct
            return PollAnswer("ready", rec.stage, inbound=inbound)
        return PollAnswer("ready", rec.stage, survivors=rec.survivors, dropped=rec.dropped)

    def rounds(self, model_id: str = "") -> list[RoundRecord]:
        return self._store.list_rounds(model_id)

    # -- moving on ---------------------------------------------------------------------
    def _round(self, round_id: str, silo: str) -> RoundRecord:
        rec = self._store.get_round(round_id)
        if rec is None:
            raise RoundRefused(f"no secure round {round_id!r}")
        if silo not in _params(rec.params).cohort:
            raise RoundRefused(f"silo {silo} is not in the cohort of round {round_id}")
        return rec

    def _messages(self, rec: RoundRecord, stage: int) -> dict[str, bytes]:
        return self._store.round_messages(rec.round_id, stage)

    def _expected(self, rec: RoundRecord) -> set[str]:
        """Who may speak in the current stage: the cohort, then who spoke in the last."""
        if rec.stage == 1:
            return set(_params(rec.params).cohort)
        if rec.stage == 4:
            return set(rec.survivors)
        return self._store.round_senders(rec.round_id, rec.stage - 1)

    def _advance(self, rec: RoundRecord) -> RoundRecord:
        """Close the current stage if everyone answered or its deadline passed."""
        if rec.stage == 5:
            now = now_ms()
            if now < rec.deadline_ms:
                return rec  # being formed (its claim is renewed)
            if rec.reason:  # taken over once already
                self._fail(rec, "the sum was not formed in time (the replicas forming it stopped)")
            elif self._store.claim_round(
                rec.round_id, rec.deadline_ms, now + self.settings.stage_ms, TAKEN_OVER
            ):
                log.warning("secure round %s: %s", rec.round_id[:8], TAKEN_OVER)
                self._audit("round_taken_over", round_id=rec.round_id, model_id=rec.model_id,
                            part=rec.part, reason=TAKEN_OVER)  # fmt: skip
                self._form(rec, now + self.settings.stage_ms)
            return self._store.get_round(rec.round_id) or rec
        expected = self._expected(rec)
        got = self._store.round_senders(rec.round_id, rec.stage) & expected
        now = now_ms()
        if got != expected and now < rec.deadline_ms:
            return rec
        t = _params(rec.params).threshold
        if len(got) < t:
            self._fail(
                rec, f"stage {rec.stage} ({_STAGES[rec.stage]}): {len(got)} of {len(expected)} "
                f"silos answered by the deadline, {t} needed",
            )  # fmt: skip
        elif rec.stage == 4:
            # Whoever moves the round to stage 5 forms the sum, once, off this call.
            deadline = now + self.settings.stage_ms
            if self._store.advance_round(
                rec.round_id, 4, deadline, survivors=rec.survivors, dropped=rec.dropped
            ):
                self._form(rec, deadline)
        else:
            survivors, dropped = rec.survivors, rec.dropped
            if rec.stage == 3:
                survivors = tuple(sorted(got))
                dropped = tuple(sorted(self._store.round_senders(rec.round_id, 2) - got))
            if self._store.advance_round(
                rec.round_id, rec.stage, now + self.settings.stage_ms,
                survivors=survivors, dropped=dropped,
            ):  # fmt: skip
                log.info(
                    "secure round %s: stage %d closed with %d silos",
                    rec.round_id[:8],
                    rec.stage,
                    len(got),
                )
        return self._store.get_round(rec.round_id) or rec

    def _fail(self, rec: RoundRecord, reason: str) -> None:
        if self._store.end_round(rec.round_id, "failed", reason):
            log.warning("secure round %s failed: %s", rec.round_id[:8], reason)
            self._audit("round_failed", round_id=rec.round_id, model_id=rec.model_id,
                        part=rec.part, stage=rec.stage, reason=reason)  # fmt: skip

    def _form(self, rec: RoundRecord, deadline_ms: int) -> None:
        """Form the sum on a thread of its own, renewing the claim until it is done."""
        done = threading.Event()

        def renew() -> None:
            claim = deadline_ms
            while not done.wait(self.settings.stage_ms / 3000):
                renewed = now_ms() + self.settings.stage_ms
                try:
                    if not self._store.claim_round(rec.round_id, claim, renewed):
                        return  # ended, or taken over: end_round settles who publishes
                except Exception:  # noqa: BLE001 - a store hiccup: try again next time
                    log.warning("secure round %s: renewing the claim failed", rec.round_id[:8])
                    continue
                claim = renewed

        def form() -> None:
            try:
                self._complete(rec)
            finally:
                done.set()

        threading.Thread(target=renew, name="fedgov-secagg-claim", daemon=True).start()
        threading.Thread(target=form, name="fedgov-secagg-sum", daemon=True).start()

    def _complete(self, rec: RoundRecord) -> None:
        try:
            releases = release_round(rec, self._store, self._specs, self.settings.k)
        except GovernanceError as exc:
            self._fail(rec, f"the sum could not be formed: {exc}")
            return
        except Exception:  # noqa: BLE001 - on its own thread: fail the round, say why in the log
            log.exception("secure round %s: forming the sum failed", rec.round_id[:8])
            self._fail(rec, "the sum could not be formed (internal error; see the aggregator log)")
            return
        if self._store.end_round(rec.round_id, "completed", "", [r for r, _ in releases]):
            self._audit(
                "round_completed", round_id=rec.round_id, model_id=rec.model_id, part=rec.part,
                survivors=list(rec.survivors), dropped=list(rec.dropped),
                released=[r.model_version for r, _ in releases],
            )  # fmt: skip
            source = f"exact, secure sum of {len(rec.survivors)} silos"
            for record, stats in releases:
                if self.on_release is not None:
                    self.on_release(record, stats, source)
            log.info(
                "secure round %s completed: sum of %d silos", rec.round_id[:8], len(rec.survivors)
            )
