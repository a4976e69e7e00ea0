"""The dashboard's HTTP server: token check, routes, and errors as pages.

``create_dashboard(listen, dashboard, token)`` binds ``HOST:PORT`` (port 0: a
free one), serves on a thread and returns a :class:`RunningDashboard`. Every
path but ``/healthz`` needs the token (:mod:`.auth`); without it the answer
is a 401 page that holds no data. Only GET and HEAD; anything else is 405.
What goes wrong while answering becomes a page, never a traceback: the
aggregator unreachable is 503 (with what to do), a refused query 400/403 with
the aggregator's message, anything unexpected 500 with a generic message
(details in the log), and the server keeps serving.
"""

from __future__ import annotations

import logging
import re
import ssl
import threading
import urllib.parse
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aggregator.dashboard.auth import TokenCheck
from aggregator.dashboard.downloads import FORMATS, Download, report_download
from aggregator.dashboard.render import Renderer
from aggregator.dashboard.views import Dashboard, Page
from aggregator.reports.document import REGIMES
from fedgov.errors import ConfigError, GovernanceError, QueryError, TransportError
from fedgov.limits import identifier_problem
from fedgov.tls import TlsFiles

__all__ = ["RunningDashboard", "create_dashboard"]

log = logging.getLogger(__name__)

_REPORT = re.compile(r"/reports/([^/]+)/([a-z0-9-]+)\.([a-z]+)")
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


@dataclass
class RunningDashboard:
    """A dashboard serving on a thread: its ``url`` (the bound port) and ``stop()``."""

    server: ThreadingHTTPServer
    thread: threading.Thread
    url: str

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    dashboard: Dashboard
    check: TokenCheck
    renderer: Renderer


def create_dashboard(
    listen: str, dashboard: Dashboard, token: str, *, tls: TlsFiles | None = None
) -> RunningDashboard:
    """Serve ``dashboard`` on ``listen`` (HOST:PORT); HTTPS with ``tls``'s certificate."""
    if tls is not None:
        _check_server_certificate(tls)  # before the port is taken
    host, _, port = listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        server = _Server((host, int(port)), _Handler)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"--listen {listen}: cannot bind it ({exc}); pick a free HOST:PORT"
        ) from None
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(tls.cert, tls.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    server.dashboard = dashboard
    server.check = TokenCheck(token, secure=tls is not None)
    server.renderer = Renderer(viewer=dashboard.viewer, regimes=REGIMES, formats=tuple(FORMATS))
    thread = threading.Thread(target=server.serve_forever, name="dashboard", daemon=True)
    thread.start()
    shown = f"[{host}]" if ":" in host else host
    return RunningDashboard(server, thread, f"{scheme}://{shown}:{server.server_address[1]}/")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "fedgov-dashboard"
    sys_version = ""
    _body = True  # False for HEAD: headers only

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        log.info("%s %s", self.address_string(), format % args)

    # -- methods --------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - stdlib's name
        self._answer(body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(body=False)

    def _refuse(self) -> None:
        self._send(
            HTTPStatus.METHOD_NOT_ALLOWED,
            b"read-only: only GET and HEAD\n",
            "text/plain; charset=utf-8",
            {"Allow": "GET, HEAD"},
        )

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _refuse  # noqa: N815

    # -- answering ------------------------------------------------------------------
    def _answer(self, *, body: bool) -> None:
        self._body = body
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        if path == "/healthz":
            self._send(HTTPStatus.OK, b'{"status":"ok"}\n', "application/json")
            return
        query = urllib.parse.parse_qs(url.query)
        if "token" in query:
            if self.server.check.login(query["token"][0]):
                target = urllib.parse.quote(path) or "/"
                self._send(
                    HTTPStatus.SEE_OTHER,
                    b"",
                    "text/plain",
                    {"Location": target, "Set-Cookie": self.server.check.set_cookie()},
                )
                return
        elif self.server.check.allows(self.headers):
            self._route(path)
            return
        page = self.server.renderer.env.get_template("login.html").render().encode()
        self._send(
            HTTPStatus.UNAUTHORIZED,
            page,
            "text/html; charset=utf-8",
            {"WWW-Authenticate": 'Bearer realm="fedgov dashboard"'},
        )

    def _route(self, path: str) -> None:
        try:
            answer = self._page(urllib.parse.unquote(path))
        except TransportError as exc:
            answer = _error(
                503,
                "Aggregator unavailable",
                f"{exc}. Start the aggregator or check --aggregator, then reload.",
            )
        except QueryError as exc:
            status = 403 if "permission denied" in str(exc) else 400
            answer = _error(status, "Query refused", str(exc))
        except ConfigError as exc:  # e.g. a regime that needs a model card
            answer = _error(400, "Cannot make this", str(exc))
        except GovernanceError as exc:
            answer = _error(502, "Query failed", str(exc))
        except Exception:  # noqa: BLE001 - never a traceback in a page; the log has it
            log.exception("dashboard page %s failed", path)
            answer = _error(
                500,
                "Internal error",
                "the page could not be made; the dashboard's log has the details",
            )
        if isinstance(answer, Download):
            self._send(
                HTTPStatus.OK,
                answer.body,
                answer.content_type,
                {"Content-Disposition": f'attachment; filename="{answer.filename}"'},
            )
            return
        html = self.server.renderer.page(answer.template, answer.context)
        self._send(HTTPStatus(answer.status), html, "text/html; charset=utf-8")

    def _page(self, path: str) -> Page | Download:
        d = self.server.dashboard
        if path == "/":
            return d.home()
        if path == "/silos":
            return d.silos()
        if path == "/jobs":
            return d.jobs()
        if path.startswith("/model/"):
            model = path.removeprefix("/model/")
            if identifier_problem(model):
                return _error(404, "No such page", f"{model!r} is not a model id")
            return d.model(model)
        m = _REPORT.fullmatch(path)
        if m:
            model, regime, fmt = m.groups()
            if identifier_problem(model) or regime not in REGIMES or fmt not in FORMATS:
                return _error(
                    404,
                    "No such report",
                    f"regimes: {', '.join(REGIMES)}; formats: {', '.join(FORMATS)}",
                )
            if not d.merged:
                return _error(
                    403,
                    "Reports are for operators and auditors",
                    "a report merges figures across silos; a silo certificate may not read them",
                )
            return report_download(d.client, model, regime, fmt)
        return _error(404, "No such page", f"{path!r}: see the links at the top")

    def _send(
        self,
        status: HTTPStatus,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        for name, value in (_HEADERS | {"Content-Type": content_type} | (headers or {})).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self._body:
            self.wfile.write(body)


def _check_server_certificate(tls: TlsFiles) -> None:
    """A readable certificate that may serve TLS (browsers refuse a client-only one)."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    pem = tls.read()[1]  # a bad file stops the start, named
    try:
        usage = x509.load_pem_x509_certificate(pem).extensions.get_extension_for_class(
            x509.ExtendedKeyUsage
        )
    except x509.ExtensionNotFound:
        return
    if ExtendedKeyUsageOID.SERVER_AUTH not in usage.value:
        raise ConfigError(
            f"{tls.cert}: the certificate is for clients only (no serverAuth usage), so "
            "browsers refuse it for HTTPS; pass --http-cert/--http-key of a server "
            "certificate for this host"
        )


def _error(status: int, title: str, message: str) -> Page:
    return Page("error.html", {"title": title, "message": message}, status=status)
