"""Reading packed varint fields fast: the bytes of many count vectors in a few numpy passes.

Decoding a report's counts through protobuf's repeated fields makes a Python
int of every cell; here the packed payloads are cut out of the message's own
serialization (:func:`packed_payloads`) and all of them decoded at once
(:func:`varints`). Either returns a value the caller can tell apart from a
result (a non-varint payload, None) when the bytes are not what it expects,
so the caller falls back to the slow path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["packed_payloads", "read_varint", "varints"]


def varints(payloads: list[bytes], ends: np.ndarray) -> np.ndarray | None:
    """The int64 values of concatenated packed varint payloads, or None if they are not
    exactly ``ends[-1]`` values split at ``ends`` (payload ``i`` ends value ``ends[i]``).
    """
    buf = np.frombuffer(b"".join(payloads), dtype=np.uint8)
    stops = np.flatnonzero(buf < 0x80)  # the last byte of each varint
    if stops.size != int(ends[-1]) or (buf.size and stops[-1] != buf.size - 1):
        return None
    # The varints that end inside each payload must be that field's values.
    byte_ends = np.cumsum([len(p) for p in payloads])
    if not np.array_equal(np.searchsorted(stops, byte_ends), ends):
        return None
    if stops.size == buf.size:  # every value fits in one byte
        return buf.astype(np.int64)
    starts = np.empty_like(stops)
    starts[:1] = 0
    starts[1:] = stops[:-1] + 1
    sizes = stops - starts + 1
    if int(sizes.max()) > 10:  # longer than an int64 varint
        return None
    low = buf & 0x7F
    values = low[starts].astype(np.uint64)
    for k in range(1, int(sizes.max())):  # the k-th byte of the values that have one
        more = sizes > k
        values[more] |= low[starts[more] + k].astype(np.uint64) << np.uint64(7 * k)
    return values.view(np.int64)


def packed_payloads(message: Any, fields: tuple[int, ...]) -> list[bytes]:
    """The payloads of the packed (length-delimited) fields numbered ``fields``, in that order.

    ``message`` is re-serialized, so the bytes are protobuf's own well-formed
    encoding (packed, whatever the sender used); an absent field gives b"".
    """
    data = message.SerializeToString()
    found: dict[int, bytes] = {}
    i, n = 0, len(data)
    while i < n:
        key = data[i]  # these messages' field numbers fit a one-byte key
        i += 1
        if key >= 0x80:
            key, i = read_varint(data, i - 1)
        kind = key & 7
        if kind == 0:
            while data[i] >= 0x80:
                i += 1
            i += 1
        elif kind == 2:
            size, i = read_varint(data, i)
            if key >> 3 in fields:
                found[key >> 3] = data[i : i + size]
            i += size
        elif kind == 1:
            i += 8
        elif kind == 5:
            i += 4
        else:  # groups: not in these messages
            return [b"\x80"] * len(fields)  # not a varint payload: the caller falls back
    return [found.get(f, b"") for f in fields]


def read_varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7
