"""What SQLite and PostgreSQL spell differently, in one small object per dialect.

Statements are written once, with ``?`` placeholders, and run as written on
SQLite; the PostgreSQL connection converts them (:func:`to_format`). The
schema (:mod:`aggregator.store._schema`) is written once with abstract types.
Everything else the two dialects do not share is a field here:

* placeholders: ``?`` (sqlite3) vs ``%s`` (psycopg, which then reads a literal
  ``%`` as ``%%``);
* column types: INTEGER, REAL, INTEGER for booleans, BLOB, ``INTEGER PRIMARY
  KEY AUTOINCREMENT`` vs BIGINT, DOUBLE PRECISION, BOOLEAN, BYTEA and identity
  columns;
* insertion order: SQLite numbers rows itself (``rowid``); PostgreSQL has no
  stable row number, so ``reports.seq`` is an identity column (a column of
  PostgreSQL's only, see the schema);
* row locks: PostgreSQL reads a row it is about to update ``FOR UPDATE``; a
  SQLite writer holds the database's write lock from ``BEGIN IMMEDIATE`` on;
* subject locks: ``open_job`` takes a transaction-scoped advisory lock per
  (model, version) on PostgreSQL, so that several aggregators on one database
  open one job; SQLite's ``BEGIN IMMEDIATE`` already serializes every writer;
* wake-ups: PostgreSQL tells the aggregators that share it which silos have new
  commands (``NOTIFY fedgov_commands``, sent on commit; :mod:`aggregator.replicas`
  listens); SQLite serves one aggregator, which wakes its own streams;
* code-point order: PostgreSQL sorts text by the database's collation unless
  told ``COLLATE "C"``; SQLite compares the bytes;
* membership: SQLite binds each value (``IN (?, ...)``, a bounded number per
  statement); PostgreSQL binds one array (``= ANY(?)``), one statement;
* introspection (for migrations): ``pragma_table_info`` vs
  ``information_schema.columns``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["COMMANDS_CHANNEL", "POSTGRESQL", "SQLITE", "Dialect", "to_format"]

COMMANDS_CHANNEL = "fedgov_commands"  # NOTIFY channel: payload is a silo id


@dataclass(frozen=True)
class Dialect:
    """The pieces of SQL one database spells its own way (see the module docstring)."""

    name: str
    types: Mapping[str, str]  # abstract column type (see _schema) -> this dialect's
    insert_order: str  # the column that numbers reports in insertion order
    for_update: str  # appended to a SELECT of rows the transaction will update
    subject_lock: str | None  # a statement locking one text key until commit, or none needed
    notify_commands: str | None  # a statement telling listeners these silos have commands
    bytewise: str  # appended to a text column in ORDER BY: compare code points
    columns_sql: str  # the column names of the table named by the one parameter
    max_in: int  # values bound per ``any_of`` condition (0: one array, no limit)

    def any_of(self, column: str, values: Sequence[object]) -> Iterator[tuple[str, list[object]]]:
        """``column`` is one of ``values``: conditions with their parameters, together
        covering every value (none for no values)."""
        if not values:
            return
        if not self.max_in:
            yield f"{column} = ANY(?)", [list(values)]
            return
        for i in range(0, len(values), self.max_in):
            chunk = list(values[i : i + self.max_in])
            yield f"{column} IN ({','.join('?' * len(chunk))})", chunk


SQLITE = Dialect(
    name="sqlite",
    types={
        "TEXT": "TEXT",
        "INT": "INTEGER",
        "FLOAT": "REAL",
        "BOOL": "INTEGER",
        "BYTES": "BLOB",
        "ID": "INTEGER PRIMARY KEY AUTOINCREMENT",
    },
    insert_order="rowid",
    for_update="",
    subject_lock=None,
    notify_commands=None,
    bytewise="",
    columns_sql="SELECT name FROM pragma_table_info(?)",
    max_in=500,
)

POSTGRESQL = Dialect(
    name="postgresql",
    types={
        "TEXT": "TEXT",
        "INT": "BIGINT",
        "FLOAT": "DOUBLE PRECISION",
        "BOOL": "BOOLEAN",
        "BYTES": "BYTEA",
        "ID": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "SEQ": "BIGINT GENERATED ALWAYS AS IDENTITY",
    },
    insert_order="seq",
    for_update=" FOR UPDATE",
    subject_lock="SELECT pg_advisory_xact_lock(hashtextextended(?, 0))",
    notify_commands=f"SELECT pg_notify('{COMMANDS_CHANNEL}', s) FROM unnest(?::text[]) AS s",
    bytewise=' COLLATE "C"',
    columns_sql=(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = ?"
    ),
    max_in=0,
)


@lru_cache(maxsize=1024)
def to_format(sql: str) -> str:
    """A statement written with ``?`` placeholders in psycopg's ``%s`` style.

    Statements never hold a ``?`` or ``%`` inside a string literal or a name
    (none do: values always travel as parameters).
    """
    return sql.replace("%", "%%").replace("?", "%s")
