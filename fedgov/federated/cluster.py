"""A Flower cluster on this machine: a SuperLink and one SuperNode per silo.

:class:`FlowerCluster` starts them with the deployment's own classes
(:mod:`fedgov.federated.nodes`: free ports, one ``FLWR_HOME`` per process,
readiness checks, a retry when a port is lost), registers the SuperNodes in
parallel, and stops every process it started, and their children, on exit:
SIGTERM, then SIGKILL.

Secure by default, as a deployment runs: the SuperLink serves TLS with a
certificate for its host from a trial CA (``pki``; made in the work folder
if not given) and requires SuperNode authentication; each silo gets a node
key there (``<silo>.node``/``.node.pub``), enrolled with the SuperLink before
its SuperNode starts. ``insecure=True`` runs both ends plaintext with no
node authentication (kept for comparing the cost of TLS; never for data
that leaves a machine).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from fedgov.federated._executables import executable
from fedgov.federated._fab import node_ids_value
from fedgov.federated._process import (
    ConfigValue,
    Process,
    base_env,
    descendants,
    pid_gone,
    terminate,
)
from fedgov.federated.nodes import ProcessOptions, SuperLinkProcess, SuperNodeProcess
from fedgov.federated.runner import TrainingError, TrainingResult, run_training
from fedgov.tls import NodeKey, TlsFiles, issue_server_certificate, write_node_key

__all__ = ["FlowerCluster", "NodeInfo", "Silo"]

log = logging.getLogger(__name__)


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
    ``pki``: the folder of the trial CA, the SuperLink's certificate
    (``superlink.pem``) and the silos' node keys (default: ``workdir/pki``);
    ``insecure``: plaintext, no node authentication (see the module docstring).
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
        pki: str | Path | None = None,
        insecure: bool = False,
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
        self.insecure = insecure
        self.pki = Path(pki) if pki is not None else self.workdir / "pki"
        self.tls: TlsFiles | None = None  # the SuperLink's, once started
        self.node_keys: dict[str, NodeKey] = {}
        self._link: SuperLinkProcess | None = None
        self._nodes: dict[str, SuperNodeProcess] = {}  # registered, by silo name
        self._superexecs: list[Process] = []  # with isolation="process"
        self.timings: dict[str, float] = {}
        self.seen_pids: set[int] = set()

    # -- lifecycle

    def __enter__(self) -> FlowerCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        t0 = time.perf_counter()
        spawned: list[SuperNodeProcess] = []
        try:
            if not self.insecure:
                self.tls = issue_server_certificate(self.pki, "superlink", [self.host])
                self.node_keys = {s.name: write_node_key(self.pki, s.name) for s in self.silos}
            link = SuperLinkProcess(
                workdir=self.workdir / "superlink", tls=self.tls, **self._options()
            )
            self._link = link.start()
            self._maybe_superexec("superlink", link.port, link.proc)
            self.timings["superlink"] = time.perf_counter() - t0
            t1 = time.perf_counter()
            if self.node_keys:
                with ThreadPoolExecutor(len(self.node_keys)) as pool:  # one flwr CLI each
                    keys = [k.public for k in self.node_keys.values()]
                    list(pool.map(link.enroll, self.node_keys, keys))
                self.timings["enroll"] = time.perf_counter() - t1
            spawned += [self.supernode(s) for s in self.silos]
            for n in spawned:  # all spawned first: they register in parallel
                self._nodes[n.name] = n.await_registered()
                self._maybe_superexec(n.name, n.port, n.proc)
            self.timings["supernodes"] = time.perf_counter() - t1
        except BaseException:
            for n in spawned:
                n.stop()
            self.stop()
            raise
        self.timings["start"] = time.perf_counter() - t0
        self._remember_pids()
        log.info(
            "Flower cluster up in %.2f s: SuperLink %s, SuperNodes %s",
            self.timings["start"],
            self.address,
            {n: node.node_id for n, node in self._nodes.items()},
        )

    def stop(self) -> None:
        self._remember_pids()
        # SuperNodes first, so none is left retrying a SuperLink that is gone.
        terminate(
            [*self._superexecs, *(n.proc for n in self._nodes.values() if n.proc)],
            self.stop_grace,
        )
        for node in self._nodes.values():
            node.proc = None
        if self._link is not None:
            self._link.stop()
        self._nodes.clear()
        self._superexecs.clear()
        self._link = None
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def supernode(self, silo: Silo, *, node_key: NodeKey | None = None) -> SuperNodeProcess:
        """Spawn a SuperNode for ``silo`` against this SuperLink, trusting its CA, signing
        with ``node_key`` (default: the silo's enrolled key); the caller awaits it."""
        key = node_key or self.node_keys.get(silo.name)
        return SuperNodeProcess(
            silo.name,
            self.address,
            silo.node_config,
            workdir=self.workdir / silo.name,
            root_certificates=self.tls.ca if self.tls is not None else None,
            node_key=key,
            **self._options(),
        ).spawn()

    def _options(self) -> ProcessOptions:
        return {
            "host": self.host,
            "isolation": self.isolation,
            "extra_env": self._extra_env,
            "start_timeout": self.start_timeout,
            "stop_grace": self.stop_grace,
        }

    # -- state

    @property
    def port(self) -> int:
        return self._link.port if self._link is not None else 0

    @property
    def address(self) -> str:
        """The SuperLink's address (Fleet, Control and Runtime APIs share it)."""
        return f"{self.host}:{self.port}"

    @property
    def nodes(self) -> list[NodeInfo]:
        return [
            NodeInfo(name, n.proc.pid, n.port, n.node_id, n.proc.log_path)
            for name, n in self._nodes.items()
            if n.proc is not None and n.node_id is not None
        ]

    @property
    def cli_home(self) -> Path:
        """``FLWR_HOME`` of the flwr CLI that submits runs to this cluster."""
        assert self._link is not None, "start() first"
        return self._link.cli_home

    @property
    def enrolled(self) -> dict[str, int]:
        """Node id of each silo whose node key the SuperLink accepts (empty: insecure)."""
        return dict(self._link.enrolled) if self._link is not None else {}

    def _processes(self) -> list[tuple[str, Process]]:
        """(what, process) for every live-or-dead process we started, SuperLink first."""
        procs: list[tuple[str, Process]] = []
        if self._link is not None and self._link.proc is not None:
            procs.append((f"the SuperLink (pid {self._link.proc.pid})", self._link.proc))
        procs += [(f"{p.name} (pid {p.pid})", p) for p in self._superexecs]
        procs += [
            (f"SuperNode of silo '{name}' (pid {n.proc.pid}, node id {n.node_id})", n.proc)
            for name, n in self._nodes.items()
            if n.proc is not None
        ]
        return procs

    def pids(self) -> set[int]:
        """Live processes of the cluster now: ours and their descendants."""
        roots = [p.pid for _, p in self._processes()]
        live = {pid for pid in roots if not pid_gone(pid)}
        return live | set(descendants(roots))

    def _remember_pids(self) -> None:
        self.seen_pids |= self.pids()

    def check(self) -> None:
        """Raise :class:`TrainingError` if the SuperLink, a SuperExec or a SuperNode has exited."""
        self._remember_pids()
        for what, p in self._processes():
            if not p.alive():
                raise TrainingError(
                    f"{what} exited with code {p.popen.returncode}; log {p.log_path}:\n{p.tail()}"
                )

    def kill_supernode(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill one silo's SuperNode and its children (for failure tests)."""
        proc = self._nodes[name].proc
        assert proc is not None, f"the SuperNode of {name} is not running"
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

    def _maybe_superexec(self, name: str, port: int, parent: Process | None) -> None:
        """With ``isolation="process"``, the SuperExec a deployment runs beside each process.

        The SuperLink's Runtime API shares its TLS port, so its SuperExec trusts the CA;
        a SuperNode's Runtime API stays plaintext on its own loopback port.
        """
        if self.isolation != "process" or parent is None:
            return
        security = ["--insecure"]
        if name == "superlink" and self.tls is not None:
            security = ["--root-certificates", str(self.tls.ca)]
        home = self.workdir / name / "home"  # the FLWR_HOME of the process it serves
        home.mkdir(parents=True, exist_ok=True)
        self._superexecs.append(
            Process(
                f"superexec {name}",
                [
                    executable("flower-superexec"),
                    *security,
                    "--runtime-api-address",
                    f"{self.host}:{port}",
                    "--parent-pid",
                    str(parent.pid),
                ],
                base_env(home, self._extra_env),
                self.workdir / name / "superexec.log",
            )
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
            if self.enrolled:  # the built-in ServerApp trains with these nodes only
                cfg.setdefault("node-ids", node_ids_value(self.enrolled.values()))
        return run_training(
            app,
            cfg,
            self.address,
            output_dir=output_dir,
            timeout=timeout,
            flwr_home=self.cli_home,
            watch=self,
        )
