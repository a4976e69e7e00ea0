"""Read the next chunk in a background thread while the caller folds this one."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

__all__ = ["read_ahead"]

T = TypeVar("T")
_DONE = object()


def read_ahead(produce: Iterator[T]) -> Iterator[T]:
    """Run ``produce`` in a background thread, one item ahead of the consumer.

    Reading and encoding (Arrow, GIL released) can then overlap with
    folding (numpy, GIL mostly released) on a core that is otherwise idle.
    At most two items are
    alive at once: the one the consumer holds and the one being read; the
    thread starts on the next only when the consumer asks for it.
    Exceptions are raised in the consumer; closing the iterator early stops
    the thread.
    """
    out: queue.Queue[object] = queue.Queue()
    permits = threading.Semaphore(1)  # items the thread may start reading
    stop = threading.Event()

    def run() -> None:
        try:
            while True:
                permits.acquire()
                if stop.is_set():
                    return
                item = next(produce, _DONE)
                out.put(item)
                if item is _DONE:
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            out.put(_Failure(exc))
        finally:
            close = getattr(produce, "close", None)
            if close is not None and stop.is_set():
                close()

    thread = threading.Thread(target=run, name="fedgov-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = out.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc.with_traceback(item.exc.__traceback__)
            permits.release()  # read the next one while this one is folded
            yield item  # type: ignore[misc]
            del item
    finally:
        stop.set()
        permits.release()
        thread.join()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
