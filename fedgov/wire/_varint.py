"""Reading packed varint fields fast: the bytes of many count vectors in a few numpy passes.

Decoding a report's counts through protobuf's repeated fields makes a Python
int of every cell; here the packed payloads are parsed out of the message's
serialization by protobuf itself (:func:`packed_counts`, :func:`report_counts`,
through ``fedgov.v1.PackedWindowStats``, which reads each count vector as
bytes) and all of them decoded at once (:func:`varints`). :func:`varints` returns None
when the bytes are not what it expects, so the caller falls back to the slow path.
"""

from __future__ import annotations

import numpy as np

from fedgov.v1 import packed_pb2, report_pb2

__all__ = ["packed_counts", "report_counts", "varints"]


def varints(payloads: list[bytes], ends: np.ndarray) -> np.ndarray | None:
    """The int64 values of concatenated packed varint payloads, or None if they are not
    exactly ``ends[-1]`` values split at ``ends`` (payload ``i`` ends value ``ends[i]``).

    Counts are mostly one-byte varints: every value starts as the last byte of its
    varint, and only the few continuation bytes (runs of bytes >= 0x80, each run
    the low 7-bit groups of the varint its next byte ends) are shifted in.
    """
    buf = np.frombuffer(b"".join(payloads), dtype=np.uint8)
    more = np.flatnonzero(buf >= 0x80)  # continuation bytes; every other byte ends a varint
    if buf.size - more.size != int(ends[-1]) or (buf.size and buf[-1] >= 0x80):
        return None
    # The varints that end inside each payload must be that field's values: as many as
    # its bytes, less its continuation bytes.
    byte_ends = np.fromiter(map(len, payloads), np.int64, len(payloads)).cumsum()
    if not np.array_equal(byte_ends - np.searchsorted(more, byte_ends), ends):
        return None
    if not more.size:  # every value fits in one byte
        return buf.astype(np.int64)
    owner = more - np.arange(more.size)  # varints ended before it: the one it belongs to
    first = np.empty(more.size, dtype=bool)  # the first byte of a run
    first[0] = True
    np.not_equal(owner[1:], owner[:-1], out=first[1:])
    runs = np.flatnonzero(first)
    size = np.empty_like(runs)  # continuation bytes per multi-byte varint
    np.subtract(runs[1:], runs[:-1], out=size[:-1])
    size[-1] = more.size - runs[-1]
    if int(size.max()) > 9:  # longer than an int64 varint (10 bytes)
        return None
    position = more - more[runs].repeat(size)  # of each byte in its varint
    low = (buf[more] & 0x7F).astype(np.uint64) << (7 * position).astype(np.uint64)
    multi = owner[runs]
    values = buf[buf < 0x80].astype(np.uint64)  # the last byte holds the highest bits
    values[multi] <<= (7 * size).astype(np.uint64)
    values[multi] |= np.bitwise_or.reduceat(low, runs)
    values.flags.writeable = False  # its int64 view is all that is handed out
    return values.view(np.int64)


def packed_counts(m: report_pb2.WindowStats) -> list[bytes]:
    """The packed payloads of every count vector of ``m`` (see :func:`_payloads`)."""
    return _payloads(packed_pb2.PackedWindowStats.FromString(m.SerializeToString()))


def report_counts(wire: bytes) -> list[bytes]:
    """The packed payloads of every count vector of the serialized ``fedgov.v1.Report``
    ``wire`` (see :func:`_payloads`), without serializing its statistics again."""
    return _payloads(packed_pb2.PackedReport.FromString(wire).stats)


def _payloads(p: packed_pb2.PackedWindowStats) -> list[bytes]:
    """In the decoder's order: each feature's counts and fine_counts, then each outcome
    table's counts, then each score table's. Should a vector not be one packed field
    (a sender may split it, or not pack it), its payload here holds only part of it,
    and :func:`varints`, told each vector's length, gives None: the caller falls back."""
    out: list[bytes] = []
    for f in p.features:
        out += (f.counts, f.fine_counts)
    out += [t.counts for t in p.outcomes]
    out += [t.counts for t in p.scores]
    return out
