"""Ports on 127.0.0.1 for tests that must name one before a server binds it."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port that was free a moment ago: bound to 127.0.0.1, read and released.

    Nothing listens on it afterwards, so it also serves as a closed port.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_address() -> str:
    """``127.0.0.1:<free_port()>``."""
    return f"127.0.0.1:{free_port()}"
