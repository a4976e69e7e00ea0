"""Aggregator storage: one interface, backends chosen by URL.

``create_store("path/to/fedgov.db")`` or ``"sqlite:///path"`` gives SQLite
(the default); ``"postgresql://USER:PASSWORD@HOST:PORT/DB"`` gives PostgreSQL
(``postgres://`` works too). Either creates its schema if it is missing, and
upgrades a database made by an older release.

One SQL layer serves both: ``_schema`` (the tables, written once), ``_dialect``
(what SQLite and PostgreSQL spell differently), ``_sql`` (what the queries need
from a backend), ``_reports``, ``_jobs``, ``_registry`` and ``_audit`` (the shared queries),
``_stored_values`` (values read out of stored metrics). The backends, ``_sqlite`` (+
``_sqlite_reports``) and ``_postgres``, hold their connections and their own
way of writing reports; ``_listen`` is PostgreSQL's listener for new commands
(several aggregators on one store, :mod:`aggregator.replicas`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from aggregator.store._base import (
    ENDED_JOB_STATES,
    JOB_TRANSITIONS,
    CentralDecisionRecord,
    CommandRecord,
    DecisionRecord,
    DriftRecord,
    InvalidTransition,
    JobRecord,
    MetricPoint,
    ModelVersionRecord,
    ReportRef,
    SiloApproval,
    SiloRecord,
    Store,
    metric_at,
)
from aggregator.store._listen import CommandListener
from aggregator.store._postgres import PostgresStore, redact_url
from aggregator.store._round_records import ReleaseRecord, RoundRecord
from aggregator.store._sqlite import SqliteStore
from fedgov.errors import ConfigError

__all__ = [
    "ENDED_JOB_STATES",
    "JOB_TRANSITIONS",
    "InvalidTransition",
    "ModelVersionRecord",
    "CentralDecisionRecord",
    "CommandListener",
    "CommandRecord",
    "DecisionRecord",
    "DriftRecord",
    "JobRecord",
    "MetricPoint",
    "PostgresStore",
    "ReleaseRecord",
    "ReportRef",
    "RoundRecord",
    "SiloApproval",
    "SiloRecord",
    "SqliteStore",
    "Store",
    "create_store",
    "metric_at",
    "redact_url",
    "sqlite_path",
]


def sqlite_path(url: str | Path) -> str | None:
    """The SQLite file a store URL names (a plain path or ``sqlite:///PATH``); None for a
    PostgreSQL URL. ConfigError for an empty URL or an unknown scheme."""
    text = str(url)
    if not text.strip():
        raise ConfigError("the store URL is empty; give a file path or a postgresql:// URL")
    if text.startswith(("postgresql://", "postgres://")):
        return None
    if text.startswith("sqlite:///"):
        return text[len("sqlite:///") :]
    if "://" in text:
        raise ConfigError(
            f"unknown store URL scheme in {redact_url(text)!r}; use a file path, "
            "sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DB"
        )
    return text


def create_store(url: str | Path) -> Store:
    """The store a URL names; a plain path is a SQLite file.

    Raises ConfigError for an unknown scheme or a database that cannot be reached.
    """
    text = sqlite_path(url)
    if text is None:
        return PostgresStore(str(url))
    try:
        return SqliteStore(text)
    except (sqlite3.Error, OSError) as exc:
        why = "is a directory" if Path(text).is_dir() else str(exc)
        raise ConfigError(
            f"{text}: cannot open it as a SQLite store ({why}); give the path of a fedgov "
            "SQLite database or of a file to create"
        ) from None
