"""The two Flower processes of a deployment: the SuperLink at the aggregator and
a SuperNode beside each silo's data.

Each side starts only its own end, which is how the processes are laid out
across sites: the aggregator runs :class:`SuperLinkProcess`, and an agent
that receives a ``join_training`` command runs :class:`SuperNodeProcess`
pointed at the SuperLink's address with its local data in the node config.
:class:`~fedgov.federated.cluster.FlowerCluster` starts both ends on one
machine (tests, benchmarks, the demo) from these same classes.

Both listen on a free port (found by binding port 0); a start that loses its
port to another process before binding it is retried on a new one. Each
process has its own ``FLWR_HOME``. Ready means: the SuperLink answers
``/health``; a SuperNode has logged the node id the SuperLink gave it.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import TypedDict, Unpack

from fedgov.federated._errors import TrainingError
from fedgov.federated._executables import executable
from fedgov.federated._process import (
    ConfigValue,
    Process,
    base_env,
    free_port,
    terminate,
    write_toml,
)

__all__ = ["ProcessOptions", "SuperLinkProcess", "SuperNodeProcess"]

log = logging.getLogger(__name__)

_NODE_ID = re.compile(r"SuperNode ID: (\d+)")
_IN_USE = ("address already in use", "errno 98", "only one usage of each socket address")
_PORT_ATTEMPTS = 3


def _lost_port(proc: Process) -> bool:
    """The process died because another one took its port between probe and bind."""
    return not proc.alive() and any(m in proc.log_text().lower() for m in _IN_USE)


class ProcessOptions(TypedDict, total=False):
    """How either end is started (each key may be left out; see :class:`_FlowerProcess`)."""

    host: str
    isolation: str
    extra_env: Mapping[str, str] | None
    start_timeout: float
    stop_grace: float


class _FlowerProcess:
    """What both ends share: the options, ``proc`` once started, ``alive`` and ``stop``.

    ``isolation`` is Flower's ``--isolation``; ``extra_env`` is added to the
    process environment (e.g. ``FLWR_SUPEREXEC_TASK_POLL_INTERVAL``);
    ``start_timeout`` bounds the wait for ready, ``stop_grace`` that for an exit.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        isolation: str = "subprocess",
        extra_env: Mapping[str, str] | None = None,
        start_timeout: float = 60.0,
        stop_grace: float = 5.0,
    ) -> None:
        self.host = host
        self.isolation = isolation
        self.extra_env = dict(extra_env or {})
        self.start_timeout = start_timeout
        self.stop_grace = stop_grace
        self.proc: Process | None = None
        self.port = 0

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def stop(self) -> None:
        if self.proc is not None:
            terminate([self.proc], self.stop_grace)
            self.proc = None

    def _flags(self) -> list[str]:
        """The flags both ends take alike: plaintext, the isolation, where to listen."""
        return [
            "--insecure",
            "--isolation",
            self.isolation,
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]

    def _gave_up(self, what: str) -> TrainingError:
        """Stop, and the error saying ``what`` did not happen in time, with the command
        and the end of its log."""
        assert self.proc is not None
        message = (
            f"{what} within {self.start_timeout:.0f} s; command: {' '.join(self.proc.argv)}; "
            f"log {self.proc.log_path}:\n{self.proc.tail()}"
        )
        self.stop()
        return TrainingError(message)


class SuperLinkProcess(_FlowerProcess):
    """``flower-superlink`` on a free port of ``host``; ``address`` once started.

    With ``isolation="subprocess"`` (Flower's default) the SuperLink starts
    its own SuperExec; with ``process`` the caller starts one (see
    FlowerCluster). The other options: :class:`ProcessOptions`.
    """

    def __init__(self, *, workdir: Path | None = None, **options: Unpack[ProcessOptions]) -> None:
        super().__init__(**options)
        self._own = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="fedgov-superlink-"))

    @property
    def address(self) -> str:
        """Where the Fleet, Control and Runtime APIs listen (they share the port)."""
        return f"{self.host}:{self.port}"

    @property
    def cli_home(self) -> Path:
        """A ``FLWR_HOME`` for the flwr CLI that submits runs here."""
        home = self.workdir / "cli"
        home.mkdir(parents=True, exist_ok=True)
        return home

    def start(self) -> SuperLinkProcess:
        program = executable("flower-superlink")
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = base_env(self._home(), self.extra_env)
        for attempt in range(_PORT_ATTEMPTS):
            self.port = free_port(self.host)
            self.proc = Process(
                "superlink",
                [program, *self._flags(), "--disable-runtime-dependency-installation"],
                env,
                self.workdir / f"superlink-{attempt}.log",
            )
            if self._await_health():
                log.info("Flower SuperLink ready at %s", self.address)
                return self
            if not _lost_port(self.proc):
                break
        raise self._gave_up(f"the Flower SuperLink did not become ready on {self.address}")

    def _home(self) -> Path:
        home = self.workdir / "home"
        home.mkdir(parents=True, exist_ok=True)
        return home

    def _await_health(self) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline and self.proc.alive():
            try:
                with urllib.request.urlopen(f"http://{self.address}/health", timeout=1.0) as r:
                    if r.status == 200:
                        return True
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        super().stop()
        if self._own:
            shutil.rmtree(self.workdir, ignore_errors=True)


class SuperNodeProcess(_FlowerProcess):
    """``flower-supernode`` for one silo, registered with the SuperLink at ``superlink``.

    ``start()`` is ``spawn()`` then ``await_registered()``; a caller starting
    many nodes spawns them all first so that they register in parallel.
    """

    def __init__(
        self,
        name: str,
        superlink: str,
        node_config: Mapping[str, ConfigValue],
        *,
        workdir: Path,
        **options: Unpack[ProcessOptions],
    ) -> None:
        super().__init__(**options)
        self.name = name
        self.superlink = superlink
        self.node_config = {"silo": name, **node_config}
        self.workdir = workdir
        self.node_id: int | None = None

    def start(self) -> SuperNodeProcess:
        return self.spawn().await_registered()

    def spawn(self) -> SuperNodeProcess:
        """Start the process on a free port; do not wait for it."""
        program = executable("flower-supernode")
        self.workdir.mkdir(parents=True, exist_ok=True)
        home = self.workdir / "home"
        home.mkdir(exist_ok=True)
        cfg = write_toml(self.workdir / "node-config.toml", self.node_config)
        self.port = free_port(self.host)
        self.proc = Process(
            f"supernode {self.name}",
            [program, *self._flags(), "--superlink", self.superlink, "--node-config", str(cfg)],
            base_env(home, self.extra_env),
            self.workdir / f"supernode-{self.port}.log",
        )
        return self

    def await_registered(self) -> SuperNodeProcess:
        """Wait until the SuperLink has given this node an id (respawning on a lost port)."""
        assert self.proc is not None, "spawn() first"
        for _ in range(_PORT_ATTEMPTS):
            deadline = time.monotonic() + self.start_timeout
            while time.monotonic() < deadline and self.proc.alive():
                m = _NODE_ID.search(self.proc.log_text())
                if m:
                    self.node_id = int(m.group(1))
                    log.info("%s: SuperNode %d registered", self.name, self.node_id)
                    return self
                time.sleep(0.05)
            if not _lost_port(self.proc):
                break
            self.spawn()
        raise self._gave_up(
            f"SuperNode of silo '{self.name}' did not register with the SuperLink at "
            f"{self.superlink}"
        )
