"""The embedded Rego engine, on regopy (rego-cpp).

A bundle is compiled once per thread into a regopy Bundle, with the query
``x := data.fedgov.decision`` (bound to a variable: a bare top-level ``false``
comes back undefined). rego-cpp interpreters must not be shared between
threads, so each thread builds its own interpreter and compiled bundle on
first use. Evaluation never raises: whatever goes wrong becomes a fail-closed
deny whose reason says what was wrong.

The input contract is in the docstring of :mod:`fedgov.policy`.

rego-cpp 1.x facts this module relies on: syntax errors raise a RegoError
whose text is an S-expression with byte offsets; some compile errors instead
give a Bundle whose ``ok()`` is false (querying it crashes the process), so
that is checked; evaluation errors come back either as a failed output or as
an error S-expression in place of the JSON result; a call to an unknown
function fails only when reached, so calls are checked at load; and some
valid Rego aborts the whole process inside the compiler (``with input as``
over a rule that uses any builtin or operator), so a bundle is first compiled
once in a child process.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import re
import subprocess
import sys
import threading
from collections.abc import Mapping, Set
from pathlib import Path
from typing import Any

import numpy as np
import regopy  # type: ignore[import-untyped]
from regopy import rego_shared as _rs

from fedgov.decision import DECISION_PATH, Decision, fail_closed, parse_decision_document
from fedgov.errors import PolicyError
from fedgov.policy._bundle import Bundle, check_decision_rule, function_calls, load_bundle, position

__all__ = [
    "UNDEFINED",
    "EvaluationError",
    "InputError",
    "RegoEngine",
    "compile_modules",
    "evaluate_query",
    "to_plain",
]

logger = logging.getLogger(__name__)

DECISION_QUERY = f"x := {DECISION_PATH}"
_INT64 = (-(2**63), 2**63 - 1)


class EvaluationError(Exception):
    """Evaluation failed inside rego-cpp; the message says why and where."""


class InputError(ValueError):
    """The input cannot be passed to the engine; the message names the field."""


# --- rego-cpp error S-expressions ------------------------------------------

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


def _policy_error(text: str, bundle: Bundle, sources: Mapping[str, str]) -> PolicyError:
    problems = list(dict.fromkeys(parse_errors(text)))  # rego-cpp repeats some errors
    located = [p for p in problems if p[1] in sources] or problems
    message, name, offset = located[0]
    more = f" (and {len(problems) - 1} more error(s))" if len(problems) > 1 else ""
    if name is not None and name in sources and offset is not None:
        line, column = position(sources[name], offset, byte_offset=True)
        return PolicyError(message + more, file=bundle.file(name), line=line, column=column)
    return PolicyError(message + more, file=str(bundle.path))


def _describe(text: str) -> str:
    return "; ".join(msg for msg, _, _ in parse_errors(text))


# --- compile and query -----------------------------------------------------


def new_interpreter() -> regopy.Interpreter:
    interp = regopy.Interpreter()
    interp.log_level = regopy.LogLevel.NONE  # otherwise errors go to stdout
    return interp


_PROBE = """
import json, sys, regopy
job = json.load(sys.stdin)
rego = regopy.Interpreter()
rego.log_level = regopy.LogLevel.NONE
try:
    if job["data"]:
        rego.add_data_json(job["data"])
    for name, text in job["modules"]:
        rego.add_module(name, text)
    rego.build(job["query"])
except regopy.RegoError:
    pass  # reported by the parent, with its location
