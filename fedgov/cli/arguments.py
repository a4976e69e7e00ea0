"""Argument types and shared options for the `fedgov` parser.

Each flag's value is parsed and bounded once, by a type from this module. A bad
value is a usage error (exit 2) that names the flag and the accepted form or
range, raised by argparse before any file is read or any call is made. The bounds
are those the aggregator enforces (:mod:`fedgov.limits`), so a value the CLI accepts
is never refused by the server for its shape.
"""

from __future__ import annotations

import argparse
import inspect
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fedgov.cli import Verbs
from fedgov.limits import (
    duration_problem,
    glob_problem,
    identifier_problem,
    name_problem,
    time_problem,
)

if TYPE_CHECKING:
    from fedgov.tls import TlsFiles

__all__ = [
    "ADDRESS",
    "DIR",
    "DURATION",
    "PATH",
    "PORT",
    "Value",
    "add_actions",
    "add_common",
    "add_json",
    "add_option",
    "add_tls_options",
    "add_verb",
    "address",
    "count",
    "duration_ms",
    "glob",
    "identifier",
    "identifier_list",
    "name",
    "optional",
    "port",
    "positive_or_none",
    "since_ms",
    "threshold",
    "tls_files",
]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def _shown(text: str) -> str:
    """The value as a message shows it: quoted, and cut if long."""
    text = text.strip()
    return repr(text) if len(text) <= 40 else f"{text[:40]!r}... ({len(text)} characters)"


def _checked(problem: Callable[[str], str | None]) -> Callable[[str], str]:
    def convert(text: str) -> str:
        found = problem(text)
        if found:
            raise argparse.ArgumentTypeError(found)
        return text

    return convert


identifier = _checked(identifier_problem)
name = _checked(name_problem)
glob = _checked(glob_problem)


def optional(convert: Callable[[str], str]) -> Callable[[str], str]:
    """The same check, but an empty value (the flag's "no filter" default) passes."""

    def maybe(text: str) -> str:
        return convert(text) if text else text

    return maybe


def identifier_list(text: str) -> list[str]:
    """Comma-separated identifiers, e.g. ``EU-DE,US-NY``; at least one."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError("name at least one, comma-separated, like EU-DE,US-NY")
    for item in items:
        found = identifier_problem(item)
        if found:
            raise argparse.ArgumentTypeError(found)
    return items


def duration_ms(text: str) -> int:
    """'' -> 0; '90m', '2h', '7d', '1.5w' -> milliseconds, at most a century."""
    if not text:
        return 0
    m = _DURATION.fullmatch(text.strip())
    if not m:
        raise argparse.ArgumentTypeError(
            f"{_shown(text)} is not a duration: use a number and a unit (s, m, h, d, w), "
            "like 30s, 15m, 6h, 2d, 1w"
        )
    ms = float(m.group(1)) * _UNIT_MS[m.group(2)]  # a long digit string is inf, not an error
    if duration_problem(ms):
        raise argparse.ArgumentTypeError(
            f"{_shown(text)} is longer than 100 years: use at most 36500d (or 5214w)"
        )
    return int(ms)


def since_ms(text: str) -> int:
    """'' -> 0 (unset); a duration -> that long ago; an ISO 8601 time -> that instant."""
    if not text:
        return 0
    if _DURATION.fullmatch(text.strip()):
        # Further back than 1970 means every window: 1 ms, as 0 means "unset".
        return max(1, int(time.time() * 1000) - duration_ms(text))
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{_shown(text)}: use a duration like 30m, 2h, 7d or an ISO time like 2026-11-27T10:00"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    ms = int(dt.timestamp() * 1000)
    if time_problem(ms):
        raise argparse.ArgumentTypeError(
            f"{_shown(text)} is outside the times fedgov stores: "
            "give a time between 1970-01-01 and 9999-12-31"
        )
    return max(1, ms)


def count(low: int, high: int) -> Callable[[str], int]:
    """An integer between ``low`` and ``high`` inclusive."""

    def convert(text: str) -> int:
        digits = text.strip()
        if not re.fullmatch(r"[+-]?\d+", digits):
            raise argparse.ArgumentTypeError(f"{_shown(text)} is not a whole number")
        # Compared as text first: int() refuses strings of more than 4300 digits.
        value = int(digits) if len(digits) <= 20 else None
        if value is None or not low <= value <= high:
            shown = digits if len(digits) <= 20 else f"{digits[:20]}... ({len(digits)} digits)"
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {shown}")
        return value

    return convert


port = count(0, 65535)


def threshold(text: str) -> float:
    """A finite number >= 0, like a PSI threshold."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a number") from None
    if not 0.0 <= value < math.inf:  # NaN fails too
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {_shown(text)}")
    return value


