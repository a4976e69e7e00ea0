"""Submit a federated retraining run to a Flower SuperLink and wait for its result.

:func:`run_training` submits a Flower App to a SuperLink the supported way,
with the ``flwr`` CLI (``flwr run APP CONNECTION --run-config FILE
--format json``, the connection written to the CLI's own ``FLWR_HOME``
config), follows it with ``flwr log RUN_ID CONNECTION --stream`` (which
returns when the run ends), reads the final status with ``flwr ls
CONNECTION --run-id RUN_ID --format json``, and loads what the ServerApp
wrote. It fails with :class:`TrainingError` - never hangs - when the run
fails, when the timeout passes, or when a process of the cluster it
watches dies.

Plug-in point: ``app`` may be any Flower App directory (``pyproject.toml``
with ``[tool.flwr.app.components]`` naming a ``ServerApp`` and a
``ClientApp``). Its run config must declare ``output-dir``, which the
runner sets, and its ServerApp must write its result there with
:func:`fedgov.federated.write_result` (or ``error.json`` with
:func:`fedgov.federated.write_error`). ``app=None`` runs the built-in
logistic regression app.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from fedgov.federated._errors import TrainingError
from fedgov.federated._executables import executable
from fedgov.federated._fab import write_builtin_app
from fedgov.federated._process import ANSI, ConfigValue, base_env, write_toml
from fedgov.federated._result import ERROR_FILE, RESULT_FILE, WEIGHTS_FILE

__all__ = [
    "CONNECTION",
    "TrainingError",
    "TrainingResult",
    "flwr_cli",
    "flwr_json",
    "run_training",
    "write_cli_config",
]

log = logging.getLogger(__name__)

CONNECTION = "fedgov"
"""Name of the SuperLink connection in the flwr CLI's config."""


class Watched(Protocol):
    """Processes that must stay up during a run (a :class:`~fedgov.federated.FlowerCluster`).

    A protocol, so that this module needs nothing from ``cluster`` (which imports it).
    """

    def check(self) -> None:
        """Raise :class:`TrainingError` naming a process that has exited."""
        ...


@dataclass(frozen=True)
class TrainingResult:
    """What a finished run produced."""

    run_id: int
    weights: list[np.ndarray]
    """``[coef, intercept]`` of the built-in model; for another app, its arrays in order."""
    arrays: Mapping[str, np.ndarray]
    metadata: Mapping[str, Any]
    status: Mapping[str, Any]
    """The run as ``flwr ls --format json`` reports it (status, times, traffic)."""
    output_dir: Path
    timings: Mapping[str, float] = field(default_factory=dict)
    """Seconds: ``submit`` (flwr run), ``wait`` (until the run ended), ``status``
    (flwr ls), ``total``; and wall-clock ``submitted_at``/``ended_at`` (``time.time()``)."""


def write_cli_config(
    home: Path, address: str, *, insecure: bool = True, root_certificates: str | None = None
) -> Path:
    """Write the flwr CLI's config (``FLWR_HOME/config.toml``) with one connection."""
    conn: dict[str, Any] = {"address": address, "insecure": insecure}
    if root_certificates:
        conn = {"address": address, "root-certificates": str(Path(root_certificates).resolve())}
    import tomli_w

    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text(
        tomli_w.dumps({"superlink": {"default": CONNECTION, CONNECTION: conn}}), encoding="utf-8"
    )
    return path


