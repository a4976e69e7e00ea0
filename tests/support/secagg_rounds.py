"""Secure-aggregation rounds run in process: a PKI for a cohort, parameters, and a
driver that relays every message as the aggregator would (optionally tampering)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fedgov.secagg import Advert, RoundParams, SiloRound, reconstruct
from fedgov.tls import init_trial_pki


def silo_ids(n: int) -> tuple[str, ...]:
    return tuple(f"S{i:02d}" for i in range(1, n + 1))


def make_cohort_pki(folder: Path, n: int) -> Path:
    init_trial_pki(folder, {s: None for s in silo_ids(n)})
    return folder


def params_for(n: int, t: int, length: int, **over: object) -> RoundParams:
    values: dict[str, object] = {
        "round_id": os.urandom(16).hex(),
        "model_id": "credit",
        "period": "2026-12-07T10:00:00Z/2026-12-07T11:00:00Z",
        "part": "EU-*",
        "cohort": silo_ids(n),
        "threshold": t,
        "length": length,
        "layout_digest": "sha256:" + "ab" * 32,
    }
    values.update(over)
    return RoundParams(**values)  # type: ignore[arg-type]


def silo_round(pki: Path, params: RoundParams, silo: str, ca: Path | None = None) -> SiloRound:
    return SiloRound(
        params,
        silo,
        (pki / f"{silo}.key").read_bytes(),
        (pki / f"{silo}.pem").read_bytes(),
        (ca or pki / "ca.pem").read_bytes(),
    )


@dataclass
class View:
    """Everything the aggregator stored or relayed in one round."""

    adverts: list[Advert] = field(default_factory=list)
    boxes: dict[str, dict[str, bytes]] = field(default_factory=dict)  # src -> dst -> ct
    masked: dict[str, bytes] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    answers: dict[str, dict[str, bytes]] = field(default_factory=dict)


def run_round(
    pki: Path,
    params: RoundParams,
    xs: Mapping[str, np.ndarray],
    *,
    drop_after_shares: Sequence[str] = (),
    relay: Callable[[list[Advert]], list[Advert]] = list,
    silos: Mapping[str, SiloRound] | None = None,
) -> tuple[np.ndarray, View, Mapping[str, SiloRound]]:
    """One full round (of ``silos`` if given); silos in ``drop_after_shares`` send no
    masked vector."""
    silos = silos or {s: silo_round(pki, params, s) for s in params.cohort}
    view = View(adverts=[silos[s].advertise() for s in params.cohort])
    relayed = relay(view.adverts)
    for s, r in silos.items():
        view.boxes[s] = r.share_keys(relayed)
    for s, r in silos.items():
        inbound = {src: out[s] for src, out in view.boxes.items() if src != s}
        if s not in drop_after_shares:
            view.masked[s] = r.masked_input(xs[s], inbound)
    view.dropped = sorted(drop_after_shares)
    survivors = sorted(view.masked)
    for s in survivors:
        view.answers[s] = silos[s].unmask(survivors, view.dropped)
    total = reconstruct(params, view.adverts, view.masked, view.dropped, view.answers)
    return total, view, silos
