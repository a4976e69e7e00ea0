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

Security (Flower 1.42). Given ``tls`` (the site's CA, a server certificate
naming the SuperLink's host), the SuperLink serves its one port (Fleet,
Control, Runtime APIs) over TLS with SuperNode authentication
(``--ssl-ca-certfile --ssl-certfile --ssl-keyfile --enable-supernode-auth``):
it admits a SuperNode only if its public key was registered first
(:meth:`SuperLinkProcess.enroll`: ``flwr supernode register``). A SuperNode
given the CA and its node key connects over TLS and signs its calls
(``--root-certificates --auth-supernode-private-key``). An unregistered key
(``[code: 2004] Failed to activate SuperNode``), no key (``[code: 2001]``)
and a CA it does not trust (``CERTIFICATE_VERIFY_FAILED``) each end the
SuperNode with exit code 305; :meth:`SuperNodeProcess.refusal` says which.
Without ``tls`` both ends run ``--insecure``: plaintext, any node may join.

Not covered by node authentication: the Control API shares the port and, in
open-source Flower, authenticates no one, so whoever reaches the port could
register a key. Hence the built-in ServerApp trains only with the node ids
fedgov enrolled (run config ``node-ids``); expose the port to the silos only.
"""

from __future__ import annotations

import logging
import re
import shutil
import ssl
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
from fedgov.federated.runner import CONNECTION, flwr_cli, flwr_json, write_cli_config
from fedgov.tls import NodeKey, TlsFiles

__all__ = ["ProcessOptions", "SuperLinkProcess", "SuperNodeProcess"]

log = logging.getLogger(__name__)

_NODE_ID = re.compile(r"SuperNode ID: (\d+)")
_IN_USE = ("address already in use", "errno 98", "only one usage of each socket address")
_PORT_ATTEMPTS = 3
# Why a SuperNode exited before it got a node id (Flower 1.42 log lines), and what to do.
_REFUSED = (
    (
        "Failed to activate SuperNode",
        "its node key is not enrolled with the SuperLink (register its .node.pub first)",
    ),
    (
        "SuperNode authentication is enabled",
        "the SuperLink requires node authentication and this node has no node key",
    ),
    (
        "CERTIFICATE_VERIFY_FAILED",
        "it does not trust the SuperLink's certificate (give it the site's CA)",
    ),
    ("SSL/TLS handshake error", "the TLS handshake with the SuperLink failed"),
)


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
        """The flags both ends take alike: the isolation, where to listen."""
        return [
            "--isolation",
            self.isolation,
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]

    def _gave_up(self, what: str, reason: str | None = None) -> TrainingError:
        """Stop, and the error saying ``what`` did not happen in time (or ``reason``,
        why it cannot), with the command and the end of its log."""
        assert self.proc is not None
        message = (
            f"{what} within {self.start_timeout:.0f} s"
            + (f": {reason}" if reason else "")
            + f"; command: {' '.join(self.proc.argv)}; "
            f"log {self.proc.log_path}:\n{self.proc.tail()}"
        )
        self.stop()
        return TrainingError(message)


class SuperLinkProcess(_FlowerProcess):
    """``flower-superlink`` on a free port of ``host``; ``address`` once started.

    With ``isolation="subprocess"`` (Flower's default) the SuperLink starts
    its own SuperExec; with ``process`` the caller starts one (see
    FlowerCluster). ``tls``: TLS and SuperNode authentication (see the module
    docstring); None runs it plaintext, without node authentication. The
    other options: :class:`ProcessOptions`.
    """

    def __init__(
        self,
        *,
        workdir: Path | None = None,
        tls: TlsFiles | None = None,
        **options: Unpack[ProcessOptions],
    ) -> None:
        super().__init__(**options)
        self._own = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="fedgov-superlink-"))
        self.tls = tls
        self.enrolled: dict[str, int] = {}
        """Node id of each enrolled node key, by name (silo id)."""

    @property
    def address(self) -> str:
        """Where the Fleet, Control and Runtime APIs listen (they share the port)."""
        return f"{self.host}:{self.port}"

    @property
    def cli_home(self) -> Path:
        """A ``FLWR_HOME`` for the flwr CLI that submits runs here (its config written
        by :meth:`start` for this address, trusting ``tls.ca`` when the SuperLink runs TLS)."""
        return self.workdir / "cli"

    def _security_flags(self) -> list[str]:
        if self.tls is None:
            log.warning("Flower SuperLink WITHOUT TLS or node authentication (--insecure)")
            return ["--insecure"]
        self.tls.read()  # a missing or bad file stops the start, with the file named
        return [
            "--ssl-ca-certfile",
            str(self.tls.ca),
            "--ssl-certfile",
            str(self.tls.cert),
            "--ssl-keyfile",
            str(self.tls.key),
            "--enable-supernode-auth",
        ]

    def start(self) -> SuperLinkProcess:
        program = executable("flower-superlink")
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = base_env(self._home(), self.extra_env)
        security = self._security_flags()
        self.enrolled.clear()  # a new SuperLink keeps its registrations in memory only
        for attempt in range(_PORT_ATTEMPTS):
            self.port = free_port(self.host)
            self.proc = Process(
                "superlink",
                [
                    program,
                    *security,
                    *self._flags(),
                    "--disable-runtime-dependency-installation",
                ],
                env,
                self.workdir / f"superlink-{attempt}.log",
            )
            if self._await_health():
                log.info("Flower SuperLink ready at %s", self.address)
                # Written once here, not on each read: parallel enrolls read it concurrently.
                ca = str(self.tls.ca) if self.tls is not None else None
                write_cli_config(
                    self.cli_home, self.address, insecure=ca is None, root_certificates=ca
                )
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
        if self.tls is None:
            url, context = f"http://{self.address}/health", None
        else:
            url, context = (
                f"https://{self.address}/health",
                ssl.create_default_context(cafile=str(self.tls.ca)),
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline and self.proc.alive():
            try:
                with urllib.request.urlopen(url, timeout=1.0, context=context) as r:
                    if r.status == 200:
                        return True
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        return False

    def enroll(self, name: str, public_key: Path) -> int:
        """Register node key ``public_key`` (OpenSSH) as silo ``name``'s; its node id.

        ``flwr supernode register`` through the Control API. Once per name
        and SuperLink: a second call returns the id already given.
        """
        if self.tls is None:
            raise TrainingError(
                f"cannot enroll {name}'s node key: the SuperLink runs without TLS, so without "
                "node authentication; start it with the site's certificates"
            )
        if name in self.enrolled:
            return self.enrolled[name]
        if not Path(public_key).is_file():
            raise TrainingError(
                f"silo '{name}' has no Flower node key to enroll: {public_key} does not exist; "
                f"create one with `fedgov certs init` (writes {name}.node and {name}.node.pub) "
                "and give the silo's public key to the aggregator"
            )
        doc = flwr_json(
            flwr_cli(
                ["supernode", "register", str(public_key), CONNECTION, "--format", "json"],
                base_env(self.cli_home, {}),
                60.0,
            ),
            f"enrolling silo '{name}'s node key {public_key} with the SuperLink at "
            f"{self.address} (`flwr supernode register`)",
        )
        self.enrolled[name] = int(doc["node-id"])
        log.info("enrolled %s's node key %s as node %d", name, public_key, self.enrolled[name])
        return self.enrolled[name]

    def stop(self) -> None:
        super().stop()
        if self._own:
            shutil.rmtree(self.workdir, ignore_errors=True)


class SuperNodeProcess(_FlowerProcess):
    """``flower-supernode`` for one silo, registered with the SuperLink at ``superlink``.

    ``start()`` is ``spawn()`` then ``await_registered()``; a caller starting
    many nodes spawns them all first so that they register in parallel.
    ``root_certificates``: the CA the SuperLink's certificate chains to (TLS;
    None: ``--insecure``); ``node_key``: the key the SuperLink has enrolled
    (:class:`~fedgov.tls.NodeKey`, or the path of its private half).
    """

    def __init__(
        self,
        name: str,
        superlink: str,
        node_config: Mapping[str, ConfigValue],
        *,
        workdir: Path,
        root_certificates: Path | None = None,
        node_key: NodeKey | Path | None = None,
        **options: Unpack[ProcessOptions],
    ) -> None:
        super().__init__(**options)
        self.name = name
        self.superlink = superlink
        self.node_config = {"silo": name, **node_config}
        self.workdir = workdir
        self.root_certificates = root_certificates
        self.node_key = node_key.private if isinstance(node_key, NodeKey) else node_key
        self.node_id: int | None = None

    def _security_flags(self) -> list[str]:
        if self.root_certificates is None:
            if self.node_key is not None:
                raise TrainingError(
                    f"SuperNode of silo '{self.name}': a node key needs TLS (Flower signs "
                    "nothing on a plaintext connection); give the CA as root_certificates"
                )
            return ["--insecure"]
        flags = ["--root-certificates", str(self.root_certificates)]
        if self.node_key is not None:
            flags += ["--auth-supernode-private-key", str(self.node_key)]
        return flags

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
            [
                program,
                *self._security_flags(),
                *self._flags(),
                "--superlink",
                self.superlink,
                "--node-config",
                str(cfg),
            ],
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
            f"{self.superlink}",
            self.refusal(),
        )

    def refusal(self) -> str | None:
        """Why the SuperLink would not have this node, read from its log (None: no refusal)."""
        if self.proc is None:
            return None
        text = self.proc.log_text()
        return next((why for mark, why in _REFUSED if mark in text), None)
