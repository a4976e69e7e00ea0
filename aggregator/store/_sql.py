"""What the shared queries need from a backend: a dialect and three ways to run SQL.

The shared queries (:mod:`._reports`, :mod:`._jobs`, :mod:`._registry`) are
mixins over :class:`Connected`; a backend (SQLite, PostgreSQL) provides the
connections and transactions, and writes reports its own way. Statements are
written with ``?`` placeholders (see :mod:`._dialect`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar, Protocol

from aggregator.store._dialect import Dialect

__all__ = ["Connected", "Cursor", "Executor", "Row"]

Row = tuple[Any, ...]


class Cursor(Protocol):
    """The result of a statement: sqlite3's and psycopg's cursors both fit."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Executor(Protocol):
    """Runs ``?`` statements inside one transaction."""

    def execute(self, sql: str, params: Sequence[Any], /) -> Cursor: ...

    def executemany(self, sql: str, params: Sequence[Sequence[Any]], /) -> Any: ...


class Connected(ABC):
    """A connection contract: a dialect, one-statement reads, read and write transactions."""

    dialect: ClassVar[Dialect]

    @abstractmethod
    def _query(self, sql: str, args: Sequence[object] = (), *, binary: bool = False) -> list[Row]:
        """The rows of one statement, which reads one snapshot by itself (no transaction).

        ``binary``: the rows carry large payloads (PostgreSQL then fetches them
        in binary format; SQLite has only the one).
        """

    @abstractmethod
    def _read(self) -> AbstractContextManager[Executor]:
        """A read transaction, for reads of more than one statement."""

    @abstractmethod
    def _write(self) -> AbstractContextManager[Executor]:
        """A write transaction: committed when the block ends, rolled back on error."""
