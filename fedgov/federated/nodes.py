"""Flower processes for a real deployment: the SuperLink at the aggregator and
a SuperNode beside each silo's data, started by that silo's agent.

:class:`FlowerCluster` starts both ends on one machine (tests, benchmarks);
here each side starts only its own end, which is how the processes are laid
out across sites: the aggregator runs :class:`SuperLinkProcess`, and an agent
that receives a ``join_training`` command runs :class:`SuperNodeProcess`
pointed at the SuperLink's address with its local data in the node config.
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

from fedgov.federated._process import (
    ConfigValue,
    Process,
    base_env,
    free_port,
    terminate,
    write_toml,
)
from fedgov.federated.runner import TrainingError

__all__ = ["SuperLinkProcess", "SuperNodeProcess"]

log = logging.getLogger(__name__)

_NODE_ID = re.compile(r"SuperNode ID: (\d+)")


class SuperLinkProcess:
    """``flower-superlink`` on a free port of ``host``; ``address`` once started."""

    def __init__(
        self, *, host: str = "127.0.0.1", workdir: Path | None = None, start_timeout: float = 60.0
    ) -> None:
        self.host = host
        self.start_timeout = start_timeout
        self._own = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="fedgov-superlink-"))
        self.proc: Process | None = None
        self.port = 0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def cli_home(self) -> Path:
        home = self.workdir / "cli"
        home.mkdir(parents=True, exist_ok=True)
        return home

    def start(self) -> SuperLinkProcess:
        home = self.workdir / "home"
        home.mkdir(parents=True, exist_ok=True)
        self.port = free_port(self.host)
        self.proc = Process(
            "superlink",
            [
                "flower-superlink", "--insecure", "--disable-runtime-dependency-installation",
                "--host", self.host, "--port", str(self.port),
            ],
            base_env(home, {}),
            self.workdir / "superlink.log",
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline and self.proc.alive():
            try:
                with urllib.request.urlopen(f"http://{self.address}/health", timeout=1.0) as r:
                    if r.status == 200:
                        log.info("Flower SuperLink ready at %s", self.address)
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        tail = self.proc.tail()
        self.stop()
        raise TrainingError(f"the Flower SuperLink did not start on {self.address}:\n{tail}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def stop(self) -> None:
        if self.proc is not None:
            terminate([self.proc], 5.0)
            self.proc = None
        if self._own:
            shutil.rmtree(self.workdir, ignore_errors=True)


class SuperNodeProcess:
    """``flower-supernode`` for one silo, registered with the SuperLink at ``superlink``."""

    def __init__(
        self,
        name: str,
        superlink: str,
        node_config: Mapping[str, ConfigValue],
        *,
        workdir: Path,
        host: str = "127.0.0.1",
        start_timeout: float = 60.0,
    ) -> None:
        self.name = name
        self.superlink = superlink
        self.node_config = {"silo": name, **node_config}
        self.workdir = workdir
        self.host = host
        self.start_timeout = start_timeout
        self.proc: Process | None = None
        self.node_id: int | None = None

    def start(self) -> SuperNodeProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        home = self.workdir / "home"
        home.mkdir(exist_ok=True)
        cfg = write_toml(self.workdir / "node-config.toml", self.node_config)
        port = free_port(self.host)
        self.proc = Process(
            f"supernode {self.name}",
            [
                "flower-supernode", "--insecure", "--superlink", self.superlink,
                "--host", self.host, "--port", str(port), "--node-config", str(cfg),
            ],
            base_env(home, {}),
            self.workdir / f"supernode-{port}.log",
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline and self.proc.alive():
            m = _NODE_ID.search(self.proc.log_text())
            if m:
                self.node_id = int(m.group(1))
                log.info("%s: SuperNode %d registered with %s", self.name, self.node_id, self.superlink)
                return self
            time.sleep(0.05)
        tail = self.proc.tail()
        self.stop()
        raise TrainingError(
            f"{self.name}: the SuperNode did not register with the SuperLink at "
            f"{self.superlink}:\n{tail}"
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def stop(self) -> None:
        if self.proc is not None:
            terminate([self.proc], 5.0)
            self.proc = None
