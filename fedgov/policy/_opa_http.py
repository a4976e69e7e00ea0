"""OPA's REST API over HTTP: opa-python-client, bounded retries, short failure reasons.

HTTP goes through opa-python-client (``opa_client.OpaClient``, 3.x). What it
lacks, and how this module wraps it:

- It takes host and port, not a URL, and cannot add a path prefix; the URL
  is split here and one with a path is refused.
- Its timeout is per request (``timeout=``), which is what we want. Its
  retries are urllib3's, which never retry a POST after a read timeout or a
  5xx, so the client is built with ``retries=0`` and every call goes through
  one bounded loop here (:meth:`OpaHttp.call`): ``retries`` more attempts
  after a connection error, a timeout, or HTTP 502/503/504, with a short
  backoff. Worst case, a call takes ``(retries + 1) * timeout`` plus the
  backoff. (With urllib3 retries at 0, requests reports a read timeout as a
  ConnectionError wrapping urllib3's ReadTimeoutError; :func:`_transport`
  looks inside to say "no answer".)
- Its data upload takes objects only; :meth:`OpaHttp.put_json` uploads any
  JSON value with ``requests`` directly.

A call that fails raises :class:`OpaCallFailed` whose message is a short
reason (``HTTP 503 (after 3 attempts): ...``, ``connection refused (after 3
attempts)``); callers turn it into a fail-closed deny or a PolicyError.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from fedgov.errors import ConfigError

if TYPE_CHECKING:
    import requests

__all__ = ["OpaCallFailed", "OpaHttp", "opa_errors"]

T = TypeVar("T")

_RETRY_STATUS = frozenset({502, 503, 504})
_BACKOFF = 0.05  # seconds before the first retry; doubles, at most 1 s
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


class OpaCallFailed(Exception):
    """A call to OPA failed; the message is the reason (for a deny or a PolicyError)."""


def opa_errors() -> Any:
    """``opa_client.errors``; opa_client and requests are imported on first use, because
    opa_client's package imports aiohttp (together 0.2 s on every ``import fedgov.policy``)."""
    import opa_client.errors  # type: ignore[import-untyped]

    return opa_client.errors


def split_url(url: str) -> tuple[str, int, bool]:
    """``(host, port, https)`` of OPA's base URL; a URL with a path is a ConfigError."""
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


class OpaHttp:
    """One OPA server: ``client`` is the opa-python-client, ``call`` runs a request on it.

    ``url`` is OPA's base URL (``http://127.0.0.1:8181``); ``timeout`` bounds
    each HTTP request in seconds; ``retries`` is how many more attempts a call
    gets after a connection error, a timeout, or HTTP 502/503/504.
    """

    def __init__(self, url: str, *, timeout: float, retries: int, token: str | None) -> None:
        if timeout <= 0:
            raise ConfigError(f"OPA timeout must be positive, not {timeout!r}")
        if retries < 0:
            raise ConfigError(f"OPA retries must be 0 or more, not {retries!r}")
        host, port, ssl = split_url(url)
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        from opa_client import OpaClient  # imported here, not at the top: see opa_errors()

        self.client = OpaClient(
            host=host, port=port, ssl=ssl, token=token, retries=0, timeout=timeout
        )

    def close(self) -> None:
        """Close the HTTP session."""
        self.client.close_connection()

    def healthy(self) -> bool:
        """Whether ``GET /health`` answers 200 within the timeout."""
        return bool(self.client.check_health())

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` with bounded retries; raise :class:`OpaCallFailed` with a short reason."""
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
                raise OpaCallFailed(
                    f"HTTP {status}{tries}" + (f": {detail}" if detail else "")
                ) from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                if not last:
                    self._backoff(attempt)
                    continue
                reason = _transport(exc, self.timeout)
                raise OpaCallFailed(f"{reason} (after {attempts} attempts)") from None
            except requests.JSONDecodeError:
                raise OpaCallFailed("answered with a body that is not JSON") from None
            except requests.RequestException as exc:
                raise OpaCallFailed(f"request failed ({type(exc).__name__})") from None
        raise AssertionError("unreachable")

    @staticmethod
    def _backoff(attempt: int) -> None:
        time.sleep(min(_BACKOFF * 2**attempt, 1.0))

    def put_json(self, path: str, value: Any) -> None:
        """``PUT /v1/{path}`` with any JSON value (the client uploads objects only)."""
        import requests

        response = requests.put(
            f"{self.client.root_url}/{path}",
            json=value,
            headers=self.client.headers,
            timeout=self.timeout,
            cert=self.client.cert,
        )
        response.raise_for_status()