"""


def _probe(bundle: Bundle, sources: Mapping[str, str], query: str) -> None:
    """Compile in a child process: rego-cpp aborts its process on some valid Rego."""
    job = {
        "data": json.dumps(bundle.data) if bundle.data else "",
        "modules": list(sources.items()),
        "query": query,
    }
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PolicyError(
            f"could not compile the bundle in a child process: {exc}", file=str(bundle.path)
        ) from None
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["no message"])[-1].strip()
        raise PolicyError(
            f"rego-cpp failed compiling the bundle (exit status {proc.returncode}: {detail})."
            " rego-cpp 1.5.2 aborts on `with input as ...` when the rule evaluated uses any"
            " builtin or operator; write the rules as functions of the input and call them"
            " (`verdict(inp)`), or mock data with `with data.x as ...`, which works",
            file=str(bundle.path),
        )


def compile_modules(
    bundle: Bundle, query: str, *, with_tests: bool = False, probe: bool = False
) -> tuple[regopy.Interpreter, regopy.Bundle]:
    """Add data and modules to a new interpreter and build ``query``.

    With ``probe``, compile in a child process first (see :func:`_probe`).
    Raises :class:`PolicyError` naming the file, line and column of the first error.
    """
    sources = dict(bundle.modules)
    if with_tests:
        sources.update(bundle.tests)
    if probe:
        _probe(bundle, sources, query)
    interp = new_interpreter()
    try:
        if bundle.data:
            interp.add_data_json(json.dumps(bundle.data))
        for name, text in sources.items():
            interp.add_module(name, text)
        compiled = interp.build(query)
    except regopy.RegoError as exc:
        raise _policy_error(str(exc.args[0] if exc.args else exc), bundle, sources) from None
    if not compiled.ok():
        # The build failed without raising; a plain query reports why.
        raise _policy_error(_failed_query_text(interp, query), bundle, sources)
    for call in function_calls(sources):
        if not interp.is_builtin(call.name):
            line, column = position(sources[call.module], call.offset)
            raise PolicyError(
                f"unknown function {call.name}(); rego-cpp has no such builtin and would"
                " treat the call as an error only when it is reached",
                file=bundle.file(call.module),
                line=line,
                column=column,
            )
    return interp, compiled


def _failed_query_text(interp: regopy.Interpreter, query: str) -> str:
    try:
        impl = _rs.rego_query(interp._impl, query)
    except regopy.RegoError as exc:
        return str(exc)
    try:
        return _output_text(impl)[1]
    finally:
        _rs.rego_free_output(impl)


def _output_text(impl: Any) -> tuple[bool, str]:
    """(ok, text); for a failed output the text is the error S-expressions."""
    if _rs.rego_output_ok(impl):
        return True, _rs.rego_output_string(impl)
    node = _rs.rego_output_node(impl)
    if not node:
        return False, "evaluation failed"
    parts = [
        _rs.rego_node_json(_rs.rego_node_get(node, i)) for i in range(_rs.rego_node_size(node))
    ]
    return False, "\n".join(parts) or "evaluation failed"


class _Undefined:
    def __repr__(self) -> str:
        return "undefined"


UNDEFINED: Any = _Undefined()


def evaluate_query(interp: regopy.Interpreter, target: regopy.Bundle | str) -> Any:
    """Run a compiled bundle (or a query string); return binding ``x`` or UNDEFINED.

    Raises :class:`EvaluationError` when rego-cpp reports an error.
    """
    # regopy's own wrappers json-decode an error S-expression (and crash on a
    # null output), so the C API is called directly and the output freed here.
    if isinstance(target, str):
        impl = _rs.rego_query(interp._impl, target)
    else:
        impl = _rs.rego_bundle_query(interp._impl, target._impl)
    if not impl:  # regopy checks for 0 but ctypes gives None; the reason is on the interpreter
        raise EvaluationError(
            _rs.rego_get_error(interp._impl) or "the Rego engine returned no output"
        )
    try:
        ok, text = _output_text(impl)
    finally:
        _rs.rego_free_output(impl)
    if not ok or text.lstrip().startswith("("):
        raise EvaluationError(_describe(text))
    if text.strip() == "undefined":
        return UNDEFINED
    doc = json.loads(text)
    results = doc if isinstance(doc, list) else [doc]
    if len(results) != 1:
        raise EvaluationError(f"the query gave {len(results)} results, expected one")
    return results[0].get("bindings", {}).get("x", UNDEFINED)


# --- input -----------------------------------------------------------------


def _child(path: str, key: Any) -> str:
    if isinstance(key, str) and re.fullmatch(r"[A-Za-z_]\w*", key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key) if isinstance(key, str) else key}]"


def to_plain(value: Any, path: str = "input") -> Any:
    """Convert ``value`` to JSON types (dict/list/str/int/float/bool/None).

    Numpy scalars and arrays become Python numbers and lists, tuples and sets
    lists, dates ISO-8601 strings. Raises :class:`InputError` naming the field
    for NaN, infinities, non-string keys, and types JSON cannot carry.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.ndarray):
        return [to_plain(v, f"{path}[{i}]") for i, v in enumerate(value.tolist())]
    if isinstance(value, np.generic):
        return to_plain(value.item(), path)
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise InputError(f"{path} is {value}, outside the 64-bit integer range")
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError(f"{path} is {value}; JSON cannot carry NaN or infinity, send null")
        return float(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InputError(f"{path} has a key {k!r} that is not a string")
            out[k] = to_plain(v, _child(path, k))
        return out
    if isinstance(value, (list, tuple)):
        return [to_plain(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Set):
        return [to_plain(v, f"{path}[{i}]") for i, v in enumerate(sorted(value, key=repr))]
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    raise InputError(f"{path} is a {type(value).__name__}, which JSON cannot carry")


# --- the engine ------------------------------------------------------------


class RegoEngine:
    """Evaluate a bundle in-process with rego-cpp; see the module docstring."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.digest: str = bundle.digest
        self._local = threading.local()
        self._local.state = compile_modules(bundle, DECISION_QUERY, probe=True)  # PolicyError
        check_decision_rule(bundle)

    @classmethod
    def from_bundle(cls, path: str | Path) -> RegoEngine:
        """Load and compile a bundle; raise :class:`PolicyError` naming file and line."""
        engine = cls(load_bundle(path))
        logger.info("policy bundle %s loaded, digest %s", engine.bundle.path, engine.digest)
        return engine

    def _state(self) -> tuple[regopy.Interpreter, regopy.Bundle]:
        state = getattr(self._local, "state", None)
        if state is None:
            logger.debug("compiling bundle %s for thread %s", self.digest, threading.get_ident())
            state = self._local.state = compile_modules(self.bundle, DECISION_QUERY)
        return state

    def evaluate(self, input: Mapping[str, Any]) -> Decision:  # "input" as in Rego
        """Decide on ``input``; never raises, fails closed instead."""
        digest = self.digest
        try:
            plain = to_plain(input)
            if not isinstance(plain, dict):
                return fail_closed(
                    f"input must be an object, not {type(input).__name__}", bundle_digest=digest
                )
            interp, compiled = self._state()
            interp.set_input(plain)
            doc = evaluate_query(interp, compiled)
        except InputError as exc:
            return fail_closed(f"invalid input: {exc}", bundle_digest=digest)
        except EvaluationError as exc:
            return fail_closed(f"evaluation error: {exc}", bundle_digest=digest)
        except Exception as exc:  # the engine must not take the caller down
            logger.exception("unexpected error evaluating bundle %s", digest)
            return fail_closed(
                f"internal error in the Rego engine ({type(exc).__name__})", bundle_digest=digest
            )
        if doc is UNDEFINED:
            return fail_closed(
                f"{DECISION_PATH} is undefined for this input (no rule body matched, or a"
                " builtin failed, e.g. a type error or a division by zero)",
                bundle_digest=digest,
            )
        try:
            return parse_decision_document(doc, bundle_digest=digest)
        except ValueError as exc:
            return fail_closed(str(exc), bundle_digest=digest)
