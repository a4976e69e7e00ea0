"""The records of secure aggregation rounds as the store keeps them (see :mod:`._rounds`)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ReleaseRecord", "RoundRecord"]


@dataclass(frozen=True)
class RoundRecord:
    round_id: str
    model_id: str
    period_start_ms: int
    period_end_ms: int
    part: str
    params: str  # fedgov.secagg.RoundParams JSON
    layout: str  # fedgov.secagg.layout.Layout JSON
    stage: int  # 1..4 while open: the stage whose messages are being collected
    status: str  # open | completed | failed
    reason: str
    opened_ms: int
    deadline_ms: int  # of the current stage
    survivors: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReleaseRecord:
    """What release control let out of one round, for one model version."""

    round_id: str
    model_id: str
    model_version: str
    period_start_ms: int
    period_end_ms: int
    part: str
    silos: tuple[str, ...]
    k: int
    stats: bytes  # fedgov.v1.WindowStats; withheld cells are 0
    withheld_json: str
    released_unix_ms: int
