"""The programs fedgov starts come from the environment of the running interpreter.

A service started as ``/opt/venv/bin/fedgov ...`` (a systemd unit, a cron
job) runs without an activated virtualenv: its ``PATH`` lacks the venv's
``bin``, where pip put flwr's console scripts, so ``flower-superlink``
started by name is not found although flwr is installed. Hence
:func:`executable`: every program fedgov starts is looked up first in this
interpreter's scripts directory, then on ``PATH``; if neither has it,
:class:`TrainingError` says which program, where it looked and what to do.

Flower also starts programs by name itself: a SuperLink or SuperNode starts
``flower-superexec``, which starts ``flwr-serverapp`` / ``flwr-clientapp``
per task. So the processes fedgov starts get the same directory first on
their ``PATH`` (:func:`path_with_scripts`, applied by
:func:`fedgov.federated._process.base_env`).

Why not ``python -m``: flwr 1.42 declares these programs only as console
scripts (``flower-superlink = flwr.superlink.cli:flower_superlink``, ...),
with no ``__main__`` module, and its own children are found by name anyway.
A console script run by its path is the entry point; its ``#!`` line names
this interpreter.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import sysconfig
from pathlib import Path

from fedgov.federated._errors import TrainingError

__all__ = ["executable", "path_with_scripts", "scripts_dirs"]

log = logging.getLogger(__name__)

_WHAT = {
    "flower-superlink": "Flower's SuperLink",
    "flower-supernode": "Flower's SuperNode",
    "flower-superexec": "Flower's SuperExec",
    "flwr": "the Flower CLI",
}


def scripts_dirs() -> list[Path]:
    """Where this interpreter's console scripts live: sysconfig's ``scripts``
    path, then the interpreter's own directory (the same one in a virtualenv)."""
    dirs: list[Path] = []
    for d in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable or "")):
        if d and Path(d) not in dirs:
            dirs.append(Path(d))
    return dirs


def executable(name: str) -> str:
    """The path of program ``name``: beside this interpreter, else on ``PATH``.

    Raises :class:`TrainingError` ("cannot start Flower's SuperLink:
    'flower-superlink' not found in ... or on PATH; ...") if neither has it.
    """
    here = scripts_dirs()
    found = shutil.which(name, path=os.pathsep.join(str(d) for d in here))
    if found:
        return found
    found = shutil.which(name)
    if found:
        log.info("%s is not beside %s; using %s from PATH", name, sys.executable, found)
        return found
    where = " or ".join(str(d) for d in here) or "the interpreter's directory"
    raise TrainingError(
        f"cannot start {_WHAT.get(name, repr(name))}: '{name}' not found in {where} or on PATH; "
        f"install flwr in this environment (the one of {sys.executable or 'this interpreter'})"
    )


def path_with_scripts(path: str | None) -> str:
    """A ``PATH`` value with this interpreter's scripts directories first (once)."""
    first = [str(d) for d in scripts_dirs()]
    rest = [p for p in (path or "").split(os.pathsep) if p and p not in first]
    return os.pathsep.join(first + rest)
