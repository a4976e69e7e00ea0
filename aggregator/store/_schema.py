"""The aggregator's schema, written once; each dialect's DDL is made from it.

Columns have abstract types (``TEXT``, ``INT``: 64-bit, ``FLOAT``, ``BOOL``,
``BYTES``, ``ID``: an autoincrementing primary key, ``SEQ``: an insertion
counter) that :class:`~aggregator.store._dialect.Dialect` maps to its own.
A column marked ``only`` exists in that dialect alone; there is one such
difference (insertion order, see ``reports.seq``).

:func:`create_schema` brings any database up to this schema, idempotently: it
creates missing tables, adds columns that a database made by an older release
lacks, creates missing indexes, and fills the latest-report pointers of
reports stored before the pointer table existed. Column order matters to the
statements that insert without naming columns: new columns go last.
"""

from __future__ import annotations

from dataclasses import dataclass

from aggregator.store._dialect import Dialect
from aggregator.store._sql import Executor
from fedgov.report import Report

__all__ = [
    "DRIFT_COLS",
    "HEAD_COLS",
    "REPORT_COLS",
    "TABLES",
    "Column",
    "Index",
    "Table",
    "create_schema",
    "ddl",
]


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # TEXT | INT | FLOAT | BOOL | BYTES | ID | SEQ
    nullable: bool = False
    default: str | None = None  # an SQL literal
    only: str | None = None  # a dialect name: the column exists there alone


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    indexes: tuple[Index, ...] = ()

    def columns_in(self, dialect: Dialect) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.only in (None, dialect.name))


def _text(*names: str) -> tuple[Column, ...]:
    return tuple(Column(n, "TEXT") for n in names)


def _int(*names: str) -> tuple[Column, ...]:
    return tuple(Column(n, "INT") for n in names)


