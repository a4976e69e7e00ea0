"""The embedded Rego engine, on regopy (rego-cpp).

A bundle is compiled once per thread into a regopy Bundle, with the query
``x := data.fedgov.decision`` (bound to a variable: a bare top-level ``false``
comes back undefined). rego-cpp interpreters must not be shared between
threads, so each thread builds its own interpreter and compiled bundle on
first use. Evaluation never raises: whatever goes wrong becomes a fail-closed
deny whose reason says what was wrong.

The input contract is in the docstring of :mod:`fedgov.policy`.

The pieces: converting the input to JSON values (``_rego_input``), compiling
and querying through rego-cpp's C API (``_rego_query``), the first compile in
a child process, since some valid Rego aborts rego-cpp's process
(``_rego_probe``), and reading rego-cpp's error S-expressions
(``_rego_errors``). The names other modules use are re-exported here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import regopy  # type: ignore[import-untyped]

from fedgov.decision import DECISION_PATH, Decision, fail_closed, parse_decision_document
from fedgov.policy._bundle import Bundle, check_decision_rule, load_bundle
from fedgov.policy._rego_input import InputError, object_input, to_plain
from fedgov.policy._rego_query import UNDEFINED, EvaluationError, compile_modules, evaluate_query

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
            plain = object_input(input)
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
