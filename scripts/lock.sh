#!/usr/bin/env bash
# Lock the versions the tests pass with: one hashed requirements file per install set,
# resolved for every Python the project supports (uv pip compile --universal).
#
#   bash scripts/lock.sh            refresh requirements/*.txt after editing pyproject.toml
#                                   (keeps existing pins where they still fit)
#   bash scripts/lock.sh --upgrade  move every pin to the newest version pyproject allows
#   bash scripts/lock.sh --check    exit 1 when a lock no longer matches pyproject.toml
#
# Install sets: runtime (the project), test (.[test]), bench (.[bench]), dev (.[dev]).
# Needs uv; the one pinned in the lock is installed when missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# uv: the version flwr pulls into the locked set, so the files do not churn between
# uv versions; the Python floor: requires-python in pyproject.toml.
uv_version="$(sed -n 's/^uv==\([^ ]*\).*/\1/p' requirements/runtime.txt)"
python_floor="$(python -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["requires-python"].split(",")[0].lstrip(">=~ "))')"

uv_bin="$(command -v uv || true)"
if [[ -z "$uv_bin" || "$("$uv_bin" --version | awk '{print $2}')" != "$uv_version" ]]; then
    python -m pip install --disable-pip-version-check -q "uv==$uv_version" >&2
    uv_bin="$(python -c 'import sysconfig,os;print(os.path.join(sysconfig.get_path("scripts"),"uv"))')"
fi

mode="${1:-refresh}"
compile() {  # compile SET OUTPUT [extra uv args]
    local set="$1" out="$2"; shift 2
    local extra=()
    [[ "$set" != runtime ]] && extra=(--extra "$set")
    "$uv_bin" pip compile pyproject.toml requirements/build.in "${extra[@]}" --universal \
        --python-version "$python_floor" --generate-hashes --no-header --quiet \
        --custom-compile-command "bash scripts/lock.sh" -o "$out" "$@"
}

status=0
for set in runtime test bench dev; do
    lock="requirements/$set.txt"
    case "$mode" in
        refresh) compile "$set" "$lock" ;;
        --upgrade) compile "$set" "$lock" --upgrade ;;
        --check)
            tmp="$(mktemp)"; cp "$lock" "$tmp"
            compile "$set" "$tmp"
            if ! diff -q "$lock" "$tmp" >/dev/null; then
                echo "lock.sh: $lock no longer matches pyproject.toml; run: bash scripts/lock.sh" >&2
                diff -u "$lock" "$tmp" | head -n 40 >&2 || true
                status=1
            fi
            rm -f "$tmp" ;;
        *) echo "usage: $0 [--upgrade|--check]" >&2; exit 2 ;;
    esac
done
exit "$status"
