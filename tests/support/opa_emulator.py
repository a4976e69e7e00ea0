"""A test double that speaks a subset of OPA's REST API, deciding with OPA's own evaluator.

No OPA binary can be installed where fedgov is developed and tested, so the
OPA-sidecar backend (:class:`fedgov.policy.OpaEngine`) is tested against this
server. It answers the calls that backend makes, in OPA's wire format, and
compiles and evaluates with OPA's Go ``rego`` package in-process
(``opa-golib-python-bindings``, see :mod:`fedgov.policy._opa_go`): what it
accepts, rejects and decides is what OPA 1.x does (Rego v1 only, unsafe
variables refused at compile time). Two differences from ``opa run``: builtin
errors are strict (an evaluation error, answered 500, where the server would
make the expression undefined), and policies are compiled as a whole on
every upload, as OPA does, but by a new engine each time. Never deploy it.

Endpoints::

    GET    /health                    200 {}
    GET    /v1/policies               200 {"result": [{"id": ..., "raw": ...}, ...]}
    GET    /v1/policies/{id}          200 {"result": {"id": ..., "raw": ...}} | 404
    PUT    /v1/policies/{id}          body: Rego text. 200 {} | 400 compile errors (below)
    DELETE /v1/policies/{id}          200 {} | 404
    PUT    /v1/data/{path}            body: JSON. 204, stored at path (parents created)
    DELETE /v1/data/{path}            204 | 404
    POST   /v1/data/{path}            body: {"input": ...}. 200 {"result": value},
                                      or 200 {} when the document is undefined (as OPA)
    GET    /v1/data/{path}            the same, without input

A compile error answers as OPA does::

    400 {"code": "invalid_parameter",
         "message": "error(s) occurred while compiling module(s)",
         "errors": [{"code": "rego_compile_error", "message": ...,
                     "location": {"file": <policy id>, "row": int, "col": int}}]}

and an evaluation error with 500 ``{"code": "internal_error", "message": ...}``.

Every PUT (and DELETE) of a policy or a data document compiles the whole set
once, on one worker thread that owns the store (the HTTP server runs each
connection on its own thread); queries run on that thread.

Fault injection for tests: :attr:`OpaEmulator.delay` delays every answer, and
:meth:`OpaEmulator.fail_next` replaces the next answers with a given status
and body. Use it as a context manager; it binds 127.0.0.1 on a free port::

    with OpaEmulator() as opa:
        engine = OpaEngine.from_bundle(path, url=opa.url)
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from fedgov.policy._opa_go import opa_bindings, parse_opa_errors
from fedgov.policy._rego_input import InputError, to_plain

__all__ = ["OpaEmulator"]

logger = logging.getLogger(__name__)

_IDENT = re.compile(r"[A-Za-z_]\w*")
_RESERVED = frozenset(
    "package import default else if not some every with as in contains set true false null"
    " data input".split()
)


class _Reply(Exception):
    """An HTTP answer other than 200, raised inside a handler."""

    def __init__(self, status: int, body: dict[str, Any] | None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _error(status: int, code: str, message: str, **extra: Any) -> _Reply:
    return _Reply(status, {"code": code, "message": message, **extra})


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _query_for(path: list[str]) -> str:
    ref = "data"
    for segment in path:
        if _IDENT.fullmatch(segment) and segment not in _RESERVED:
            ref += "." + segment
        else:
            ref += f"[{json.dumps(segment)}]"
    return f"x := {ref}"


def _compile_error(message: str) -> _Reply:
    located = parse_opa_errors(message) or [("", 0, None, message)]
    return _error(
        400,
        "invalid_parameter",
        "error(s) occurred while compiling module(s)",
        errors=[
            {
                "code": "rego_compile_error",
                "message": text,
                "location": {"file": f, "row": row, "col": col or 0},
            }
            for f, row, col, text in located
        ],
    )


class _Store:
    """Modules by policy id, data, and the OPA engine holding both. Touched on the worker only."""

    def __init__(self) -> None:
        self.modules: dict[str, str] = {}
        self.data: dict[str, Any] = {}
        self._bindings = opa_bindings()
        self._opa = self._bindings.OpaEngine()

    def commit(self, modules: dict[str, str], data: dict[str, Any]) -> None:
        """Compile ``modules`` over ``data``; keep them if OPA accepts them, else raise _Reply."""
        opa = self._bindings.OpaEngine()
        try:
            if data:
                opa.add_data(data)
            for policy_id, text in modules.items():
                opa.add_policy(policy_id, text)
            opa.eval_query("true")  # OPA compiles every module when it prepares a query
        except self._bindings.OpaError as exc:
            opa.close()
            raise _compile_error(exc.message) from None
        self._opa.close()
        self.modules, self.data, self._opa = modules, data, opa

    def query(self, path: list[str], input: Any, has_input: bool) -> Any:
        try:
            rows = self._opa.eval_query(_query_for(path), input if has_input else None)
        except self._bindings.OpaError as exc:
            raise _error(500, "internal_error", exc.message) from None
        return rows[0]["x"] if rows else _UNDEFINED

    def close(self) -> None:
        self._opa.close()


_UNDEFINED = object()


def _set_path(doc: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    """A copy of ``doc`` with ``value`` at ``path`` (parents created, as OPA does)."""
    if not path:
        if not isinstance(value, dict):
            raise _error(400, "invalid_parameter", "the root document must be an object")
        return value
    out = dict(doc)
    if len(path) == 1:
        out[path[0]] = value
    else:
        child = out.get(path[0])
        out[path[0]] = _set_path(child if isinstance(child, dict) else {}, path[1:], value)
    return out


def _without(doc: dict[str, Any], path: list[str]) -> dict[str, Any]:
    if not path:
        return {}
    if path[0] not in doc or (len(path) > 1 and not isinstance(doc[path[0]], dict)):
        raise _error(404, "resource_not_found", f"storage_not_found_error: /{'/'.join(path)}")
    out = dict(doc)
    if len(path) == 1:
        del out[path[0]]
    else:
        out[path[0]] = _without(doc[path[0]], path[1:])
    return out


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], emulator: OpaEmulator) -> None:
        self.emulator = emulator
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and left is normal in tests; keep stderr quiet.
        logger.debug("OPA emulator: error serving %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as OPA
    disable_nagle_algorithm = True  # else headers and body wait for a delayed ACK
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("OPA emulator: " + format, *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        emulator = self.server.emulator
        path = urlsplit(self.path).path
        emulator.requests.append((method, path))
        if emulator.delay:
            time.sleep(emulator.delay)
        fault = emulator._take_fault()
        if fault is not None:
            self._send(fault[0], fault[1])
            return
        try:
            status, answer = emulator._handle(method, path, body)
        except _Reply as reply:
            status, answer = reply.status, reply.body
        except Exception:  # a test double must answer, not hang the client
            logger.exception("OPA emulator: internal error on %s %s", method, path)
            status, answer = 500, {"code": "internal_error", "message": "emulator error"}
        self._send(status, b"" if answer is None else json.dumps(answer).encode("utf-8"))

    def _send(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload) if status != 204 else 0))
        self.end_headers()
        if status != 204:
            self.wfile.write(payload)


class OpaEmulator:
    """An HTTP server on ``host:port`` (port 0: a free one) that answers like OPA; a test double.

    ``requests`` records ``(method, path)`` of every request, for tests.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.delay = 0.0
        self.requests: list[tuple[str, str]] = []
        self._faults: deque[tuple[int, bytes] | None] = deque()
        self._faults_lock = threading.Lock()
        self._store = _Store()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opa-emulator-rego")
        self._server = _Server((host, port), self)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def policies(self) -> dict[str, str]:
        """A copy of the stored modules, by policy id."""
        modules: dict[str, str] = self._on_worker(lambda: dict(self._store.modules))
        return modules

    @property
    def data(self) -> dict[str, Any]:
        """The stored data document."""
        data: dict[str, Any] = self._on_worker(lambda: json.loads(json.dumps(self._store.data)))
        return data

    def fail_next(
        self, times: int = 1, *, status: int = 503, body: bytes | None = None, after: int = 0
    ) -> None:
        """Let ``after`` requests through, then answer ``times`` with ``status`` and ``body``.

        The default body is an OPA-style error object.
        """
        if body is None:
            body = json.dumps({"code": "unavailable", "message": "injected fault"}).encode()
        with self._faults_lock:
            self._faults.extend([None] * after + [(status, body)] * times)

    def _take_fault(self) -> tuple[int, bytes] | None:
        with self._faults_lock:
            return self._faults.popleft() if self._faults else None

    def start(self) -> OpaEmulator:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},  # how long stop() waits for the loop
                name="opa-emulator",
                daemon=True,
            )
            self._thread.start()
            logger.debug("OPA emulator listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving and drop open connections, so that clients see a server that is down."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        with self._server.connections_lock:
            connections = list(self._server.connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        self._worker.shutdown(wait=True, cancel_futures=True)
        self._store.close()

    def __enter__(self) -> OpaEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- request handling ----------------------------------------------------

    def _on_worker(self, fn: Callable[[], Any]) -> Any:
        return self._worker.submit(fn).result()

    def _handle(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any] | None]:
        if path == "/health" and method == "GET":
            return 200, {}
        parts = [unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
        if parts[:2] == ["v1", "policies"]:
            return self._policies(method, "/".join(parts[2:]), body)
        if parts[:2] == ["v1", "data"]:
            return self._data(method, parts[2:], body)
        raise _error(404, "resource_not_found", f"{method} {path} is not emulated")

    def _policies(
        self, method: str, policy_id: str, body: bytes
    ) -> tuple[int, dict[str, Any] | None]:
        store = self._store
        if method == "GET" and not policy_id:
            listing = self._on_worker(lambda: sorted(store.modules.items()))
            return 200, {"result": [{"id": i, "raw": raw} for i, raw in listing]}
        if not policy_id:
            raise _error(400, "invalid_parameter", "a policy id is required")
        if method == "GET":
            raw = self._on_worker(lambda: store.modules.get(policy_id))
            if raw is None:
                raise _error(404, "resource_not_found", f"storage_policy_not_found: {policy_id}")
            return 200, {"result": {"id": policy_id, "raw": raw}}
        if method == "PUT":
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise _error(400, "invalid_parameter", "the policy is not UTF-8 text") from None
            self._on_worker(lambda: store.commit({**store.modules, policy_id: text}, store.data))
            return 200, {}
        if method == "DELETE":

            def delete() -> None:
                if policy_id not in store.modules:
                    raise _error(
                        404, "resource_not_found", f"storage_policy_not_found: {policy_id}"
                    )
                rest = {k: v for k, v in store.modules.items() if k != policy_id}
                store.commit(rest, store.data)

            self._on_worker(delete)
            return 200, {}
        raise _error(405, "method_not_allowed", f"{method} is not allowed on policies")

    def _data(self, method: str, path: list[str], body: bytes) -> tuple[int, dict[str, Any] | None]:
        store = self._store
        if method == "PUT":
            value = self._json(body)
            self._on_worker(lambda: store.commit(store.modules, _set_path(store.data, path, value)))
            return 204, None
        if method == "DELETE":
            self._on_worker(lambda: store.commit(store.modules, _without(store.data, path)))
            return 204, None
        if method in ("GET", "POST"):
            request = self._json(body) if body.strip() else {}
            if not isinstance(request, dict):
                raise _error(400, "invalid_parameter", "the body must be an object {input: ...}")
            has_input = "input" in request
            try:
                value = to_plain(request.get("input"))
            except InputError as exc:
                raise _error(400, "invalid_parameter", str(exc)) from None
            result = self._on_worker(lambda: store.query(path, value, has_input))
            return 200, ({} if result is _UNDEFINED else {"result": result})
        raise _error(405, "method_not_allowed", f"{method} is not allowed on data")

    @staticmethod
    def _json(body: bytes) -> Any:
        try:
            return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as exc:
            raise _error(400, "invalid_parameter", f"body is not valid JSON: {exc}") from None
