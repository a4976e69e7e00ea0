"""Agent configuration documents, as a silo's YAML file holds them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fedgov.policy import default_bundle_path

#: ``privacy:`` of a test that compares exact figures: the default noise turned off.
EXACT = {"rho": None}


def agent_config(
    spec: Path | str,
    input: Path | str,
    *,
    state_dir: Path | str = "state",
    silo: str = "EU-DE",
    jurisdiction: str | None = None,
    address: str = "127.0.0.1:1",
    policy: Path | str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One model (``spec`` read from ``input``), an insecure aggregator at ``address``,
    the default bundle unless ``policy``; ``extra`` adds or replaces top-level keys."""
    return {
        "silo": {"id": silo, "jurisdiction": jurisdiction or silo},
        "aggregator": {"address": address, "insecure": True},
        "policy": str(policy if policy is not None else default_bundle_path()),
        "state_dir": str(state_dir),
        "models": [{"spec": str(spec), "input": str(input)}],
    } | extra


def silo_config(root: Path, silo: str, spec: Path | str, address: str, **kw: Any) -> dict[str, Any]:
    """:func:`agent_config` of a silo living under ``root / silo``: it reads ``in/``
    and keeps its state in ``state/`` there."""
    return agent_config(
        spec, root / silo / "in", state_dir=root / silo / "state", silo=silo, address=address, **kw
    )
