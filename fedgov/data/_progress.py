"""A dependency-free progress bar on stderr for long scans.

It draws only when its stream is a terminal, and only once a scan has run
for ``delay`` seconds, so short scans, pipes, log files and CI stay quiet.
Redraws are throttled to ``interval`` seconds; the line is rewritten in
place with a carriage return and finished with a newline on close::

    with Progress(total=pf.metadata.num_rows, unit="rows", label="window.parquet") as bar:
        for chunk in chunks:
            bar.advance(chunk.num_rows)
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]

_UNITS = ("rows", "bytes")


def _human(n: float, unit: str) -> str:
    if unit == "bytes":
        for suffix, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
            if n >= scale:
                return f"{n / scale:.1f} {suffix}"
        return f"{n:.0f} B"
    for suffix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f}{suffix}"
    return f"{n:.0f}"


class Progress:
    """Progress of a scan of ``total`` rows or bytes (``None`` if unknown).

    ``enabled=None`` means "if ``stream`` is a terminal"; ``False`` never
    draws, ``True`` draws even to a pipe (tests). Nothing is written before
    ``delay`` seconds have passed.
    """

    def __init__(
        self,
        total: int | None,
        *,
        unit: str = "rows",
        label: str = "",
        stream: TextIO | None = None,
        enabled: bool | None = None,
        delay: float = 0.5,
        interval: float = 0.2,
        width: int = 24,
    ) -> None:
        if unit not in _UNITS:
            raise ValueError(f"unit must be one of {_UNITS}, got {unit!r}")
        self.total = total if total and total > 0 else None
        self.unit = unit
        self.label = label
        self.stream: TextIO = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.delay = delay
        self.interval = interval
        self.width = width
        self.done = 0
        self._start = time.monotonic()
        self._last_draw = -1.0
        self._drawn = False
        self._closed = False

    def advance(self, n: int) -> None:
        """``n`` more rows (or bytes) were read."""
        self.update(self.done + n)

    def update(self, done: int) -> None:
        """The scan has now read ``done`` rows (or bytes) in all."""
        self.done = done
        if not self.enabled or self._closed:
            return
        now = time.monotonic()
        if now - self._start < self.delay or now - self._last_draw < self.interval:
            return
        self._draw(now)

    def close(self) -> None:
        """Draw the final state (if anything was drawn) and end the line."""
        if self._closed:
            return
        self._closed = True
        if self._drawn:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()

    def render(self, now: float | None = None) -> str:
        """The bar as text, without the leading carriage return."""
        elapsed = max((time.monotonic() if now is None else now) - self._start, 1e-9)
        rate = f"{_human(self.done / elapsed, self.unit)}/s"
        head = f"{self.label} " if self.label else ""
        if self.total is None:
            return f"{head}{_human(self.done, self.unit)} {self.unit} {rate}"
        frac = min(self.done / self.total, 1.0)
        filled = int(frac * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        size = f"{_human(self.done, self.unit)}/{_human(self.total, self.unit)}"
        if self.unit == "rows":
            size += " rows"
        return f"{head}[{bar}] {frac * 100:3.0f}% {size} {rate}"

    def _draw(self, now: float) -> None:
        self._last_draw = now
        self._drawn = True
        self.stream.write("\r" + self.render(now) + "\x1b[K")
        self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
