"""Bounds on the identifiers, names, globs and times fedgov accepts from a user or a peer.

The CLI checks its flags with these rules (a usage error, exit 2) and the aggregator
checks every request with the same rules (INVALID_ARGUMENT), so an absurd value is
refused with a message that names the rule, never echoed back in full, never retried:

- an *identifier* (model id, version, silo id, jurisdiction, metric, report or
  command id): 1 to
  :data:`MAX_ID_CHARS` characters, letters, digits and ``. _ - : +``, starting with a
  letter or digit;
- a *name* (feature, sensitive attribute): 1 to
  :data:`MAX_NAME_CHARS` characters, no control characters (names come from data
  columns, which may hold spaces or accents);
- a jurisdiction *glob* (``EU-*``, comma-separated): up to :data:`MAX_GLOB_CHARS`
  characters, identifier characters plus ``* ? [ ] !``, commas and spaces;
- a *time*: unix milliseconds from 1970-01-01 to 9999-12-31 (:data:`MAX_TIME_MS`);
- a *duration*: 0 to 100 years (:data:`MAX_DURATION_MS`).

Each ``*_problem`` function returns None for an acceptable value, else what is wrong
with it, for the caller to prefix with the flag or field.
"""

from __future__ import annotations

import re

__all__ = [
    "MAX_DURATION_MS",
    "MAX_GLOB_CHARS",
    "MAX_ID_CHARS",
    "MAX_NAME_CHARS",
    "MAX_TIME_MS",
    "duration_problem",
    "glob_problem",
    "identifier_problem",
    "name_problem",
    "time_problem",
]

MAX_ID_CHARS = 128
MAX_NAME_CHARS = 256
MAX_GLOB_CHARS = 256
MAX_TIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last instant ISO 8601 writes
MAX_DURATION_MS = 100 * 365 * 86_400_000  # a century: longer than any window worth querying

_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]*")
_GLOB = re.compile(r"[A-Za-z0-9._:+\-*?\[\]!, ]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _too_long(value: str, limit: int) -> str | None:
    if len(value) > limit:
        return f"{len(value)} characters long, the limit is {limit}"
    return None


def identifier_problem(value: str) -> str | None:
    """What is wrong with an identifier, or None."""
    if not value:
        return "empty; give a value"
    too_long = _too_long(value, MAX_ID_CHARS)
    if too_long:
        return too_long
    if not _IDENTIFIER.fullmatch(value):
        return (
            f"{value!r} is not an identifier: use letters, digits and . _ - : +, "
            "starting with a letter or digit"
        )
    return None


def name_problem(value: str) -> str | None:
    """What is wrong with a feature or attribute name, or None."""
    if not value:
        return "empty; give a value"
    too_long = _too_long(value, MAX_NAME_CHARS)
    if too_long:
        return too_long
    if _CONTROL.search(value):
        return f"{value!r} holds control characters (a newline, tab or NUL...)"
    return None


def glob_problem(value: str) -> str | None:
    """What is wrong with a jurisdiction glob (empty: every jurisdiction), or None."""
    too_long = _too_long(value, MAX_GLOB_CHARS)
    if too_long:
        return too_long
    if not _GLOB.fullmatch(value):
        return (
            f"{value!r} is not a jurisdiction glob: use jurisdiction characters "
            "with * ? [ ] !, several globs separated by commas, like 'EU-*,US-NY'"
        )
    return None


def time_problem(ms: int) -> str | None:
    """What is wrong with a unix time in milliseconds (0: unset), or None."""
    if not 0 <= ms <= MAX_TIME_MS:
        return f"{ms} ms is outside 1970-01-01 .. 9999-12-31 (0 .. {MAX_TIME_MS} unix ms)"
    return None


def duration_problem(ms: int | float) -> str | None:
    """What is wrong with a duration in milliseconds, or None."""
    if not 0 <= ms <= MAX_DURATION_MS:
        got = ms if isinstance(ms, int) else f"{ms:.0f}"  # a float may be inf or nan
        return f"must be between 0 and 100 years (0 .. {MAX_DURATION_MS} ms), got {got} ms"
    return None
