"""A Flower cluster on this machine: a SuperLink and one SuperNode per silo.

:class:`FlowerCluster` starts them as subprocesses on free ports (found by
binding port 0; a start that loses the port to another process is retried
on a new one), with one ``FLWR_HOME`` per process, waits until each is
ready (the SuperLink answers ``/health``; a SuperNode has logged the node
id the SuperLink gave it, i.e. it has registered), and stops every process
it started, and their children, on exit: SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from fedgov.federated._process import (
    ConfigValue,
    Process,
    base_env,
    descendants,
    free_port,
    pid_gone,
    terminate,
    write_toml,
)
from fedgov.federated.runner import TrainingError, TrainingResult, run_training, write_cli_config

__all__ = ["FlowerCluster", "NodeInfo", "Silo"]

log = logging.getLogger(__name__)

_NODE_ID = re.compile(r"SuperNode ID: (\d+)")
_IN_USE = ("address already in use", "errno 98", "only one usage of each socket address")


@dataclass(frozen=True)
class Silo:
    """One SuperNode: a name and its node config (``data-path``, ``spec-path``...)."""

    name: str
    node_config: Mapping[str, ConfigValue]


@dataclass(frozen=True)
class NodeInfo:
    name: str
    pid: int
    port: int
    node_id: int
    log_path: Path


class FlowerCluster:
    """A SuperLink and one SuperNode per silo, as local processes.

    ::

        with FlowerCluster([Silo("a", {"data-path": ..., "spec-path": ...}), ...]) as c:
            result = c.run_training({"spec-path": ..., "num-server-rounds": 3})

    ``isolation`` is the SuperLink's and SuperNodes' ``--isolation``. With
    Flower's default, ``subprocess``, each starts a SuperExec that launches
    one ``flwr-serverapp``/``flwr-clientapp`` process per task (one per run on
    the SuperLink, one per message on a SuperNode). With ``process`` the
    cluster starts those SuperExecs itself (``flower-superexec
    --runtime-api-address ...``), as a deployment would in separate
    containers; they launch the same per-task processes.
    ``superexec_poll_interval`` sets ``FLWR_SUPEREXEC_TASK_POLL_INTERVAL``
    (Flower's default 1 s), the delay before a SuperExec notices a task.
    """

    def __init__(
        self,
        silos: Sequence[Silo],
        *,
        workdir: str | Path | None = None,
        host: str = "127.0.0.1",
        isolation: str = "subprocess",
        start_timeout: float = 60.0,
        stop_grace: float = 5.0,
        superexec_poll_interval: float | None = None,
    ) -> None:
        names = [s.name for s in silos]
        if len(set(names)) != len(names):
            raise ValueError(f"silo names must be unique, got {names}")
        if not silos:
            raise ValueError("a cluster needs at least one silo")
        self.silos = tuple(silos)
        self.host = host
        self.isolation = isolation
        self.start_timeout = start_timeout
        self.stop_grace = stop_grace
        self._extra_env: dict[str, str] = {}
        if superexec_poll_interval is not None:
            self._extra_env["FLWR_SUPEREXEC_TASK_POLL_INTERVAL"] = str(superexec_poll_interval)
        self._own_workdir = workdir is None
        self.workdir = Path(
            tempfile.mkdtemp(prefix="fedgov-flower-") if workdir is None else workdir
        )
        self.superlink: Process | None = None
        self.port = 0
        self._nodes: dict[str, tuple[Process, int, int]] = {}  # name -> (proc, port, node id)
        self._superexecs: list[Process] = []  # with isolation="process"
        self.timings: dict[str, float] = {}
        self.seen_pids: set[int] = set()

    # -- lifecycle

    def __enter__(self) -> FlowerCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        t0 = time.perf_counter()
        try:
            self._start_superlink()
            self._maybe_superexec("superlink", self.port, self.superlink)
            self.timings["superlink"] = time.perf_counter() - t0
            t1 = time.perf_counter()
            pending = [self._spawn_supernode(s) for s in self.silos]
            for silo, (proc, port) in zip(self.silos, pending, strict=True):
                proc, port, node_id = self._await_supernode(silo, proc, port)
                self._nodes[silo.name] = (proc, port, node_id)
                self._maybe_superexec(silo.name, port, proc)
            self.timings["supernodes"] = time.perf_counter() - t1
        except BaseException:
            self.stop()
            raise
        self.timings["start"] = time.perf_counter() - t0
        self._remember_pids()
        log.info(
            "Flower cluster up in %.2f s: SuperLink %s, SuperNodes %s",
            self.timings["start"],
            self.address,
            {n: i for n, (_, _, i) in self._nodes.items()},
        )

    def stop(self) -> None:
        procs = [*self._superexecs, *(p for p, _, _ in self._nodes.values())]
        if self.superlink is not None:
            procs.append(self.superlink)
        self._remember_pids()
        # SuperNodes first, so none is left retrying a SuperLink that is gone.
        terminate(procs[:-1] if self.superlink else procs, self.stop_grace)
        if self.superlink is not None:
            terminate([self.superlink], self.stop_grace)
        self._nodes.clear()
        self._superexecs.clear()
        self.superlink = None
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- state

    @property
    def address(self) -> str:
        """The SuperLink's address (Fleet, Control and Runtime APIs share it)."""
        return f"{self.host}:{self.port}"

    @property
    def nodes(self) -> list[NodeInfo]:
        return [
            NodeInfo(name, p.pid, port, node_id, p.log_path)
            for name, (p, port, node_id) in self._nodes.items()
        ]

    @property
    def cli_home(self) -> Path:
        """``FLWR_HOME`` of the flwr CLI that submits runs to this cluster."""
        home = self.workdir / "cli"
        if not (home / "config.toml").exists():
            write_cli_config(home, self.address)
        return home

    def pids(self) -> set[int]:
        """Live processes of the cluster now: ours and their descendants."""
        roots = [p.pid for p in self._superexecs]
        roots += [p.pid for p, _, _ in self._nodes.values()]
        if self.superlink is not None:
            roots.append(self.superlink.pid)
        live = {pid for pid in roots if not pid_gone(pid)}
        return live | set(descendants(roots))

    def _remember_pids(self) -> None:
        self.seen_pids |= self.pids()

    def check(self) -> None:
        """Raise :class:`TrainingError` if the SuperLink or a SuperNode has exited."""
        self._remember_pids()
        if self.superlink is not None and not self.superlink.alive():
            raise TrainingError(
                f"the SuperLink (pid {self.superlink.pid}) exited with code "
                f"{self.superlink.popen.returncode}; log {self.superlink.log_path}:\n"
                f"{self.superlink.tail()}"
            )
        for p in self._superexecs:
            if not p.alive():
                raise TrainingError(
                    f"{p.name} (pid {p.pid}) exited with code {p.popen.returncode}; "
                    f"log {p.log_path}:\n{p.tail()}"
                )
        for name, (p, _, node_id) in self._nodes.items():
            if not p.alive():
                raise TrainingError(
                    f"SuperNode of silo '{name}' (pid {p.pid}, node id {node_id}) exited with "
                    f"code {p.popen.returncode}; log {p.log_path}:\n{p.tail()}"
                )

    def kill_supernode(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill one silo's SuperNode and its children (for failure tests)."""
        proc = self._nodes[name][0]
        kids = descendants([proc.pid])
        os.killpg(proc.pid, sig)
        for pid in kids:
            if not pid_gone(pid):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        proc.popen.wait(timeout=10)

    # -- starting

    def _env(self, name: str) -> dict[str, str]:
        home = self.workdir / name / "home"
        home.mkdir(parents=True, exist_ok=True)
        return base_env(home, self._extra_env)

    def _start_superlink(self) -> None:
        for attempt in range(3):
            port = free_port(self.host)
            (self.workdir / "superlink").mkdir(parents=True, exist_ok=True)
            proc = Process(
                "superlink",
                [
                    "flower-superlink",
                    "--insecure",
                    "--disable-runtime-dependency-installation",
                    "--isolation",
                    self.isolation,
                    "--host",
                    self.host,
                    "--port",
                    str(port),
                ],
                self._env("superlink"),
                self.workdir / "superlink" / f"superlink-{attempt}.log",
            )
            self.superlink, self.port = proc, port
            if self._await_http(proc, f"http://{self.host}:{port}/health"):
                return
            if not any(m in proc.log_text().lower() for m in _IN_USE):
                break
            terminate([proc], self.stop_grace)
        assert self.superlink is not None
        raise TrainingError(
            f"the SuperLink did not become ready on {self.address} within "
            f"{self.start_timeout:.0f} s; command: {' '.join(self.superlink.argv)}; "
            f"log {self.superlink.log_path}:\n{self.superlink.tail()}"
        )

    def _await_http(self, proc: Process, url: str) -> bool:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline and proc.alive():
            try:
                with urllib.request.urlopen(url, timeout=1.0) as res:
                    if res.status == 200:
                        return True
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        return False

    def _maybe_superexec(self, name: str, port: int, parent: Process | None) -> None:
        if self.isolation != "process" or parent is None:
            return
        self._superexecs.append(
            Process(
                f"superexec {name}",
                [
                    "flower-superexec",
                    "--insecure",
                    "--runtime-api-address",
                    f"{self.host}:{port}",
                    "--parent-pid",
                    str(parent.pid),
                ],
                self._env(name),
                self.workdir / name / "superexec.log",
            )
        )

    def _spawn_supernode(self, silo: Silo) -> tuple[Process, int]:
        d = self.workdir / silo.name
        d.mkdir(parents=True, exist_ok=True)
        node_config = {"silo": silo.name, **silo.node_config}
        cfg = write_toml(d / "node-config.toml", node_config)
        port = free_port(self.host)
        proc = Process(
            f"supernode {silo.name}",
            [
                "flower-supernode",
                "--insecure",
                "--superlink",
                self.address,
                "--isolation",
                self.isolation,
                "--host",
                self.host,
                "--port",
                str(port),
                "--node-config",
                str(cfg),
            ],
            self._env(silo.name),
            d / f"supernode-{port}.log",
        )
        return proc, port

    def _await_supernode(self, silo: Silo, proc: Process, port: int) -> tuple[Process, int, int]:
        for _ in range(3):
            deadline = time.monotonic() + self.start_timeout
            while time.monotonic() < deadline and proc.alive():
                m = _NODE_ID.search(proc.log_text())
                if m:
                    return proc, port, int(m.group(1))
                time.sleep(0.05)
            if proc.alive() or not any(s in proc.log_text().lower() for s in _IN_USE):
                break
            proc, port = self._spawn_supernode(silo)  # lost a race for the port
        terminate([proc], self.stop_grace)
        raise TrainingError(
            f"SuperNode of silo '{silo.name}' did not register with the SuperLink at "
            f"{self.address} within {self.start_timeout:.0f} s; command: "
            f"{' '.join(proc.argv)}; log {proc.log_path}:\n{proc.tail()}"
        )

    # -- running

    def run_training(
        self,
        run_config: Mapping[str, ConfigValue],
        *,
        app: str | Path | None = None,
        output_dir: str | Path | None = None,
        timeout: float = 600.0,
    ) -> TrainingResult:
        """:func:`run_training` on this cluster, failing fast if one of its processes dies."""
        cfg = dict(run_config)
        if app is None:
            cfg.setdefault("min-nodes", len(self.silos))
        return run_training(
            app,
            cfg,
            self.address,
            output_dir=output_dir,
            timeout=timeout,
            flwr_home=self.cli_home,
            watch=self,
        )