TABLES: tuple[Table, ...] = (
    Table(
        "silos",
        _text("silo_id", "jurisdiction", "policy_bundle_digest")
        + _int("registered_ms", "last_seen_ms"),
        ("silo_id",),
    ),
    # The jurisdiction an operator approved for a silo whose certificate states none
    # (`fedgov silo approve`); one row per silo, each change audited by the caller.
    Table(
        "silo_approvals",
        _text("silo_id", "jurisdiction", "approved_by", "reason") + _int("approved_ms"),
        ("silo_id",),
    ),
    Table(
        "silo_models",
        _text("silo_id", "model_id", "model_version", "spec_digest"),
        ("silo_id", "model_id", "model_version"),
    ),
    Table(
        "specs",
        _text("spec_digest", "model_id", "model_version", "spec_json"),
        ("spec_digest",),
    ),
    Table(
        "reports",
        (
            Column("report_id", "TEXT"),
            # Insertion order, the last tie-break of "newest": SQLite's rowid does it there.
            Column("seq", "SEQ", only="postgresql"),
            *_text("silo_id", "jurisdiction", "model_id", "model_version", "spec_digest"),
            *_int("window_start_ms", "window_end_ms", "received_ms"),
            Column("allow", "BOOL"),
            # JSON of rows written before payload_pb; '' since.
            Column("payload", "TEXT"),
            # The serialized fedgov.v1.Report (fedgov.wire.report_to_bytes).
            Column("payload_pb", "BYTES", nullable=True),
        ),
        ("report_id",),
        (
            Index("reports_by_model", ("model_id", "model_version", "silo_id", "window_end_ms")),
            Index("reports_by_model_time", ("model_id", "window_end_ms")),
        ),
    ),
    # The newest report of each (silo, model, version): newest window_end_ms, then
    # received_ms, then the later insert. add_report keeps it in its transaction.
    Table(
        "latest_reports",
        _text("silo_id", "model_id", "model_version", "report_id")
        + _int("window_end_ms", "received_ms")
        # reports.seq of the report; SQLite's writer is serialized, so there the later
        # insert wins by the order of the upserts.
        + (Column("seq", "INT", only="postgresql"),),
        ("silo_id", "model_id", "model_version"),
    ),
    Table(
        "feature_drift",
        _text("report_id", "silo_id", "jurisdiction", "model_id", "model_version", "feature")
        + (
            Column("psi", "FLOAT"),
            Column("psi_pvalue", "FLOAT", nullable=True),
            Column("window_end_ms", "INT"),
        ),
        ("report_id", "feature"),
        (Index("drift_by_time", ("window_end_ms", "psi")),),
    ),
    Table(
        "jobs",
        _text("job_id", "model_id", "model_version", "state", "reason")
        + _int("created_ms", "updated_ms")
        + (
            Column("detail", "TEXT", default="''"),
            Column("candidate_version", "TEXT", default="''"),
        ),
        ("job_id",),
        (Index("jobs_by_model", ("model_id", "model_version", "state")),),
    ),
    Table(
        "commands",
        _text("command_id", "job_id", "silo_id", "kind", "model_id", "model_version", "reason")
        + (
            Column("created_ms", "INT"),
            Column("status", "TEXT"),
            Column("message", "TEXT", default="''"),
            Column("acked_ms", "INT", nullable=True),
            Column("payload", "TEXT", default="''"),
        ),
        ("command_id",),
        (
            Index("commands_by_silo", ("silo_id", "status")),
            Index("commands_by_job", ("job_id",)),
        ),
    ),
    Table(
        "central_decisions",
        (Column("id", "ID"),)
        + _text("model_id", "model_version", "jurisdiction_group")
        + (
            Column("evaluated_ms", "INT"),
            Column("silos", "TEXT"),
            Column("rows", "INT"),
            Column("decision", "TEXT"),
            # "" for merged per-silo reports, "secure" for a released secure sum.
            Column("source", "TEXT", default="''"),
        ),
        indexes=(
            Index("central_by_subject", ("model_id", "model_version", "jurisdiction_group", "id")),
        ),
    ),
    Table(
        "model_versions",
        _text("model_id", "version", "status")
        + (
            Column("created_ms", "INT"),
            Column("spec_digest", "TEXT"),
            Column("lineage", "TEXT"),
            Column("artifact", "BYTES", nullable=True),
        ),
        ("model_id", "version"),
    ),
    Table(
        "model_aliases",
        _text("model_id", "alias", "version") + _int("set_ms"),
        ("model_id", "alias"),
    ),
    Table(
        "alias_history",
        (Column("id", "ID"),) + _text("model_id", "alias", "version") + _int("set_ms"),
    ),
    # Every audit head a silo's reports carried, append-only: a second hash for one
    # (silo, seq) is a new row beside the first, never an update (see _audit).
    Table(
        "audit_heads",
        (
            Column("silo_id", "TEXT"),
            Column("seq", "INT"),
            Column("hash", "TEXT"),
            Column("report_id", "TEXT"),
            Column("received_ms", "INT"),
        ),
        ("silo_id", "seq", "hash"),
    ),
    # Secure aggregation rounds (aggregator.secure_rounds): one row per round, the
    # messages silos sent in each stage (deleted when the round ends), and the released
    # sums. The raw sum of a round is never stored; only what release control let out.
    Table(
        "secagg_rounds",
        _text("round_id", "model_id")
        + _int("period_start_ms", "period_end_ms")
        + _text("part", "params", "layout")
        + (
            Column("stage", "INT"),
            Column("status", "TEXT"),
            Column("reason", "TEXT", default="''"),
            Column("opened_ms", "INT"),
            Column("deadline_ms", "INT"),
            Column("survivors", "TEXT", default="'[]'"),
            Column("dropped", "TEXT", default="'[]'"),
        ),
        ("round_id",),
        (Index("rounds_by_key", ("model_id", "period_start_ms", "part", "status")),),
    ),
    Table(
        "secagg_messages",
        (
            Column("round_id", "TEXT"),
            Column("stage", "INT"),
            Column("silo_id", "TEXT"),
            Column("payload", "BYTES"),
            Column("received_ms", "INT"),
        ),
        ("round_id", "stage", "silo_id"),
    ),
    Table(
        "secagg_releases",
        _text("round_id", "model_id", "model_version")
        + _int("period_start_ms", "period_end_ms")
        + _text("part", "silos_json")
        + (
            Column("k", "INT"),
            Column("stats", "BYTES"),
            Column("withheld_json", "TEXT"),
            Column("released_unix_ms", "INT"),
        ),
        ("round_id", "model_version"),
        (Index("releases_by_model", ("model_id", "model_version", "period_start_ms")),),
    ),
    # The signed checkpoints of the aggregator's own audit log (fedgov.checkpoints).
    Table(
        "audit_checkpoints",
        (
            Column("key_id", "TEXT"),
            Column("seq", "INT"),
            Column("head", "TEXT"),
            Column("time_ms", "INT"),
            Column("signature", "BYTES"),
        ),
        ("key_id", "seq"),
    ),
    # Which replica's audit chain each checkpoint key signs (aggregator.replicas).
    Table(
        "replica_keys",
        (Column("key_id", "TEXT"), *_text("replica"), *_int("first_ms")),
        ("key_id",),
    ),
)

