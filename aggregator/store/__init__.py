"""Aggregator storage: one interface, backends chosen by URL.

``create_store("path/to/fedgov.db")`` or ``"sqlite:///path"`` gives SQLite
(the default). PostgreSQL arrives with issue 5 behind the same interface.
"""

from __future__ import annotations

from pathlib import Path

from aggregator.store._base import (
    CentralDecisionRecord,
    CommandRecord,
    DriftRecord,
    JobRecord,
    SiloRecord,
    Store,
)
from aggregator.store._sqlite import SqliteStore
from fedgov.errors import ConfigError

__all__ = [
    "CentralDecisionRecord",
    "CommandRecord",
    "DriftRecord",
    "JobRecord",
    "SiloRecord",
    "SqliteStore",
    "Store",
    "create_store",
]


def create_store(url: str | Path) -> Store:
    text = str(url)
    if text.startswith(("postgresql://", "postgres://")):
        raise ConfigError(
            f"{text.split('@')[-1]}: the PostgreSQL store is not available yet; "
            "use a SQLite path (the default)"
        )
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///") :]
    elif "://" in text:
        raise ConfigError(f"unknown store URL scheme in {text!r}; use a file path or sqlite:///PATH")
    return SqliteStore(text)
