"""The demo's hands: `fedgov` verbs run as separate processes, as a user at a shell runs them.

The demo drives the agent and the aggregator only through their command line
(``fedgov aggregator serve``, ``fedgov agent run``, ``fedgov query ...``) and
the files they write for people (logs, audit chains); it imports neither side.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

from fedgov.errors import GovernanceError

__all__ = [
    "Fedgov",
    "Started",
    "audit_records",
    "free_port",
    "listening",
    "listening_port",
    "scrape",
]

T = TypeVar("T")


def free_port() -> int:
    """A port nothing listens on right now (for a process that takes no port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def audit_records(path: Path) -> list[dict[str, Any]]:
    """The records of an audit chain written so far (a line being written is left out)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            break  # the last line, half written: read it next time
    return out


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Started:
    """A long-running `fedgov` process; its stdout and stderr go to ``log``."""

    name: str
    args: tuple[str, ...]
    popen: subprocess.Popen[bytes]
    log: Path
    _log_file: IO[bytes]

    def alive(self) -> bool:
        return self.popen.poll() is None

    def failure(self) -> GovernanceError:
        return GovernanceError(
            f"`fedgov {' '.join(self.args)}` ({self.name}) exited with code "
            f"{self.popen.returncode}; the end of {self.log}:\n{_tail(self.log)}"
        )

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (both processes stop gracefully on it), then SIGKILL if it lingers."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)
        self._log_file.close()


class Fedgov:
    """Runs `fedgov` verbs with this interpreter: long-running ones in the background,
    queries to completion (several at once with :meth:`call_all`)."""

    def __init__(self) -> None:
        self.argv0 = [sys.executable, "-m", "fedgov"]
        self.started: list[Started] = []

    def start(self, name: str, args: Sequence[str], log: Path) -> Started:
        log.parent.mkdir(parents=True, exist_ok=True)
        fh = open(log, "wb")  # noqa: SIM115 - closed by Started.stop
        popen = subprocess.Popen(
            [*self.argv0, *args], stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT
        )
        proc = Started(name, tuple(args), popen, log, fh)
        self.started.append(proc)
        return proc

    def check_alive(self) -> None:
        for proc in self.started:
            if not proc.alive():
                raise proc.failure()

    def poll(
        self, probe: Callable[[], T | None], timeout: float, interval: float = 0.05
    ) -> T | None:
        """Call ``probe`` until it returns something (or ``timeout`` passes: None),
        raising as soon as a started process has exited."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            found = probe()
            if found is not None or time.monotonic() > deadline:
                return found
            time.sleep(interval)

    def wait_for(
        self, what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.05
    ) -> T:
        """:meth:`poll`, but giving up is an error that says what did not happen."""
        found = self.poll(probe, timeout, interval)
        if found is None:
            raise GovernanceError(f"demo: gave up after {timeout:.0f}s waiting for {what}")
        return found

    def call_all(
        self, calls: Mapping[str, Sequence[str]], timeout: float = 120.0
    ) -> dict[str, str]:
        """Run several verbs at once; their stdout by key. A failing verb raises, naming it."""
        running = {
            key: (
                args,
                subprocess.Popen(
                    [*self.argv0, *args],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
            for key, args in calls.items()
        }
        out: dict[str, str] = {}
        failed: list[str] = []
        for key, (args, popen) in running.items():
            try:
                stdout, stderr = popen.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                popen.kill()
                stdout, stderr = popen.communicate()
                stderr += f"\n(killed after {timeout:.0f}s)"
            if popen.returncode != 0:
                failed.append(
                    f"`fedgov {' '.join(args)}` exited with code {popen.returncode}:\n"
                    f"{stderr.strip()}"
                )
            out[key] = stdout
        if failed:
            raise GovernanceError("demo: " + "\n".join(failed))
        return out

    def call_json(self, args: Sequence[str]) -> Any:
        return json.loads(self.call_all({"": [*args, "--json"]})[""])

    def stop_all(self) -> None:
        """Stop what was started, the last first (agents before their aggregator)."""
        for proc in reversed(self.started):
            proc.stop()


def listening_port(log: Path) -> int | None:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    m = re.search(r"^aggregator listening on port (\d+)", text, re.MULTILINE)
    return int(m.group(1)) if m else None


def listening(ports: list[int]) -> bool | None:
    for port in ports:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            return None
    return True


def scrape(port: int) -> list[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return [
        line
        for line in text.splitlines()
        if line.startswith(
            ("fedgov_agent_feature_psi{", "fedgov_agent_fairness_demographic_parity_ratio{")
        )
    ]