KEY_COLS = "report_id, silo_id, jurisdiction, model_id, model_version"
"""The columns that name a report, first in ``reports`` and ``feature_drift`` alike."""

REPORT_COLS = (
    f"{KEY_COLS}, spec_digest, window_start_ms, window_end_ms, received_ms, allow, payload, "
    "payload_pb"
)
"""The columns of ``reports`` that a writer fills (``seq`` fills itself)."""

DRIFT_COLS = f"{KEY_COLS}, feature, psi, psi_pvalue, window_end_ms"


def report_key(r: Report) -> tuple[str, str, str, str, str]:
    """A report's values of :data:`KEY_COLS`, in their order."""
    return (r.report_id, r.silo_id, r.jurisdiction, r.model_id, r.model_version)


HEAD_COLS = "silo_id, seq, hash, report_id, received_ms"
"""The columns of ``audit_heads``, in the order its writers fill them."""

_RESERVED = frozenset({"rows"})  # a keyword in PostgreSQL (window frames)


def _name(name: str) -> str:
    return f'"{name}"' if name in _RESERVED else name


def _column(table: Table, col: Column, dialect: Dialect) -> str:
    text = f"{_name(col.name)} {dialect.types[col.type]}"
    if table.primary_key == (col.name,):
        return text + " PRIMARY KEY"
    if col.type in ("ID", "SEQ"):
        return text  # identity columns are NOT NULL by themselves
    if not col.nullable:
        text += " NOT NULL"
    if col.default is not None:
        text += f" DEFAULT {col.default}"
    return text


def ddl(dialect: Dialect) -> list[str]:
    """CREATE TABLE and CREATE INDEX statements (IF NOT EXISTS) of the whole schema."""
    return [_create_table(t, dialect) for t in TABLES] + _create_indexes(dialect)


def _create_table(table: Table, dialect: Dialect) -> str:
    lines = [_column(table, c, dialect) for c in table.columns_in(dialect)]
    if len(table.primary_key) > 1:
        lines.append(f"PRIMARY KEY ({', '.join(table.primary_key)})")
    body = ",\n    ".join(lines)
    return f"CREATE TABLE IF NOT EXISTS {table.name} (\n    {body}\n)"


def _create_indexes(dialect: Dialect) -> list[str]:
    return [
        f"CREATE INDEX IF NOT EXISTS {ix.name} ON {t.name} ({', '.join(map(_name, ix.columns))})"
        for t in TABLES
        for ix in t.indexes
    ]


def create_schema(db: Executor, dialect: Dialect) -> None:
    """Bring the database up to this schema, in the caller's transaction (idempotent)."""
    for table in TABLES:
        db.execute(_create_table(table, dialect), ())
        _add_missing_columns(db, dialect, table)
    for statement in _create_indexes(dialect):
        db.execute(statement, ())
    if db.execute("SELECT 1 FROM latest_reports LIMIT 1", ()).fetchone() is None:
        db.execute(_backfill_latest(dialect), ())


def _add_missing_columns(db: Executor, dialect: Dialect, table: Table) -> None:
    """Columns added since an older release made the table (they are nullable or defaulted)."""
    have = {row[0] for row in db.execute(dialect.columns_sql, (table.name,)).fetchall()}
    for col in table.columns_in(dialect):
        if col.name in have:
            continue
        if col.type in ("ID", "SEQ") or not (col.nullable or col.default is not None):
            raise RuntimeError(
                f"table {table.name} lacks column {col.name}, which cannot be added in place"
            )
        db.execute(f"ALTER TABLE {table.name} ADD COLUMN {_column(table, col, dialect)}", ())


def _backfill_latest(dialect: Dialect) -> str:
    """Point at the newest report of each (silo, model, version): reports stored before
    the pointer table existed (nothing to do on a new database). One sort, no lookups."""
    latest = next(t for t in TABLES if t.name == "latest_reports")
    cols = ", ".join(c.name for c in latest.columns_in(dialect))
    return (
        f"INSERT INTO latest_reports ({cols}) SELECT {cols} FROM (SELECT {cols}, row_number() "
        "OVER (PARTITION BY silo_id, model_id, model_version ORDER BY window_end_ms DESC, "
        f"received_ms DESC, {dialect.insert_order} DESC) AS n FROM reports) AS newest WHERE n = 1"
    )
