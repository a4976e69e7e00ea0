"""A TCP proxy on loopback that can go silent, as a network cut does (no FIN, no RST)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["CutProxy", "cut_proxy"]


class CutProxy:
    """Forwards 127.0.0.1:``port`` to ``target``; after :meth:`cut` it keeps every socket
    open but forwards nothing, so neither end learns that the other is gone."""

    def __init__(self, target: tuple[str, int]) -> None:
        self._target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        self._cut.set()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        for s in self._sockets:
            s.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        while not self._closed.is_set():
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                return
            if self._cut.is_set():
                continue  # swallowed: the peer hears nothing, and no close either
            try:
                dst.sendall(data)
            except OSError:
                return


@contextmanager
def cut_proxy(port: int) -> Iterator[CutProxy]:
    proxy = CutProxy(("127.0.0.1", port))
    try:
        yield proxy
    finally:
        proxy.close()