def positive_or_none(text: str) -> float | None:
    """A finite number > 0, like a privacy parameter, or ``none`` to turn it off."""
    if text.strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{_shown(text)} is neither a number nor 'none'") from None
    if not 0.0 < value < math.inf:
        raise argparse.ArgumentTypeError(
            f"must be a finite number > 0, or 'none', got {_shown(text)}"
        )
    return value


def address(text: str) -> str:
    """A gRPC target: HOST:PORT (port 0..65535), [IPv6]:PORT, or a scheme like unix:PATH."""
    target = text.strip()
    if not target:
        raise argparse.ArgumentTypeError("empty: give HOST:PORT, like 127.0.0.1:50051")
    if len(target) > 1024:
        raise argparse.ArgumentTypeError(f"{len(target)} characters long, the limit is 1024")
    if "://" in target or target.startswith("unix:"):
        return target
    host, colon, port = target.rpartition(":")
    if colon and host and port.isdigit() and int(port) > 65535:
        raise argparse.ArgumentTypeError(f"{_shown(target)}: a port is 0..65535")
    return target


@dataclass(frozen=True)
class Value:
    """What an option takes: how ``--help`` names it, and how its text is read."""

    metavar: str
    convert: Callable[[str], Any] = str


ADDRESS = Value("HOST:PORT", address)
DURATION = Value("DURATION", duration_ms)
PORT = Value("PORT", port)
DIR = Value("DIR")
PATH = Value("PATH")


def add_option(
    p: argparse.ArgumentParser,
    flag: str,
    value: Value,
    help: str,
    *,
    default: Any = None,
    required: bool = False,
) -> None:
    """``flag VALUE``: an option with a value of the kind ``value``."""
    p.add_argument(
        flag,
        default=default,
        required=required,
        type=value.convert,
        metavar=value.metavar,
        help=help,
    )


def add_actions(verbs: Verbs, verb: str, help: str) -> Verbs:
    """Add ``verb`` as a family of actions (`fedgov VERB ACTION ...`); returns the parsers
    to add its actions to. The chosen action is ``args.<verb>_command``."""
    p = verbs.add_parser(verb, help=help)
    return p.add_subparsers(dest=f"{verb}_command", metavar="ACTION", required=True)


def add_verb(
    verbs: Verbs, name: str, run: Callable[[argparse.Namespace], int]
) -> argparse.ArgumentParser:
    """Add the verb (or action) ``name`` that ``run`` carries out; returns its parser.

    The texts are ``run``'s docstring, as click takes them: its first line is the
    one-line help (said lower-case, without the full stop), the paragraphs after
    it the description that ``--help`` prints.
    """
    summary, _, rest = inspect.cleandoc(run.__doc__ or "").partition("\n")
    first = summary.strip().removesuffix(".")
    p = verbs.add_parser(
        name, help=first[:1].lower() + first[1:], description=" ".join(rest.split()) or None
    )
    p.set_defaults(run=run)
    return p


def add_common(p: argparse.ArgumentParser) -> None:
    """-v/--verbose and -q/--quiet, on every verb."""
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    p.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")


def add_json(p: argparse.ArgumentParser) -> None:
    """--json, on every verb that answers with data."""
    p.add_argument("--json", action="store_true", help="print JSON for scripts instead of a table")


def add_tls_options(p: argparse.ArgumentParser) -> None:
    """--tls-dir and --identity: the mTLS identity of a verb that calls the aggregator."""
    add_option(
        p,
        "--tls-dir",
        DIR,
        "mTLS: folder with ca.pem and IDENTITY.pem/.key (from `fedgov certs init`); "
        "without it the call is plaintext and works only against an --insecure aggregator",
    )
    p.add_argument(
        "--identity",
        default="operator",
        type=identifier,
        help="certificate name in --tls-dir (default operator)",
    )


def tls_files(args: argparse.Namespace) -> TlsFiles | None:
    """The files :func:`add_tls_options` names (None without --tls-dir)."""
    from fedgov.tls import TlsFiles

    if not args.tls_dir:
        return None
    d = Path(args.tls_dir)
    return TlsFiles(d / "ca.pem", d / f"{args.identity}.pem", d / f"{args.identity}.key")
