"""Programs fedgov starts come from the running interpreter's environment, then PATH."""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

import pytest

from fedgov.federated import TrainingError
from fedgov.federated._executables import executable, path_with_scripts, scripts_dirs
from fedgov.federated._process import base_env


def _program(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def venv_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The running interpreter seems to live in tmp_path/venv/bin; PATH holds tmp_path/path."""
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    monkeypatch.setattr(
        sysconfig, "get_path", lambda name, *a, **k: str(bin_dir) if name == "scripts" else ""
    )
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    return bin_dir


def test_found_beside_the_interpreter_before_path(venv_bin: Path, tmp_path: Path) -> None:
    ours = _program(venv_bin, "flower-superlink")
    _program(tmp_path / "path", "flower-superlink")  # another environment's, on PATH
    assert executable("flower-superlink") == str(ours)


def test_falls_back_to_path(venv_bin: Path, tmp_path: Path) -> None:
    theirs = _program(tmp_path / "path", "flwr")
    assert executable("flwr") == str(theirs)


def test_missing_program_says_what_where_and_what_to_do(venv_bin: Path) -> None:
    with pytest.raises(TrainingError) as info:
        executable("flower-superlink")
    assert str(info.value) == (
        f"cannot start Flower's SuperLink: 'flower-superlink' not found in {venv_bin} "
        f"or on PATH; install flwr in this environment (the one of {venv_bin / 'python'})"
    )


def test_processes_find_flowers_own_programs_in_this_environment(
    venv_bin: Path, tmp_path: Path
) -> None:
    # Flower starts flower-superexec and flwr-serverapp/-clientapp by name.
    assert path_with_scripts(f"/usr/bin{os.pathsep}{venv_bin}{os.pathsep}/bin") == os.pathsep.join(
        [str(venv_bin), "/usr/bin", "/bin"]
    )
    env = base_env(tmp_path / "home", {})
    assert env["PATH"].split(os.pathsep) == [str(venv_bin), str(tmp_path / "path")]


def test_this_venvs_flower_is_found_without_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # as under systemd or cron
    for name in ("flower-superlink", "flower-supernode", "flower-superexec", "flwr"):
        assert Path(executable(name)).parent in scripts_dirs()
