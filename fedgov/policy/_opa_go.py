"""OPA's own Go evaluator, in-process: the ``opa-go`` engine.

``opa-golib-python-bindings`` (import name ``opa_bindings``) embeds OPA's
``rego`` package (OPA 1.x, Rego v1 syntax) through a C shared library. Its
metadata asks for Python >= 3.14, but the wheel is ``py3-none`` (ctypes only)
and runs on 3.11; it is installed apart from the locked set, with hashes::

    pip install --no-deps --ignore-requires-python --require-hashes -r requirements/opa-go.txt

:func:`compile_on_opa` loads a bundle's data and modules into a new OPA
engine and compiles them (OPA compiles all modules when the first query is
prepared, so a trial query forces it); what OPA rejects becomes a
:class:`~fedgov.errors.PolicyError` at the file and line OPA names.
:class:`OpaGoEngine` decides with it: ``data.fedgov.decision`` is evaluated
with the input, and whatever goes wrong (an evaluation error, an undefined
decision, a decision of the wrong shape) is a fail-closed deny whose reason
says what, at which file and line when OPA says. Each thread gets its own OPA
engine (the bindings serialise evaluations per engine behind a lock).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fedgov.decision import DECISION_PATH, Decision, fail_closed, parse_decision_document
from fedgov.errors import ConfigError, PolicyError
from fedgov.policy._bundle import Bundle, check_decision_rule, load_bundle
from fedgov.policy._rego_input import InputError, object_input

__all__ = [
    "INSTALL_HINT",
    "OpaGoEngine",
    "compile_on_opa",
    "locate",
    "opa_bindings",
    "parse_opa_errors",
]

logger = logging.getLogger(__name__)

INSTALL_HINT = (
    "install OPA's Go engine with `pip install --no-deps --ignore-requires-python"
    " --require-hashes -r requirements/opa-go.txt` (the opa-go extra)"
)

_DOCUMENT = DECISION_PATH.removeprefix("data.")
# "policy.rego:12: rego_unsafe_var_error: var y is unsafe" inside OPA's error text; a
# parse error goes on with the source line and a caret under the column:
# "\n\t  input.x == )\n\t             ^"
_LOCATED = re.compile(
    r"(?P<file>[^\s:]+):(?P<line>\d+): (?P<message>\w+_error: [^\n]*)"
    r"(?:\n\t[^\n]*\n\t(?P<caret> *)\^)?"
)


def opa_bindings() -> Any:
    """The ``opa_bindings`` module; a ConfigError saying how to install it when missing."""
    try:
        import opa_bindings  # type: ignore[import-untyped, unused-ignore]
    except ImportError as exc:
        raise ConfigError(
            f"the opa-go policy engine is not installed ({exc}); {INSTALL_HINT}"
        ) from None
    return opa_bindings


def parse_opa_errors(text: str) -> list[tuple[str, int, int | None, str]]:
    """``(module name, line, column or None, message)`` of each located error in OPA's ``text``."""
    return [
        (
            m["file"],
            int(m["line"]),
            None if m["caret"] is None else len(m["caret"]) + 1,
            m["message"],
        )
        for m in _LOCATED.finditer(text)
    ]


def locate(text: str, bundle: Bundle) -> tuple[str, int | None, int | None, str]:
    """``(file shown to the user, line, column, message)`` of OPA's first located error.

    The file is the bundle file when OPA names one of its modules; otherwise
    the bundle folder, no line, and OPA's whole message.
    """
    errors = parse_opa_errors(text)
    for name, line, column, message in errors:
        if name in bundle.modules or name in bundle.tests:
            extra = f" (and {len(errors) - 1} more error(s))" if len(errors) > 1 else ""
            return bundle.file(name), line, column, message + extra
    return str(bundle.path), None, None, text.strip()


def _policy_error(exc: Exception, bundle: Bundle) -> PolicyError:
    file, line, column, message = locate(getattr(exc, "message", str(exc)), bundle)
    return PolicyError(f"OPA: {message}", file=file, line=line, column=column)


def compile_on_opa(bundle: Bundle, *, with_tests: bool = False) -> Any:
    """A new ``opa_bindings.OpaEngine`` holding the bundle, compiled; PolicyError if OPA refuses.

    Module names are the bundle's relative paths, so OPA's messages name them.
    """
    bindings = opa_bindings()
    engine = bindings.OpaEngine()
    try:
        if bundle.data:
            engine.add_data(bundle.data)
        sources = {**bundle.modules, **(bundle.tests if with_tests else {})}
        for name, text in sources.items():
            engine.add_policy(name, text)
        engine.eval_query("true")  # OPA compiles every module when it prepares a query
    except bindings.OpaError as exc:
        engine.close()
        raise _policy_error(exc, bundle) from None
    except BaseException:
        engine.close()
        raise
    return engine


class OpaGoEngine:
    """Evaluate a bundle in-process on OPA's Go evaluator; see the module docstring."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.digest: str = bundle.digest
        self._bindings = opa_bindings()
        self._local = threading.local()
        self._engines: list[Any] = []
        self._lock = threading.Lock()
        self._local.engine = self._new_engine()  # PolicyError when OPA refuses the bundle
        check_decision_rule(bundle)

    @classmethod
    def from_bundle(cls, path: str | Path) -> OpaGoEngine:
        """Load and compile a bundle on OPA; raise :class:`PolicyError` naming file and line."""
        engine = cls(load_bundle(path))
        logger.info(
            "policy bundle %s loaded on OPA (Go), digest %s", engine.bundle.path, engine.digest
        )
        return engine

    def _new_engine(self) -> Any:
        engine = compile_on_opa(self.bundle)
        with self._lock:
            self._engines.append(engine)
        return engine

    def _engine(self) -> Any:
        engine = getattr(self._local, "engine", None)
        if engine is None:
            logger.debug(
                "compiling bundle %s on OPA for thread %s", self.digest, threading.get_ident()
            )
            engine = self._local.engine = self._new_engine()
        return engine

    def close(self) -> None:
        """Release the OPA engines of every thread."""
        with self._lock:
            engines, self._engines = self._engines, []
        for engine in engines:
            engine.close()

    def __enter__(self) -> OpaGoEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def evaluate(self, input: Mapping[str, Any]) -> Decision:  # "input" as in Rego
        """Decide on ``input``; never raises, fails closed instead."""
        digest = self.digest
        try:
            plain = object_input(input)
            doc = self._engine().eval_document(_DOCUMENT, plain)
        except InputError as exc:
            return fail_closed(f"invalid input: {exc}", bundle_digest=digest)
        except self._bindings.OpaUndefinedError:
            return fail_closed(
                f"{DECISION_PATH} is undefined for this input (no rule body matched)",
                bundle_digest=digest,
            )
        except self._bindings.OpaError as exc:
            file, line, _, message = locate(exc.message, self.bundle)
            where = f"{file}:{line}: " if line is not None else ""
            return fail_closed(f"evaluation error: {where}{message}", bundle_digest=digest)
        except PolicyError as exc:  # a thread's first compile failed (it compiled before)
            return fail_closed(f"OPA could not compile the bundle: {exc}", bundle_digest=digest)
        except Exception as exc:  # the engine must not take the caller down
            logger.exception("unexpected error evaluating bundle %s on OPA", digest)
            return fail_closed(
                f"internal error in the OPA engine ({type(exc).__name__})", bundle_digest=digest
            )
        try:
            return parse_decision_document(doc, bundle_digest=digest)
        except ValueError as exc:
            return fail_closed(str(exc), bundle_digest=digest)
