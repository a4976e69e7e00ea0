"""The locked install sets (requirements/*.txt, made by scripts/lock.sh) match pyproject.toml.

A lock that no longer satisfies pyproject's ranges, or misses a package pyproject names,
means `bash scripts/test.sh` would install something other than what was tested: refresh
it with `bash scripts/lock.sh`. (`bash scripts/lock.sh --check` re-resolves against the
package index; this test is the offline half of it.)
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[3]
SETS = {"runtime": (), "test": ("test",), "bench": ("bench",), "dev": ("test", "bench", "dev")}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _pins(lock: Path) -> dict[str, list[tuple[Version, Marker | None, int]]]:
    """name -> [(version, marker, number of hashes)] for every pin in a lock file."""
    pins: dict[str, list[tuple[Version, Marker | None, int]]] = {}
    current: list | None = None
    for line in lock.read_text(encoding="utf-8").splitlines():
        m = _PIN.match(line)
        if m:
            name, version, marker = m.groups()
            entry = [Version(version), Marker(marker) if marker else None, 0]
            pins.setdefault(canonicalize_name(name), []).append(entry)  # type: ignore[arg-type]
            current = entry
        elif "--hash=sha256:" in line and current is not None:
            current[2] += 1
    return {k: [tuple(e) for e in v] for k, v in pins.items()}  # type: ignore[misc]


def _requirements(extras: tuple[str, ...]) -> list[Requirement]:
    project = _pyproject()["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in extras:
        for r in project["optional-dependencies"][extra]:
            req = Requirement(r)
            if canonicalize_name(req.name) == "fedgov":  # dev = fedgov[test,bench] + tools
                continue
            reqs.append(req)
    build = (ROOT / "requirements" / "build.in").read_text(encoding="utf-8")
    reqs += [Requirement(s) for s in (ln.split("#")[0].strip() for ln in build.splitlines()) if s]
    return reqs


@pytest.mark.parametrize("name", sorted(SETS))
def test_every_declared_requirement_is_pinned_within_its_range(name: str) -> None:
    pins = _pins(ROOT / "requirements" / f"{name}.txt")
    problems = []
    for req in _requirements(SETS[name]):
        key = canonicalize_name(req.name)
        if req.marker is not None and not req.marker.evaluate():
            continue
        live = [v for v, marker, _ in pins.get(key, []) if marker is None or marker.evaluate()]
        if not live:
            problems.append(f"{req}: not in the lock")
        elif not all(req.specifier.contains(v, prereleases=True) for v in live):
            problems.append(f"{req}: locked at {', '.join(map(str, live))}")
        for extra in req.extras:  # psycopg[binary,pool] -> psycopg-binary, psycopg-pool
            sub = canonicalize_name(f"{req.name}-{extra}")
            if sub not in pins:
                problems.append(f"{req}: extra '{extra}' ({sub}) not in the lock")
    assert not problems, (
        f"requirements/{name}.txt does not match pyproject.toml; run `bash scripts/lock.sh`:\n"
        + "\n".join(problems)
    )


@pytest.mark.parametrize("name", sorted(SETS))
def test_every_pin_is_exact_and_hashed(name: str) -> None:
    pins = _pins(ROOT / "requirements" / f"{name}.txt")
    assert pins, f"requirements/{name}.txt has no pins"
    unhashed = sorted(k for k, entries in pins.items() if any(n == 0 for *_, n in entries))
    assert not unhashed, f"pins without --hash in requirements/{name}.txt: {unhashed}"


def test_the_test_script_installs_from_the_lock() -> None:
    script = (ROOT / "scripts" / "test.sh").read_text(encoding="utf-8")
    assert "--require-hashes -r requirements/test.txt" in script


def test_ci_runs_exactly_the_readme_test_command_in_a_new_virtualenv() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = readme.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [ln.strip() for ln in quick.strip().splitlines() if ln.strip()]
    assert len(commands) == 2, commands
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    ci_commands = [ln.strip() for ln in ci.splitlines() if ln.strip() and not ln.startswith("#")]
    assert ci_commands[-1] == commands[1]
    assert "-m venv" in ci


def test_opa_go_is_pinned_with_hashes_and_installed_at_that_version() -> None:
    """requirements/opa-go.txt (installed apart, see its header) pins one version with a hash
    per wheel, and the environment under test has that version."""
    from importlib import metadata

    pins = _pins(ROOT / "requirements" / "opa-go.txt")
    assert set(pins) == {"opa-golib-python-bindings"}
    ((version, marker, hashes),) = pins["opa-golib-python-bindings"]
    assert marker is None and hashes >= 4  # linux x86_64/aarch64, macOS x86_64/arm64
    assert Version(metadata.version("opa-golib-python-bindings")) == version
    script = (ROOT / "scripts" / "test.sh").read_text(encoding="utf-8")
    assert "--require-hashes -r requirements/opa-go.txt" in script
