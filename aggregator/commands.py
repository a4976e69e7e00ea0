"""Wake-ups for command streams.

Commands themselves are durable rows in the store; this hub only tells an
open stream that a silo has something new, so streams block on a condition
instead of polling.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable

__all__ = ["CommandHub"]


class CommandHub:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._version: dict[str, int] = defaultdict(int)
        self._closed = False

    def notify(self, silos: Iterable[str]) -> None:
        with self._cond:
            for s in silos:
                self._version[s] += 1
            self._cond.notify_all()

    def version(self, silo: str) -> int:
        with self._cond:
            return self._version[silo]

    def wait(self, silo: str, seen: int, timeout: float | None = None) -> int:
        """Block until the silo's version moves past ``seen``, the hub closes, or timeout."""
        with self._cond:
            self._cond.wait_for(
                lambda: self._closed or self._version[silo] != seen, timeout=timeout
            )
            return self._version[silo]

    def wake_all(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
