"""Reading a stream of reports in batches (aggregator.report_batches.read_batches)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from aggregator.report_batches import read_batches


async def _sent(items: list[int]) -> AsyncIterator[int]:
    for i in items:
        await asyncio.sleep(0)  # as messages arrive: one at a time
        yield i


async def _batches(stream: AsyncIterator[int], size: int, linger_s: float) -> list[list[int]]:
    return [batch async for batch in read_batches(stream, size, linger_s)]


def test_a_stream_sent_whole_comes_in_full_batches_in_order() -> None:
    got = asyncio.run(_batches(_sent(list(range(300))), 128, 5.0))
    assert [len(b) for b in got] == [128, 128, 44]  # the last one without waiting 5 s
    assert [i for b in got for i in b] == list(range(300))


def test_a_client_waiting_for_its_ack_gets_it_after_the_linger() -> None:
    acked = asyncio.Event()

    async def one_then_wait() -> AsyncIterator[int]:
        yield 1
        await acked.wait()  # no second report before the first is acknowledged
        yield 2

    async def run() -> list[tuple[list[int], float]]:
        out = []
        start = time.monotonic()
        async for batch in read_batches(one_then_wait(), 128, 0.05):
            out.append((batch, time.monotonic() - start))
            acked.set()
        return out

    got = asyncio.run(asyncio.wait_for(run(), 10))
    assert [b for b, _ in got] == [[1], [2]]
    assert 0.04 <= got[0][1] < 5  # waited for more for about the linger, no longer


def test_a_broken_stream_raises_after_what_was_read() -> None:
    async def breaks() -> AsyncIterator[int]:
        yield 1
        yield 2
        raise ConnectionError("peer went away")

    async def run() -> list[list[int]]:
        out = []
        with pytest.raises(ConnectionError, match="peer went away"):
            async for batch in read_batches(breaks(), 128, 5.0):
                out.append(batch)
        return out

    assert asyncio.run(run()) == [[1, 2]]


def test_reading_ahead_is_bounded() -> None:
    read = 0

    async def counted() -> AsyncIterator[int]:
        nonlocal read
        for i in range(1000):
            read += 1
            yield i

    async def run() -> int:
        async for _ in read_batches(counted(), 10, 5.0):
            await asyncio.sleep(0.01)  # a slow batch: the reader must not run ahead
            return read
        return -1

    assert asyncio.run(run()) <= 2 * 10 + 1
