"""Reading the YAML and JSON documents a user hands to fedgov, with errors that say where.

Every config, spec or input file the CLI reads goes through :func:`load_document`, so
the ways a file can be wrong give one kind of message (file, line, column, what to do)
and never a traceback:

- missing or unreadable file, or bytes that are not UTF-8 (the offset of the first bad byte);
- not valid YAML/JSON (line and column);
- nested deeper than :data:`MAX_DEPTH` (parsers recurse; a file of ``[[[[...`` would
  otherwise exhaust the stack);
- JSON constants ``NaN``/``Infinity`` (not JSON; every consumer expects finite numbers);
- a key written twice in one mapping (YAML and JSON parsers would keep the last one
  silently, so a setting a user believes is in force could be overridden further down).

:func:`did_you_mean` is the suggestion that schema errors attach to an unknown key.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fedgov.errors import ConfigError, GovernanceError

__all__ = [
    "MAX_DEPTH",
    "check_depth",
    "did_you_mean",
    "load_document",
    "nested_too_deep",
    "parse_document",
]

# Deeper than any document fedgov writes or reads (a spec is 5 levels deep) and far below
# Python's recursion limit, so the check itself and the parsers stay safe.
MAX_DEPTH = 64


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


# A JSON string, or an unterminated one running to the end of the text.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKET = re.compile(r"[\[\]{}]")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def nested_too_deep(text: str) -> bool:
    """Whether ``[``/``{`` nest deeper than :data:`MAX_DEPTH` outside JSON strings.

    At C speed (regular expressions and iterators, no Python loop per character):
    the aggregator asks it of every JSON field a peer sends.
    """
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(itertools.accumulate(map(_STEP.__getitem__, brackets), initial=0)) > MAX_DEPTH


def check_depth(text: str, *, source: str, error: type[GovernanceError] = ConfigError) -> None:
    """Refuse text whose brackets nest deeper than :data:`MAX_DEPTH` before a parser recurses.

    Counts ``[``/``{`` against ``]``/``}`` outside JSON strings; YAML block nesting is
    bounded by indentation and reaches the parser's own limit far later, flow nesting
    uses the same brackets.
    """
    if not nested_too_deep(text):
        return
    line = text.count("\n", 0, _first_too_deep(text)) + 1
    raise error(
        f"{source}:{line}: nested more than {MAX_DEPTH} levels deep; "
        "no fedgov document nests like this: check the file is the one you meant"
    )


def _first_too_deep(text: str) -> int:
    """The offset of the first bracket past :data:`MAX_DEPTH` (text that is too deep).

    The same scan as :func:`nested_too_deep`, with strings blanked rather than removed
    so that offsets still point into ``text``; only a refusal pays for it.
    """
    blanked = _STRING.sub(lambda m: " " * len(m[0]), text)
    brackets = list(_BRACKET.finditer(blanked))
    depths = itertools.accumulate(_STEP[m[0]] for m in brackets)
    return next(m.start() for m, d in zip(brackets, depths, strict=True) if d > MAX_DEPTH)


class DuplicateKey(ValueError):
    """A mapping names the same key twice (caught and reported with its location)."""


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKey(f"key '{key}' appears twice in one object; keep one")
        out[key] = value
    return out


@functools.cache  # one loader class, made on the first YAML read (yaml loads lazily)
def _yaml_loader() -> Any:
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key; SafeLoader reports it itself
                    break
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"key '{key}' appears twice in one mapping; keep one",
                        key_node.start_mark,
                    )
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number; write a finite number or null")


def parse_document(
    text: str, *, source: str, yaml_syntax: bool, error: type[ConfigError] = ConfigError
) -> Any:
    """Parse YAML (``yaml_syntax``) or strict JSON text; errors name ``source`` and line."""
    check_depth(text, source=source, error=error)
    try:
        if yaml_syntax:
            import yaml

            try:
                return yaml.load(text, Loader=_yaml_loader())  # noqa: S506 (a SafeLoader)
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
                problem = getattr(exc, "problem", None) or exc
                raise error(f"{source}{where}: not valid YAML: {problem}") from None
        try:
            return json.loads(
                text, parse_constant=_reject_constant, object_pairs_hook=_unique_pairs
            )
        except json.JSONDecodeError as exc:
            raise error(f"{source}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
        except ValueError as exc:  # from _reject_constant
            raise error(f"{source}: not valid JSON: {exc}") from None
    except RecursionError:  # a nesting check_depth cannot see (YAML anchors, indentation)
        raise error(f"{source}: nested too deeply to read") from None


def load_document(
    path: str | Path,
    *,
    what: str = "file",
    yaml_syntax: bool | None = None,
    error: type[ConfigError] = ConfigError,
) -> Any:
    """Read a YAML or JSON file as Python data.

    ``yaml_syntax`` None reads ``.yaml``/``.yml`` as YAML and anything else as JSON;
    ``what`` names the file in messages ("config file", "spec file"); ``error`` is the
    exception class raised (a :class:`ConfigError` subclass, exit code 2).
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise error(f"{p}: {what} not found") from None
    except IsADirectoryError:
        raise error(f"{p}: is a directory, not a {what}") from None
    except OSError as exc:
        raise error(f"{p}: cannot read {what}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise error(
            f"{p}:{line}: not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            f"save the {what} as UTF-8"
        ) from None
    if text.startswith("\ufeff"):  # a byte-order mark some editors write
        text = text[1:]
    if yaml_syntax is None:
        yaml_syntax = p.suffix.lower() in (".yaml", ".yml")
    return parse_document(text, source=str(p), yaml_syntax=yaml_syntax, error=error)
