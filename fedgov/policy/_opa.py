"""The OPA sidecar backend: decisions from an OPA server over its REST API.

At start-up, and on :meth:`OpaEngine.reload`, the engine uploads the bundle
to OPA: each top-level key of data.json with ``PUT /v1/data/{key}``, each
module with ``PUT /v1/policies/fedgov/{file}``; modules it uploaded before
that the bundle no longer has are deleted. Each decision is one
``POST /v1/data/fedgov/decision`` with ``{"input": ...}``. Anything that goes
wrong while deciding (connection refused, a timeout, a status other than 200,
a body that is not JSON, no ``result``, a result that is not a decision)
becomes a fail-closed deny whose reason names the OPA URL; the shape of the
decision is checked by the same code as the embedded engine's. What goes
wrong while uploading raises :class:`~fedgov.errors.PolicyError`.

HTTP goes through opa-python-client (``opa_client.OpaClient``, 3.x). What it
lacks, and how this module wraps it:

- It takes host and port, not a URL, and cannot add a path prefix; the URL
  is split here and one with a path is refused.
- Its timeout is per request (``timeout=``), which is what we want. Its
  retries are urllib3's, which never retry a POST after a read timeout or a
  5xx, so the client is built with ``retries=0`` and every call goes through
  one bounded loop here: ``retries`` more attempts after a connection error,
  a timeout, or HTTP 502/503/504, with a short backoff. Worst case, a
  decision takes ``(retries + 1) * timeout`` plus the backoff. (With urllib3
  retries at 0, requests reports a read timeout as a ConnectionError wrapping
  urllib3's ReadTimeoutError; :func:`_transport` looks inside to say "no answer".)
- Its policy upload (``update_policy_from_string``) rewrites v0 Rego to v1
  with a regular expression when OPA rejects it; that is turned off
  (``rego_compat=False``): what OPA evaluates must be the bytes the digest
  names. Bundles in v0 syntax need OPA started with ``--v0-compatible``.
- Its policy upload reports any status other than 200 as a parse error
  without the status, so upload errors are not retried on 503.
- Its data upload takes objects only; a top-level data.json value that is not
  an object is uploaded with ``requests`` directly.

OPA compiles all stored modules on every ``PUT /v1/policies``, so a module
that calls a function from a module not yet uploaded is rejected; uploads
repeat over the modules still pending until all are in or a pass makes no
progress. A reload that OPA rejects restores the previous bundle; if even
that fails, every decision fails closed until a reload succeeds.

Decisions and reloads exclude each other: a decision is labelled with the
digest of the bundle OPA held while it was made. Policies uploaded through
the REST API live in OPA's memory only; if the sidecar restarts, decisions
fail closed (undefined) until :meth:`OpaEngine.reload` is called.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

from fedgov.decision import (
    DECISION_PATH,
    Decision,
    _kind,
    fail_closed,
    parse_decision_document,
)
from fedgov.errors import ConfigError, PolicyError
from fedgov.policy._bundle import Bundle, check_decision_rule, load_bundle
from fedgov.policy._regopy import InputError, to_plain

if TYPE_CHECKING:
    import requests

__all__ = ["OpaEngine"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Policy ids this engine owns in OPA start with this; others are left alone.
POLICY_PREFIX = "fedgov/"
_PACKAGE, _RULE = DECISION_PATH.removeprefix("data.").rsplit(".", 1)
_RETRY_STATUS = frozenset({502, 503, 504})
_BACKOFF = 0.05  # seconds before the first retry; doubles, at most 1 s
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


class _Failed(Exception):
    """A call to OPA failed; the message is the reason for the fail-closed deny."""


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


def _split_url(url: str) -> tuple[str, int, bool]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"OPA url {url!r} must look like http://host:port")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(
            f"OPA url {url!r} has a path; opa-python-client cannot add a prefix to /v1,"
            " give scheme, host and port only"
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ConfigError(f"OPA url {url!r} has an invalid port") from None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return host, port, parts.scheme == "https"


def _errors() -> Any:
    """``opa_client.errors``; opa_client and requests are imported on first use, because
    opa_client's package imports aiohttp (together 0.2 s on every ``import fedgov.policy``)."""
    import opa_client.errors  # type: ignore[import-untyped]

    return opa_client.errors


def _opa_message(response: requests.Response | None) -> str:
    """``code: message`` from an OPA error body, or ''."""
    if response is None:
        return ""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    text = ": ".join(str(body[k]) for k in ("code", "message") if body.get(k))
    details = [
        str(e["message"])
        for e in body.get("errors") or []
        if isinstance(e, dict) and e.get("message")
    ]
    return "; ".join([text, *details]) if details else text


