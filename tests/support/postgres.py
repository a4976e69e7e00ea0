"""A real PostgreSQL for tests, named by FEDGOV_TEST_POSTGRES_URL.

``bash scripts/services.sh`` starts a throwaway server and prints the variable.
Without it the PostgreSQL tests are skipped, except under CI=true, where they
fail: CI must not pass by skipping them.

The root conftest clears every FEDGOV_* variable around each test (a
function-scoped autouse fixture). ``postgres_server`` is session-scoped, and
pytest sets up higher-scoped fixtures before function-scoped ones, so it reads
the variable while the environment is still intact; tests get the value from
the fixture, never from ``os.environ``. The conftests that need them import
the fixtures from here.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from support.services import required

__all__ = ["ENV_VAR", "PostgresServer", "postgres_server", "postgres_url"]

ENV_VAR = "FEDGOV_TEST_POSTGRES_URL"


@dataclass(frozen=True)
class PostgresServer:
    url: str | None  # None: the variable was not set
    in_ci: bool

    def require(self) -> str:
        """The URL, or skip (locally) / fail (CI) the calling test."""
        reason = (
            f"{ENV_VAR} is not set: start a server with "
            f'`eval "$(bash scripts/services.sh)"; export {ENV_VAR}`'
        )
        return required(self.url, self.in_ci, reason)


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    """Never skips by itself, so fixtures that need it only sometimes can depend on it."""
    return PostgresServer(
        url=os.environ.get(ENV_VAR) or None,
        in_ci=os.environ.get("CI", "").lower() == "true",
    )


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A URL whose search_path is a fresh, empty schema, dropped after the test."""
    import psycopg

    base = postgres_server.require()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(base, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
    except psycopg.OperationalError as exc:
        pytest.fail(f"{ENV_VAR} is set but the server does not answer: {exc}", pytrace=False)
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(base, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
