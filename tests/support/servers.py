"""Aggregators with registered silos: a handler in process, or a real gRPC server."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aggregator.handler import AggregatorHandler, ModelRegistration
from aggregator.server import RunningServer, create_server
from aggregator.store import SqliteStore
from fedgov.spec import MonitoringSpec


def registration(spec: MonitoringSpec) -> ModelRegistration:
    return ModelRegistration(
        spec.model_id, spec.model_version, spec.digest, json.dumps(spec.to_dict())
    )


def register(
    handler: AggregatorHandler,
    spec: MonitoringSpec,
    silos: Iterable[str] = ("EU-DE",),
    *,
    jurisdiction: str | None = None,
) -> AggregatorHandler:
    """Register each silo (in ``jurisdiction``, else its own name's) with ``spec``."""
    for silo in silos:
        handler.register(silo, jurisdiction or silo, "sha256:x", [registration(spec)])
    return handler


def registered_handler(
    db: Path, spec: MonitoringSpec, silos: Iterable[str] = ("EU-DE",), **handler_kw: Any
) -> AggregatorHandler:
    """A handler on a SQLite store at ``db`` that knows ``silos`` and ``spec``."""
    return register(AggregatorHandler(SqliteStore(db), **handler_kw), spec, silos)


@contextmanager
def running_aggregator(
    db: Path,
    spec: MonitoringSpec | None = None,
    silos: Iterable[str] = ("EU-DE",),
    **server_kw: Any,
) -> Iterator[RunningServer]:
    """A gRPC aggregator on 127.0.0.1, a free port, over a SQLite store at ``db``
    (with ``silos`` registered for ``spec`` if given; ``server_kw`` go to
    ``create_server``); stopped and closed after."""
    running = create_server("127.0.0.1:0", SqliteStore(db), **server_kw)
    if spec is not None:
        register(running.handler, spec, silos)
    try:
        yield running
    finally:
        running.stop(grace=1.0)
        running.handler.store.close()
