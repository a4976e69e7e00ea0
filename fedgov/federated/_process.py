"""Local processes of a Flower cluster: start, watch, stop them and their children.

Each process runs in its own session (``start_new_session``), logs to a file,
and is stopped with its whole tree: SIGTERM to its process group and to every
descendant found in ``/proc`` (Flower's SuperLink starts its SuperExec in a
session of its own), a grace period, then SIGKILL.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from fedgov.federated._executables import path_with_scripts

__all__ = [
    "ANSI",
    "ConfigValue",
    "Process",
    "base_env",
    "descendants",
    "free_port",
    "pid_gone",
    "terminate",
    "write_toml",
]

log = logging.getLogger(__name__)

ConfigValue = str | int | float | bool
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a live process, from /proc; None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    rest = text[text.rfind(")") + 2 :].split()
    return rest[0], int(rest[1])


def pid_gone(pid: int) -> bool:
    stat = _proc_stat(pid)
    return stat is None or stat[0] in ("Z", "X")


def descendants(roots: Sequence[int]) -> list[int]:
    """Every live process below ``roots`` (Linux /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except FileNotFoundError:
        return []
    for entry in entries:
        if entry.isdigit():
            stat = _proc_stat(int(entry))
            if stat is not None:
                children.setdefault(stat[1], []).append(int(entry))
    out: list[int] = []
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class Process:
    """A Flower process we started, in its own session, logging to a file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self._log: IO[bytes] = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        try:
            return ANSI.sub("", self.log_path.read_text(errors="replace"))
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def close_log(self) -> None:
        self._log.close()


def terminate(procs: Sequence[Process], grace: float) -> None:
    """SIGTERM every process and descendant, wait ``grace`` s, then SIGKILL."""
    roots = [p.pid for p in procs if p.alive()]
    pids = set(roots) | set(descendants([p.pid for p in procs]))
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in procs:
            if p.alive():
                try:
                    os.killpg(p.pid, sig)  # its session: superexec, app processes
                except (ProcessLookupError, PermissionError):
                    pass
        pids |= set(descendants([p.pid for p in procs]))
        for pid in pids:
            if not pid_gone(pid):
                try:
                    os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
        deadline = time.monotonic() + (grace if sig == signal.SIGTERM else 5.0)
        while time.monotonic() < deadline:
            for p in procs:
                p.popen.poll()  # reap our children
            if all(pid_gone(pid) for pid in pids):
                break
            time.sleep(0.05)
        if all(pid_gone(pid) for pid in pids):
            break
        log.warning("Flower processes ignored SIGTERM for %.1f s; killing them", grace)
    for p in procs:
        try:
            p.popen.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            log.error("process %s (pid %d) survived SIGKILL", p.name, p.pid)
        p.close_log()


def base_env(home: Path, extra: Mapping[str, str]) -> dict[str, str]:
    env = dict(os.environ)  # inherit the interpreter's environment
    env.update(
        {
            # Flower starts flower-superexec, flwr-serverapp... by name: from this environment.
            "PATH": path_with_scripts(env.get("PATH")),
            "FLWR_HOME": str(home),
            "FLWR_DISABLE_UPDATE_CHECK": "1",
            "FLWR_TELEMETRY_ENABLED": "0",
        }
    )
    env.update(extra)
    return env


def write_toml(path: Path, values: Mapping[str, ConfigValue]) -> Path:
    import tomli_w  # a dependency of flwr

    path.write_text(tomli_w.dumps(dict(values)), encoding="utf-8")
    return path
