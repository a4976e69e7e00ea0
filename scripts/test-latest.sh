#!/usr/bin/env bash
# The fresh-dependencies check: the whole suite on the newest versions pyproject.toml
# allows, resolved now into a new virtualenv (no lock), so dependency drift shows up here
# before it reaches a user. Prints which versions differ from the lock, then runs the suite.
# Usage: bash scripts/test-latest.sh [pytest args...]
# Something breaks: fix it, or bound the range in pyproject.toml with a comment naming
# the version that broke and how; then `bash scripts/lock.sh --upgrade` moves the lock.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
python="$(command -v python3.11 || command -v python3)"
venv="$(mktemp -d "${TMPDIR:-/tmp}/fedgov-latest-venv.XXXXXX")"
trap 'rm -rf "$venv"' EXIT
"$python" -m venv "$venv"
# shellcheck disable=SC1091
source "$venv/bin/activate"
python -m pip install --disable-pip-version-check -q --upgrade pip
python -m pip install --disable-pip-version-check -q -e ".[test]"
echo "test-latest: versions that differ from requirements/test.txt (locked -> newest):" >&2
python - <<'PY' >&2
import re
from importlib import metadata
from pathlib import Path

locked = {}
for line in Path("requirements/test.txt").read_text().splitlines():
    m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", line)
    if m:
        locked.setdefault(m[1].lower().replace("_", "-"), m[2])
seen = {d.metadata["Name"].lower().replace("_", "-"): d.version for d in metadata.distributions()}
diff = [f"  {n}: {locked.get(n, '-')} -> {v}" for n, v in sorted(seen.items())
        if locked.get(n) != v and n not in ("pip", "fedgov")]
print("\n".join(diff) or "  none")
PY
FEDGOV_RESOLVE=latest bash scripts/test.sh "$@"