def _transport(exc: requests.RequestException, timeout: float) -> str:
    import requests
    from urllib3.exceptions import ReadTimeoutError

    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if isinstance(exc, requests.Timeout) or isinstance(reason, ReadTimeoutError):
        return f"no answer within {timeout:g}s"
    m = _ERRNO.search(str(exc))
    if m:
        return m.group(1).strip().lower()
    return f"connection failed ({type(exc).__name__})"


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
        if timeout <= 0:
            raise ConfigError(f"OPA timeout must be positive, not {timeout!r}")
        if retries < 0:
            raise ConfigError(f"OPA retries must be 0 or more, not {retries!r}")
        host, port, ssl = _split_url(url)
        check_decision_rule(bundle)
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        from opa_client import OpaClient  # imported here, not at the top: see _errors()

        self._client = OpaClient(
            host=host, port=port, ssl=ssl, token=token, retries=0, timeout=timeout
        )
        self._gate = _Gate()
        self._broken = ""  # when set, every decision fails closed with this reason
        self._changed = False  # whether _upload has sent anything that changes OPA
        self.bundle = bundle
        try:
            self._upload(bundle, previous=None)
        except BaseException:
            self._client.close_connection()
            raise

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
        return bool(self._client.check_health())

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
            self._changed = False
            try:
                self._upload(bundle, previous=previous)
            except PolicyError as exc:
                if self._changed:  # else OPA still holds the previous bundle
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
            self._upload(previous, previous=rejected)
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
        self._client.close_connection()

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
            plain = to_plain(input)
        except InputError as exc:
            return fail_closed(f"invalid input: {exc}", bundle_digest=digest)
        if not isinstance(plain, dict):
            return fail_closed(
                f"input must be an object, not {type(input).__name__}", bundle_digest=digest
            )
        where = f"OPA at {self.url}/v1/data/{_PACKAGE.replace('.', '/')}/{_RULE}"
        try:
            body = self._call(lambda: self._client.query_rule(plain, _PACKAGE, _RULE))
        except _Failed as exc:
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

    def _call(self, fn: Callable[[], T]) -> T:
        """``fn()`` with bounded retries; raise :class:`_Failed` with a short reason."""
        import requests

        attempts = self.retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                return fn()
            except requests.HTTPError as exc:
                status = exc.response.status_code if exc.response is not None else 0
                if status in _RETRY_STATUS and not last:
                    self._backoff(attempt)
                    continue
                detail = _opa_message(exc.response)
                tries = f" (after {attempts} attempts)" if status in _RETRY_STATUS else ""
                raise _Failed(f"HTTP {status}{tries}" + (f": {detail}" if detail else "")) from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                if not last:
                    self._backoff(attempt)
                    continue
                reason = _transport(exc, self.timeout)
                raise _Failed(f"{reason} (after {attempts} attempts)") from None
            except requests.JSONDecodeError:
                raise _Failed("answered with a body that is not JSON") from None
            except requests.RequestException as exc:
                raise _Failed(f"request failed ({type(exc).__name__})") from None
        raise AssertionError("unreachable")

    @staticmethod
    def _backoff(attempt: int) -> None:
        time.sleep(min(_BACKOFF * 2**attempt, 1.0))

    # --- uploading ---------------------------------------------------------------

    def _upload(self, bundle: Bundle, *, previous: Bundle | None) -> None:
        """Make OPA hold ``bundle``: its data, its modules, none of our others."""
        try:
            self._sync(bundle, previous)
        except PolicyError:
            raise
        except Exception as exc:  # opa-python-client reading an answer it did not expect
            logger.debug("uploading to OPA at %s failed", self.url, exc_info=True)
            raise PolicyError(
                f"unexpected answer from OPA at {self.url} while uploading"
                f" ({type(exc).__name__}: {exc})",
                file=str(bundle.path),
            ) from None

    def _sync(self, bundle: Bundle, previous: Bundle | None) -> None:
        try:
            listed = self._call(self._client.get_policies_list)
        except _Failed as exc:
            raise PolicyError(
                f"OPA at {self.url} is not usable: {exc}; start the sidecar first"
                " (or raise the timeout and retries)",
                file=str(bundle.path),
            ) from None
        self._changed = True
        ours = {str(i) for i in listed if str(i).startswith(POLICY_PREFIX)}
        wanted = {POLICY_PREFIX + name: name for name in bundle.modules}
        for key, value in bundle.data.items():
            self._put_data(bundle, key, value)
        pending = sorted(wanted)
        stale = sorted(ours - set(wanted))
        while pending:
            errors: dict[str, PolicyError] = {}
            for policy_id in pending:
                try:
                    self._put_policy(bundle, policy_id, wanted[policy_id])
                except _Rejected as exc:
                    errors[policy_id] = exc.error
            if errors and len(errors) == len(pending):
                if not stale:  # no progress and nothing left to clear away
                    raise errors[pending[0]]
                self._delete_policies(bundle, stale)  # an old module may conflict
                stale = []
            pending = sorted(errors)
        self._delete_policies(bundle, stale)
        if previous is not None:
            for key in sorted(set(previous.data) - set(bundle.data)):
                self._delete_data(bundle, key)

    def _put_policy(self, bundle: Bundle, policy_id: str, name: str) -> None:
        text = bundle.modules[name]
        endpoint = quote(policy_id, safe="/")
        try:
            self._call(
                lambda: self._client.update_policy_from_string(text, endpoint, rego_compat=False)
            )
        except _errors().RegoParseError as exc:
            names = {POLICY_PREFIX + n: n for n in bundle.modules}
            raise _Rejected(_compile_error(bundle, exc, names)) from None
        except _Failed as exc:
            raise PolicyError(
                f"could not upload to OPA at {self.url}: {exc}", file=bundle.file(name)
            ) from None

    def _put_data(self, bundle: Bundle, key: str, value: Any) -> None:
        endpoint = quote(key, safe="")
        try:
            if isinstance(value, dict):
                self._call(lambda: self._client.update_or_create_data(value, endpoint))
            else:  # opa-python-client uploads objects only
                self._call(lambda: self._put_json(f"data/{endpoint}", value))
        except _errors().RegoParseError as exc:
            raise PolicyError(
                f"OPA at {self.url} refused data.{key}: {exc}", file=bundle.file("data.json")
            ) from None
        except _Failed as exc:
            raise PolicyError(
                f"could not upload data.{key} to OPA at {self.url}: {exc}",
                file=bundle.file("data.json"),
            ) from None

    def _put_json(self, path: str, value: Any) -> None:
        import requests

        response = requests.put(
            f"{self._client.root_url}/{path}",
            json=value,
            headers=self._client.headers,
            timeout=self.timeout,
            cert=self._client.cert,
        )
        response.raise_for_status()

    def _delete_policies(self, bundle: Bundle, ids: list[str]) -> None:
        for policy_id in ids:
            endpoint = quote(policy_id, safe="/")

            def delete(endpoint: str = endpoint) -> Any:
                return self._client.delete_policy(endpoint)

            try:
                self._call(delete)
            except _errors().DeletePolicyError as exc:
                if exc.expression != "resource_not_found":
                    raise PolicyError(
                        f"OPA at {self.url} refused to delete policy {policy_id}: {exc.message}",
                        file=str(bundle.path),
                    ) from None
            except _Failed as exc:
                raise PolicyError(
                    f"could not delete policy {policy_id} from OPA at {self.url}: {exc}",
                    file=str(bundle.path),
                ) from None

    def _delete_data(self, bundle: Bundle, key: str) -> None:
        try:
            self._call(lambda: self._client.delete_data(quote(key, safe="")))
        except _errors().DeleteDataError as exc:
            if exc.expression != "resource_not_found":
                raise PolicyError(
                    f"OPA at {self.url} refused to delete data.{key}: {exc.message}",
                    file=str(bundle.path),
                ) from None
        except _Failed as exc:
            raise PolicyError(
                f"could not delete data.{key} from OPA at {self.url}: {exc}", file=str(bundle.path)
            ) from None


class _Rejected(Exception):
    """OPA refused a module (compile error); retried while other modules make progress."""

    def __init__(self, error: PolicyError) -> None:
        super().__init__(str(error))
        self.error = error


def _compile_error(bundle: Bundle, exc: Any, names: dict[str, str]) -> PolicyError:
    """A PolicyError at the file, line and column of OPA's first compile error."""
    for err in exc.errors or []:
        if not isinstance(err, dict):
            continue
        location = err.get("location") or {}
        name = names.get(str(location.get("file", "")))
        message = str(err.get("message") or exc.message or "compile error")
        if name is not None:
            row, col = location.get("row"), location.get("col")
            return PolicyError(
                f"OPA: {message}",
                file=bundle.file(name),
                line=row if isinstance(row, int) and row > 0 else None,
                column=col if isinstance(col, int) and col > 0 else None,
            )
    return PolicyError(f"OPA refused the bundle: {exc}", file=str(bundle.path))