def flwr_cli(
    args: list[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """``flwr ARGS`` with ``env`` (its ``FLWR_HOME`` holds the connection), within ``timeout`` s."""
    try:
        return subprocess.run(
            [executable("flwr"), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise TrainingError(
            f"`flwr {' '.join(args)}` did not answer within {timeout:.0f} s"
        ) from None


def flwr_json(res: subprocess.CompletedProcess[str], what: str) -> dict[str, Any]:
    """The JSON document of a ``flwr ... --format json`` call; :class:`TrainingError`
    saying ``what`` failed, with Flower's message, unless it succeeded."""
    text = ANSI.sub("", res.stdout)
    start = text.find("{")
    try:
        doc: dict[str, Any] = json.loads(text[start:]) if start >= 0 else {}
    except json.JSONDecodeError:
        doc = {}
    if res.returncode != 0 or not doc.get("success", False):
        detail = doc.get("error-message") or (ANSI.sub("", res.stderr) + text).strip()
        raise TrainingError(f"{what} failed (exit code {res.returncode}): {detail[-2000:]}")
    return doc


def _run_status(run_id: int, env: dict[str, str]) -> dict[str, Any]:
    doc = flwr_json(
        flwr_cli(["ls", CONNECTION, "--run-id", str(run_id), "--format", "json"], env, 60.0),
        f"`flwr ls --run-id {run_id}`",
    )
    runs = doc.get("runs") or [{}]
    return dict(runs[0])


def _stop_run(run_id: int, env: dict[str, str]) -> None:
    try:
        flwr_cli(["stop", str(run_id), CONNECTION], env, 30.0)
    except TrainingError as exc:
        log.warning("could not stop run %d: %s", run_id, exc)


@dataclass
class _Follower:
    """``flwr log RUN_ID --stream``: ends when the run has ended."""

    run_id: int
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [executable("flwr"), "log", str(self.run_id), CONNECTION, "--stream"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def ended(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self, lines: int = 25) -> str:
        try:
            text = ANSI.sub("", self.log_path.read_text(errors="replace"))
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _load_result(
    out: Path, run_id: int, status: dict[str, Any], timings: dict[str, float]
) -> TrainingResult:
    meta = json.loads((out / RESULT_FILE).read_text(encoding="utf-8"))
    with np.load(out / WEIGHTS_FILE, allow_pickle=False) as z:
        arrays = {k: np.array(z[k]) for k in z.files}
    if "coef" in arrays and "intercept" in arrays:
        weights = [arrays["coef"], arrays["intercept"]]
    else:
        weights = list(arrays.values())
    return TrainingResult(run_id, weights, arrays, meta, status, out, timings)


def _unpack_fab(fab: Path, dest: Path) -> Path:
    """A FAB (``flwr build``'s zip) as an app directory ``flwr run`` can take."""
    import zipfile

    try:
        with zipfile.ZipFile(fab) as z:
            for name in z.namelist():
                target = (dest / name).resolve()
                if not target.is_relative_to(dest.resolve()):
                    raise TrainingError(f"{fab}: entry '{name}' points outside the app")
            z.extractall(dest)
    except zipfile.BadZipFile:
        raise TrainingError(f"{fab}: not a Flower App Bundle (not a zip file)") from None
    return dest


def run_training(
    app: str | Path | None,
    run_config: Mapping[str, ConfigValue],
    federation_address: str,
    *,
    output_dir: str | Path | None = None,
    timeout: float = 600.0,
    insecure: bool = True,
    root_certificates: str | Path | None = None,
    flwr_home: str | Path | None = None,
    watch: Watched | None = None,
) -> TrainingResult:
    """Submit a Flower App to the SuperLink at ``federation_address`` and wait for it.

    ``app``: a Flower App directory, a ``.fab`` file (``flwr build``), or None
    for the built-in app (written to a temporary directory). ``run_config`` overrides the app's
    ``[tool.flwr.app.config]``; ``output-dir`` is set to ``output_dir`` (a new
    temporary directory if None). ``timeout`` bounds the whole run, from
    submission to its end. ``watch``: a cluster whose processes must stay
    up (:meth:`FlowerCluster.check`); if one dies, the run is stopped and
    :class:`TrainingError` names it. ``flwr_home`` is the CLI's
    ``FLWR_HOME`` (a temporary one by default; its ``config.toml`` is
    written with a connection to ``federation_address``).
    """
    t0 = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="fedgov-run-"))
    try:
        return _run(
            app,
            run_config,
            federation_address,
            output_dir,
            timeout,
            insecure,
            root_certificates,
            flwr_home,
            watch,
            scratch,
            t0,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run(
    app: str | Path | None,
    run_config: Mapping[str, ConfigValue],
    address: str,
    output_dir: str | Path | None,
    timeout: float,
    insecure: bool,
    root_certificates: str | Path | None,
    flwr_home: str | Path | None,
    watch: Watched | None,
    scratch: Path,
    t0: float,
) -> TrainingResult:
    if app is None:
        app_dir = write_builtin_app(scratch / "app")
    elif Path(app).is_file() and Path(app).suffix == ".fab":
        app_dir = _unpack_fab(Path(app), scratch / "app")
    else:
        app_dir = Path(app).resolve()
    if not (app_dir / "pyproject.toml").is_file():
        raise TrainingError(f"{app_dir}: not a Flower App (no pyproject.toml)")
    out = (
        Path(output_dir)
        if output_dir is not None
        else Path(tempfile.mkdtemp(prefix="fedgov-model-"))
    )
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for stale in (RESULT_FILE, ERROR_FILE, WEIGHTS_FILE):
        (out / stale).unlink(missing_ok=True)
    home = Path(flwr_home) if flwr_home is not None else scratch / "cli"
    if not (home / "config.toml").exists():
        write_cli_config(
            home,
            address,
            insecure=insecure,
            root_certificates=str(root_certificates) if root_certificates else None,
        )
    env = base_env(home, {})
    overrides = write_toml(scratch / "run-config.toml", {**run_config, "output-dir": str(out)})

    if watch is not None:
        watch.check()
    deadline = time.monotonic() + timeout
    doc = flwr_json(
        flwr_cli(
            ["run", str(app_dir), CONNECTION, "--run-config", str(overrides), "--format", "json"],
            env,
            max(1.0, min(120.0, timeout)),
        ),
        f"`flwr run {app_dir}` against {address}",
    )
    run_id = int(doc["run-id"])
    t_submit, submitted_at = time.perf_counter(), time.time()
    log.info("submitted run %d (%s) to %s", run_id, doc.get("fab-id", ""), address)

    follower = _Follower(run_id, env, out / f"run-{run_id}.log")
    follower.start()
    try:
        while True:
            if follower.ended():
                t_ended, ended_at = time.perf_counter(), time.time()
                status = _run_status(run_id, env)
                if str(status.get("status", "")).startswith("finished"):
                    break
                follower.start()  # the stream dropped before the run ended
            if watch is not None:
                try:
                    watch.check()
                except TrainingError as exc:
                    _stop_run(run_id, env)
                    raise TrainingError(f"run {run_id} aborted: {exc}") from None
            if time.monotonic() > deadline:
                _stop_run(run_id, env)
                raise TrainingError(
                    f"run {run_id} did not finish within {timeout:.0f} s and was stopped; "
                    f"last log lines:\n{follower.tail()}"
                )
            time.sleep(0.1)
    finally:
        follower.stop()
    timings = {
        "submit": t_submit - t0,
        "wait": t_ended - t_submit,
        "status": time.perf_counter() - t_ended,
        "submitted_at": submitted_at,
        "ended_at": ended_at,
    }
    timings["total"] = time.perf_counter() - t0
    state = str(status.get("status", ""))
    if state == "finished:completed" and (out / RESULT_FILE).exists():
        return _load_result(out, run_id, status, timings)
    reason = ""
    if (out / ERROR_FILE).exists():
        reason = json.loads((out / ERROR_FILE).read_text(encoding="utf-8")).get("error", "")
    raise TrainingError(
        f"run {run_id} ended as '{state}'"
        + (f" ({status.get('status-details')})" if status.get("status-details") else "")
        + (f": {reason}" if reason else "")
        + (
            ""
            if (out / RESULT_FILE).exists() or reason
            else f"; the ServerApp wrote no {RESULT_FILE} to {out}"
        )
        + f"\nlast log lines:\n{follower.tail()}"
    )
