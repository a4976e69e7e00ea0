"""The aggregator's /metrics binds loopback unless told otherwise (like the agent's)."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter

from aggregator.exporter import serve_metrics
from fedgov.cli.main import build_parser
from fedgov.errors import ConfigError


def test_metrics_address_defaults_to_loopback() -> None:
    args = build_parser().parse_args(["aggregator", "serve", "--insecure", "--metrics-port", "0"])
    assert args.metrics_address == "127.0.0.1"
    args = build_parser().parse_args(
        ["aggregator", "serve", "--insecure", "--metrics-address", "0.0.0.0"]
    )
    assert args.metrics_address == "0.0.0.0"


def _own_address() -> str | None:
    """An address of this host other than loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent for UDP connect
        except OSError:
            return None
        address = str(s.getsockname()[0])
    return None if address.startswith("127.") else address


def test_serve_metrics_on_loopback_only() -> None:
    registry = CollectorRegistry()
    Counter("fedgov_test_bind", "a probe", registry=registry).inc()
    port = serve_metrics(registry, 0)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        assert b"fedgov_test_bind_total 1.0" in resp.read()
    other = _own_address()
    if other is not None:  # reachable on loopback, not on the host's other address
        with pytest.raises(OSError):
            socket.create_connection((other, port), timeout=2).close()


def test_a_bad_address_or_busy_port_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="--metrics-address nowhere.invalid"):
        serve_metrics(CollectorRegistry(), 0, "nowhere.invalid")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=f"--metrics-port {port}: cannot serve"):
            serve_metrics(CollectorRegistry(), port)
