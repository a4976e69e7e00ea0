#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need, then runs pytest.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
python -m pip install --disable-pip-version-check -q -e ".[test]"
# Throwaway PostgreSQL for the store suite; under CI=true a failure here is fatal.
services_env="$(bash scripts/services.sh)" || [[ "${CI:-}" != true ]]
eval "${services_env:-}"
export FEDGOV_TEST_POSTGRES_URL
exec python -m pytest "$@"
