"""Compiling and querying a bundle through regopy (rego-cpp), errors included.

:func:`compile_modules` adds a bundle's data and modules to a new interpreter
and builds a query; :func:`evaluate_query` runs it and returns binding ``x``
or :data:`UNDEFINED`. rego-cpp 1.x facts relied on: some compile errors give a
Bundle whose ``ok()`` is false (querying it crashes the process), so that is
checked; evaluation errors come back either as a failed output or as an error
S-expression in place of the JSON result; a call to an unknown function fails
only when reached, so calls are checked at compile time. regopy's own wrappers
mishandle the error outputs, so its C API is called directly here.
"""

from __future__ import annotations

import json
from typing import Any

import regopy  # type: ignore[import-untyped]
from regopy import rego_shared as _rs

from fedgov.errors import PolicyError
from fedgov.policy._bundle import Bundle, check_rego_v1, function_calls, position
from fedgov.policy._rego_errors import describe, policy_error
from fedgov.policy._rego_probe import compile_in_child

__all__ = [
    "UNDEFINED",
    "EvaluationError",
    "compile_modules",
    "evaluate_query",
    "new_interpreter",
]


class EvaluationError(Exception):
    """Evaluation failed inside rego-cpp; the message says why and where."""


def new_interpreter() -> regopy.Interpreter:
    interp = regopy.Interpreter()
    interp.log_level = regopy.LogLevel.NONE  # otherwise errors go to stdout
    return interp


def compile_modules(
    bundle: Bundle, query: str, *, with_tests: bool = False, probe: bool = False
) -> tuple[regopy.Interpreter, regopy.Bundle]:
    """Add data and modules to a new interpreter and build ``query``.

    With ``probe``, compile in a child process first
    (:func:`~fedgov.policy._rego_probe.compile_in_child`).
    Raises :class:`PolicyError` naming the file, line and column of the first error.
    """
    sources = dict(bundle.modules)
    if with_tests:
        sources.update(bundle.tests)
    check_rego_v1(bundle, with_tests=with_tests)
    if probe:
        compile_in_child(bundle, sources, query)
    interp = new_interpreter()
    try:
        if bundle.data:
            interp.add_data_json(json.dumps(bundle.data))
        for name, text in sources.items():
            interp.add_module(name, text)
        compiled = interp.build(query)
    except regopy.RegoError as exc:
        raise policy_error(str(exc.args[0] if exc.args else exc), bundle, sources) from None
    if not compiled.ok():
        # The build failed without raising; a plain query reports why.
        raise policy_error(_failed_query_text(interp, query), bundle, sources)
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
        raise EvaluationError(describe(text))
    if text.strip() == "undefined":
        return UNDEFINED
    doc = json.loads(text)
    results = doc if isinstance(doc, list) else [doc]
    if len(results) != 1:
        raise EvaluationError(f"the query gave {len(results)} results, expected one")
    return results[0].get("bindings", {}).get("x", UNDEFINED)
