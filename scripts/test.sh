#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs the locked test environment into the
# active Python (a virtualenv: see README "Same environment as CI"), starts the services,
# then runs pytest.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# Exactly the versions the suite passes with (hashed, requirements/test.txt, made by
# scripts/lock.sh); --no-build-isolation builds the project with the locked setuptools.
# scripts/test-latest.sh installs the newest allowed set itself and says so.
if [[ "${FEDGOV_RESOLVE:-locked}" != latest ]]; then
    python -m pip install --disable-pip-version-check -q --require-hashes -r requirements/test.txt
    python -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
fi
# OPA's Go evaluator (the opa-go engine; the conformance suite decides on it): its own hashed
# file, because its metadata asks for Python 3.14 while its py3-none wheel runs on 3.11.
python -m pip install --disable-pip-version-check -q --no-deps --ignore-requires-python \
    --require-hashes -r requirements/opa-go.txt
# Debian packages (requirements/debian.txt) and a throwaway PostgreSQL for the store
# suite; under CI=true a failure here is fatal.
services_env="$(bash scripts/services.sh)" || [[ "${CI:-}" != true ]]
eval "${services_env:-}"
export FEDGOV_TEST_POSTGRES_URL
exec python -m pytest "$@"
