"""What one secure-aggregation round is about, agreed before any key is drawn.

:class:`RoundParams` travels in the aggregator's ``secagg_round`` command (``to_json``)
and its :meth:`RoundParams.context` is bound into every signature, key derivation and
AEAD associated data of the round, so nothing made for one round verifies in another.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from fedgov.errors import GovernanceError
from fedgov.limits import identifier_problem

__all__ = ["MODULUS", "PROTOCOL", "RoundParams", "SecAggError"]

#: Every vector, mask and sum lives in Z / 2^64 (numpy uint64 arithmetic wraps there).
MODULUS = 2**64
#: Domain separator of every byte string this protocol signs, derives or authenticates.
PROTOCOL = b"fedgov-secagg-v1"
_ROUND_ID = re.compile(r"[0-9a-f]{32}")
_FIELDS = (
    "round_id",
    "model_id",
    "period",
    "part",
    "cohort",
    "threshold",
    "length",
    "layout_digest",
)


class SecAggError(GovernanceError):
    """A secure-aggregation step was refused: a forged or substituted key, a bad
    certificate, a ciphertext that does not authenticate, too few survivors, a share
    set that does not combine. The message names the silo and the stage."""

    exit_code = 6


@dataclass(frozen=True)
class RoundParams:
    """One round over one cohort: who takes part, how many must survive, what is summed.

    ``cohort`` is the sorted, unique list of silo ids; ``threshold`` (``t``) is both the
    least number of survivors for the round to complete and the Shamir threshold, so
    fewer than ``t`` parties (the aggregator plus up to ``t - 1`` silos) never hold
    enough shares to rebuild a secret the protocol does not release.
    """

    round_id: str
    model_id: str
    period: str
    part: str
    cohort: tuple[str, ...]
    threshold: int
    length: int
    layout_digest: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "cohort", tuple(self.cohort))
        problem = self._problem()
        if problem:
            raise SecAggError(f"round parameters: {problem}")

    def _problem(self) -> str | None:
        if not isinstance(self.round_id, str) or not _ROUND_ID.fullmatch(self.round_id):
            return f"round_id {self.round_id!r} is not 32 lower-case hex characters"
        for name in ("model_id", "period", "part", "layout_digest"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value or not value.isprintable():
                return f"{name} {value!r} must be a non-empty printable string"
        for silo in self.cohort:
            problem = identifier_problem(silo) if isinstance(silo, str) else "not a string"
            if problem:
                return f"cohort silo id: {problem}"
        if list(self.cohort) != sorted(set(self.cohort)):
            return "cohort must list unique silo ids in sorted order"
        if len(self.cohort) < 2:
            return f"cohort has {len(self.cohort)} silo(s); a secure sum needs at least 2"
        if type(self.threshold) is not int or not 2 <= self.threshold <= len(self.cohort):
            return f"threshold {self.threshold!r} must be an integer in [2, {len(self.cohort)}]"
        if type(self.length) is not int or self.length < 1:
            return f"length {self.length!r} must be a positive integer"
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            name: (list(self.cohort) if name == "cohort" else getattr(self, name))
            for name in _FIELDS
        }

    def context(self) -> bytes:
        """Canonical bytes of every parameter (sorted-key compact JSON after a domain tag)."""
        body = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return PROTOCOL + b"\x00" + body.encode("ascii")

    @functools.cached_property
    def _digest(self) -> bytes:  # the parameters are frozen: hashed once, not per peer
        return hashlib.sha256(self.context()).digest()

    def context_digest(self) -> bytes:
        """SHA-256 of :meth:`context`: the short form bound into KDF infos and AEAD data."""
        return self._digest

    def index(self, silo_id: str) -> int:
        """1-based position of ``silo_id`` in the cohort (its Shamir share index)."""
        try:
            return self.cohort.index(silo_id) + 1
        except ValueError:
            raise SecAggError(
                f"round {self.round_id}: silo {silo_id!r} is not in the cohort"
            ) from None

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> RoundParams:
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SecAggError(f"round parameters: not JSON ({exc})") from None
        if not isinstance(data, dict) or set(data) != set(_FIELDS):
            got = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise SecAggError(f"round parameters: expected the keys {sorted(_FIELDS)}, got {got}")
        if not isinstance(data["cohort"], list):
            raise SecAggError("round parameters: cohort must be a list of silo ids")
        return cls(**{**data, "cohort": tuple(data["cohort"])})
