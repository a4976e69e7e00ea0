"""The OPA sidecar backend: decisions from an OPA server over its REST API.

At start-up, and on :meth:`OpaEngine.reload`, the engine uploads the bundle
to OPA (:mod:`fedgov.policy._opa_upload`: data, modules, stale modules
removed). Each decision is one ``POST /v1/data/fedgov/decision`` with
``{"input": ...}`` (HTTP, timeouts and bounded retries:
:mod:`fedgov.policy._opa_http`; worst case a decision takes
``(retries + 1) * timeout`` plus a short backoff). Anything that goes wrong
while deciding (connection refused, a timeout, a status other than 200, a
body that is not JSON, no ``result``, a result that is not a decision)
becomes a fail-closed deny whose reason names the OPA URL; the shape of the
decision is checked by the same code as the embedded engine's. What goes
wrong while uploading raises :class:`~fedgov.errors.PolicyError`.

A reload that OPA rejects restores the previous bundle; if even that fails,
every decision fails closed until a reload succeeds.

Decisions and reloads exclude each other: a decision is labelled with the
digest of the bundle OPA held while it was made. Policies uploaded through
the REST API live in OPA's memory only; if the sidecar restarts, decisions
fail closed (undefined) until :meth:`OpaEngine.reload` is called.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fedgov.decision import (
    DECISION_PATH,
    Decision,
    _kind,
    fail_closed,
    parse_decision_document,
)
from fedgov.errors import PolicyError
from fedgov.policy._bundle import Bundle, check_decision_rule, load_bundle
from fedgov.policy._opa_http import OpaCallFailed, OpaHttp
from fedgov.policy._opa_upload import BundleUploader
from fedgov.policy._rego_input import InputError, object_input

__all__ = ["OpaEngine"]

logger = logging.getLogger(__name__)

_PACKAGE, _RULE = DECISION_PATH.removeprefix("data.").rsplit(".", 1)


class _Gate:
    """Decisions share it; a reload holds it alone (new decisions wait for it)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writer)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writer)
            self._writer = True
            self._cond.wait_for(lambda: not self._readers)
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class OpaEngine:
    """Decide with an OPA server; see the module docstring.

    ``url`` is OPA's base URL (``http://127.0.0.1:8181``); ``timeout`` bounds
    each HTTP request in seconds; ``retries`` is how many more attempts a call
    gets after a connection error, a timeout, or HTTP 502/503/504.
    """

    def __init__(
        self,
        bundle: Bundle,
        *,
        url: str = "http://127.0.0.1:8181",
        timeout: float = 1.0,
        retries: int = 2,
        token: str | None = None,
    ) -> None:
        self._http = OpaHttp(url, timeout=timeout, retries=retries, token=token)
        self._uploader = BundleUploader(self._http)
        self._gate = _Gate()
        self._broken = ""  # when set, every decision fails closed with this reason
        self.bundle = bundle
        try:
            check_decision_rule(bundle)
            self._uploader.upload(bundle, previous=None)
        except BaseException:
            self._http.close()
            raise

    @property
    def url(self) -> str:
        """OPA's base URL, without a trailing slash."""
        return self._http.url

    @property
    def timeout(self) -> float:
        return self._http.timeout

    @property
    def retries(self) -> int:
        return self._http.retries

    @classmethod
    def from_bundle(
        cls,
        path: str | Path,
        *,
        url: str = "http://127.0.0.1:8181",
        timeout: float = 1.0,
        retries: int = 2,
        token: str | None = None,
    ) -> OpaEngine:
        """Load a bundle and upload it to OPA; raise :class:`PolicyError` if either fails."""
        engine = cls(load_bundle(path), url=url, timeout=timeout, retries=retries, token=token)
        logger.info(
            "policy bundle %s uploaded to OPA at %s, digest %s",
            engine.bundle.path,
            engine.url,
            engine.digest,
        )
        return engine

    @property
    def digest(self) -> str:
        """The digest of the bundle OPA holds (see :func:`fedgov.policy.load_bundle`)."""
        return self.bundle.digest

    # --- lifecycle ---------------------------------------------------------------

    def healthy(self) -> bool:
        """Whether ``GET /health`` answers 200 within the timeout."""
        return self._http.healthy()

    def reload(self, path: str | Path | None = None) -> None:
        """Upload the bundle at ``path`` (default: the current bundle's folder, re-read).

        Raises :class:`PolicyError` when the bundle does not load or OPA
        rejects it; the previous bundle then keeps deciding (or, if it cannot
        be restored, every decision fails closed until a reload succeeds).
        """
        bundle = load_bundle(self.bundle.path if path is None else path)
        check_decision_rule(bundle)
        with self._gate.exclusive():
            previous = self.bundle
            try:
                self._uploader.upload(bundle, previous=previous)
            except PolicyError as exc:
                if self._uploader.changed:  # else OPA still holds the previous bundle
                    self._restore(previous, bundle, exc)
                raise
            self.bundle, self._broken = bundle, ""
        logger.info(
            "policy bundle %s reloaded into OPA at %s: %s -> %s",
            bundle.path,
            self.url,
            previous.digest,
            bundle.digest,
        )

    def _restore(self, previous: Bundle, rejected: Bundle, cause: PolicyError) -> None:
        try:
            self._uploader.upload(previous, previous=rejected)
        except PolicyError as exc:
            self._broken = (
                f"reloading {rejected.path} into OPA at {self.url} failed ({cause}) and the"
                f" previous bundle could not be restored ({exc}); reload a working bundle"
            )
            logger.error("%s", self._broken)
        else:
            logger.warning(
                "OPA at %s rejected %s; previous bundle restored", self.url, rejected.path
            )

    def close(self) -> None:
        """Close the HTTP session."""
        self._http.close()

    def __enter__(self) -> OpaEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- deciding ----------------------------------------------------------------

    def evaluate(self, input: Mapping[str, Any]) -> Decision:  # "input" as in Rego
        """Decide on ``input``; never raises, fails closed instead."""
        with self._gate.shared():
            digest = self.digest
            if self._broken:
                return fail_closed(self._broken, bundle_digest=digest)
            try:
                return self._decide(input, digest)
            except Exception as exc:  # the engine must not take the caller down
                logger.exception("unexpected error asking OPA at %s", self.url)
                return fail_closed(
                    f"internal error in the OPA client ({type(exc).__name__})", bundle_digest=digest
                )

    def _decide(self, input: Mapping[str, Any], digest: str) -> Decision:
        try:
            plain = object_input(input)
        except InputError as exc:
            return fail_closed(f"invalid input: {exc}", bundle_digest=digest)
        where = f"OPA at {self.url}/v1/data/{_PACKAGE.replace('.', '/')}/{_RULE}"
        try:
            client = self._http.client
            body = self._http.call(lambda: client.query_rule(plain, _PACKAGE, _RULE))
        except OpaCallFailed as exc:
            return fail_closed(f"{where}: {exc}", bundle_digest=digest)
        if not isinstance(body, dict):
            return fail_closed(
                f"{where} answered {_kind(body)}, expected an object {{result: ...}}",
                bundle_digest=digest,
            )
        if "result" not in body:
            return fail_closed(
                f"{DECISION_PATH} is undefined for this input ({where} gave no result: no rule"
                " body matched, a builtin failed, or OPA restarted and lost the uploaded"
                " policies; reload() uploads them again)",
                bundle_digest=digest,
            )
        try:
            return parse_decision_document(body["result"], bundle_digest=digest)
        except ValueError as exc:
            return fail_closed(str(exc), bundle_digest=digest)
