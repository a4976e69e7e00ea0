"""The HTTP client of the Prometheus query API: instant queries, decoded.

:class:`PrometheusAPI` POSTs a PromQL expression to ``{url}/api/v1/query``
(Prometheus or Thanos Query) and returns the instant vector as plain rows,
``{"labels": {...}, "value": float}``. Transport failures become
:class:`~fedgov.errors.TransportError`, a refused or malformed answer
:class:`~fedgov.errors.QueryError` with the server's own reason.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from fedgov.errors import QueryError, TransportError

__all__ = ["PrometheusAPI"]


class PrometheusAPI:
    """Instant queries against ``{url}/api/v1/query`` (Prometheus or Thanos Query).

    ``url`` is the server's base URL, e.g. ``http://thanos-query:10902``;
    ``headers`` go with every request (e.g. an ``Authorization`` header).
    Errors: :class:`~fedgov.errors.TransportError` when the server cannot be
    reached, :class:`~fedgov.errors.QueryError` when it refuses a query.
    """

    def __init__(
        self, url: str, *, timeout: float = 10.0, headers: Mapping[str, str] | None = None
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise QueryError(f"--promql-url {url!r}: expected http(s)://host:port[/prefix]")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.headers = dict(headers or {})

    def query(self, expr: str, *, at: float | None = None) -> list[dict[str, Any]]:
        """Run an instant query; returns ``[{"labels": {...}, "value": float}]``.

        ``dedup=true`` asks Thanos Query to merge HA replicas (Prometheus
        ignores it).
        """
        form = {"query": expr, "dedup": "true"}
        if at is not None:
            form["time"] = repr(float(at))
        body = urllib.parse.urlencode(form).encode()
        req = urllib.request.Request(
            f"{self.url}/api/v1/query",
            data=body,
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded", **self.headers},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                doc = json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            raise QueryError(_http_error(self.url, exc)) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TransportError(
                f"cannot reach the Prometheus API at {self.url}: {reason}; "
                "check --promql-url and that Prometheus or Thanos Query is running"
            ) from None
        except ValueError:
            raise QueryError(f"{self.url}/api/v1/query: the answer is not JSON") from None
        if doc.get("status") != "success":
            raise QueryError(f"{self.url}: query failed: {doc.get('error', doc)}")
        data = doc.get("data") or {}
        if data.get("resultType") != "vector":
            raise QueryError(
                f"{self.url}: expected an instant vector, got {data.get('resultType')!r}"
            )
        return [{"labels": dict(s["metric"]), "value": _value(s)} for s in data["result"]]


def _value(sample: Mapping[str, Any]) -> float:
    return float(sample["value"][1])  # "NaN", "+Inf" parse too


def _http_error(url: str, exc: urllib.error.HTTPError) -> str:
    try:
        doc = json.loads(exc.read().decode("utf-8"))
        detail = f"{doc.get('errorType', '')}: {doc.get('error', '')}".strip(": ")
    except (ValueError, OSError):
        detail = str(exc.reason)
    finally:
        exc.close()
    return f"{url}/api/v1/query answered HTTP {exc.code}: {detail}"
