"""An append-only, hash-chained audit log (one JSON record per line).

Each record holds ``seq`` (0, 1, 2...), ``ts_ms``, ``kind``, the event's
fields, ``prev`` (the previous record's hash; 64 zeros for the first) and
``hash`` = sha256 of the record's canonical JSON without ``hash``. Editing,
deleting, inserting or reordering a record breaks the chain at that line,
which :func:`verify_chain` names. Appends are fsynced: an acknowledged event
survives a crash (``append`` returns after an fsync that covers its record;
concurrent appends share one, a group commit). A torn last line (crash
mid-write) is reported, never silently dropped.

This makes tampering *evident*, not impossible: whoever can rewrite the
whole file can rebuild the chain, or cut records off its end. What anchors
it is its head (:class:`AuditHead`, the last record's ``seq`` and ``hash``)
kept out of the writer's reach: an agent's head travels with each report and
the aggregator keeps every one; the aggregator signs checkpoints of its own
head (:mod:`fedgov.checkpoints`). :mod:`fedgov.anchors` checks a log against them.

One writer per file: :class:`AuditLog` numbers and links records under a lock
of its process, so two processes appending to one file would write the same
``seq`` twice and break the chain. Several aggregators on one store therefore
keep one chain each, in a file of their own, with a checkpoint key of their own
(``aggregator.replicas``); a silo keeps every replica's checkpoints, and each
log is verified against its own key's.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedgov.documents import nested_too_deep
from fedgov.errors import ConfigError

__all__ = ["GENESIS", "AuditHead", "AuditLog", "ChainReport", "record_hash", "verify_chain"]

GENESIS = "0" * 64
_RESERVED = {"seq", "ts_ms", "kind", "prev", "hash"}


def record_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class AuditHead:
    """Where a chain stood: its last record's ``seq`` and ``hash`` (records 0..seq)."""

    seq: int
    hash: str


class AuditLog:
    """Appends events to a chain file; safe to share between threads of one process."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # orders records: seq, prev, the line in the file
        self._sync_lock = threading.Lock()  # one fsync at a time, covering all lines written
        self._synced = 0  # records (seq < _synced) known to be on disk
        report = verify_chain(self.path) if self.path.exists() else None
        if report is not None and not report.ok:
            raise ConfigError(
                f"{self.path}: audit chain is broken at line {report.broken_line} "
                f"({report.reason}); refusing to append. Inspect it with `fedgov audit verify`."
            )
        self._seq = report.records if report else 0
        self._head = report.head if report else GENESIS

    @property
    def head(self) -> str:
        return self._head

    def position(self) -> AuditHead | None:
        """The head to anchor elsewhere (None while the log has no record)."""
        with self._lock:
            return AuditHead(self._seq - 1, self._head) if self._seq else None

    def append(self, kind: str, **fields: Any) -> dict[str, Any]:
        return self.append_many([(kind, fields)])[0]

    def append_many(self, events: Sequence[tuple[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
        """Append ``(kind, fields)`` events in order, as consecutive records written
        together, and return once all are on disk (one fsync for all of them)."""
        for _, fields in events:
            clash = _RESERVED & fields.keys()
            if clash:
                raise ValueError(f"audit fields may not be named {sorted(clash)}")
        if not events:
            return []
        records: list[dict[str, Any]] = []
        with self._lock:
            lines = []
            for kind, fields in events:
                record: dict[str, Any] = {
                    "seq": self._seq + len(records),
                    "ts_ms": int(time.time() * 1000),
                    "kind": kind,
                    **fields,
                    "prev": records[-1]["hash"] if records else self._head,
                }
                record["hash"] = record_hash(record)
                lines.append(
                    json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False)
                )
                records.append(record)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write("\n".join(lines) + "\n")
            self._seq += len(records)
            self._head = records[-1]["hash"]
        self._sync(records[-1]["seq"])
        return records

    def _sync(self, seq: int) -> None:
        """Return once record ``seq`` is on disk (group commit).

        Whoever takes the sync lock first fsyncs every line written by then:
        fsync writes out all of the file's data, whichever descriptor wrote it.
        Callers that wrote meanwhile find their record covered and return, so a
        burst of appends from many threads costs a few fsyncs, not one each.
        """
        with self._sync_lock:
            if seq < self._synced:
                return
            with self._lock:
                written = self._seq  # every line below is written (and closed)
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            self._synced = written


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    records: int
    head: str
    broken_line: int | None = None  # 1-based line number of the first bad record
    reason: str = ""
    # seq -> hash of the verified records whose seq the caller asked to keep
    kept: Mapping[int, str] = field(default_factory=dict)


def verify_chain(path: str | Path, *, keep: Collection[int] = ()) -> ChainReport:
    """Check every link; stop at the first broken one and say which and why.

    ``keep``: sequence numbers whose hashes the report returns (``kept``), so a
    caller can compare them with anchored heads without reading the file twice.
    """
    prev = GENESIS
    n = 0
    want = frozenset(keep)
    kept: dict[int, str] = {}
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        raise ConfigError(f"{path}: audit log not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory; pass the audit .jsonl file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the audit log: {exc.strerror or exc}") from None
    with fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return ChainReport(False, n, prev, lineno, f"not UTF-8 (byte {exc.start + 1})")
            if not line.strip():
                return ChainReport(False, n, prev, lineno, "empty line")
            if nested_too_deep(line):  # the parser would recurse past Python's limit
                return ChainReport(False, n, prev, lineno, "nested too deeply for an audit record")
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                return ChainReport(False, n, prev, lineno, f"not valid JSON ({exc.msg})")
            if not isinstance(rec, dict) or "hash" not in rec or "prev" not in rec:
                return ChainReport(False, n, prev, lineno, "not an audit record")
            if rec.get("seq") != n:
                return ChainReport(
                    False, n, prev, lineno, f"sequence {rec.get('seq')} where {n} was expected"
                )
            if rec["prev"] != prev:
                return ChainReport(
                    False, n, prev, lineno, "prev does not match the previous record's hash"
                )
            if record_hash(rec) != rec["hash"]:
                return ChainReport(False, n, prev, lineno, "content does not match its hash")
            prev = rec["hash"]
            if n in want:
                kept[n] = prev
            n += 1
    return ChainReport(True, n, prev, kept=kept)
