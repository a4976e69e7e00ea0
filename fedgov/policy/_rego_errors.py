"""rego-cpp's error S-expressions, read into messages with file, line and column.

rego-cpp 1.x reports syntax and compile errors as S-expressions (``(error
(errormsg 12:...) ...)``) whose locations are byte offsets into a named
source. :func:`parse_errors` reads them; :func:`policy_error` turns the first
one located in the bundle into a :class:`~fedgov.errors.PolicyError` naming
the file, line and column, and :func:`describe` into one line of text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fedgov.errors import PolicyError
from fedgov.policy._bundle import Bundle, position

__all__ = ["describe", "parse_errors", "policy_error"]

_WS = re.compile(rb"\s+")
_ATOM = re.compile(rb"[^\s()|]+")
_STR = re.compile(rb"(\d+):")
_LOC = re.compile(rb"\|(\d+)\|(\d+)")


def parse_errors(text: str) -> list[tuple[str, str | None, int | None]]:
    """``(message, source name, byte offset)`` for each ``(error ...)`` in ``text``."""
    data = text.encode("utf-8")
    stack: list[str] = []
    errors: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None
    name: str | None = None  # a length-prefixed string just read, maybe a source name
    i = 0
    while i < len(data):
        if (m := _WS.match(data, i)) is not None:
            i = m.end()
            continue
        c = data[i : i + 1]
        if c == b"(":
            m = _ATOM.match(data, i + 1)
            head = m.group().decode() if m else ""
            i = m.end() if m else i + 1
            stack.append(head)
            if head == "error":
                cur = {"msg": None, "name": None, "off": None}
                errors.append(cur)
            name = None
        elif c == b")":
            if stack:
                stack.pop()
            name = None
            i += 1
        elif (m := _STR.match(data, i)) is not None:
            n = int(m.group(1))
            value = data[m.end() : m.end() + n].decode("utf-8", "replace")
            i = m.end() + n
            if cur is not None and stack and stack[-1] == "errormsg" and cur["msg"] is None:
                cur["msg"] = value
            name = value
        elif (m := _LOC.match(data, i)) is not None:
            i = m.end()
            if data[i : i + 1] == b":":  # inline source text of the given length
                i += 1 + int(m.group(2))
            if cur is not None and cur["name"] is None and name is not None:
                cur["name"], cur["off"] = name, int(m.group(1))
            name = None
        else:
            m = _ATOM.match(data, i)
            i = m.end() if m else i + 1
            name = None
    if not errors:
        return [(text.strip() or "unknown error", None, None)]
    return [(e["msg"] or "unknown error", e["name"], e["off"]) for e in errors]


def policy_error(text: str, bundle: Bundle, sources: Mapping[str, str]) -> PolicyError:
    problems = list(dict.fromkeys(parse_errors(text)))  # rego-cpp repeats some errors
    located = [p for p in problems if p[1] in sources] or problems
    message, name, offset = located[0]
    more = f" (and {len(problems) - 1} more error(s))" if len(problems) > 1 else ""
    if name is not None and name in sources and offset is not None:
        line, column = position(sources[name], offset, byte_offset=True)
        return PolicyError(message + more, file=bundle.file(name), line=line, column=column)
    return PolicyError(message + more, file=str(bundle.path))


def describe(text: str) -> str:
    return "; ".join(msg for msg, _, _ in parse_errors(text))
