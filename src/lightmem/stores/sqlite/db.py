"""The connections: pragmas, one transaction per call, lock retries, error translation.

Writes go through one ``sqlite3.Connection``, shared by every thread of the process; an
``RLock`` serialises them, so each public store method runs as exactly one transaction. Reads
take a connection of their own from a small pool (:data:`READERS`, opened as needed): in WAL
mode a reader sees the last commit and never waits for the writer, so a long read (an
export, a large tenant's search) holds up neither writes nor the other reads, such as an API
key's lookup. A ``:memory:`` database has one connection: its reads take the write lock.
Other processes may open the same file: SQLite's busy timeout waits for their locks, and a
``database is locked`` that still escapes is retried a bounded number of times with backoff
before it becomes a :class:`StorageError`.

Rows come back a piece at a time (:class:`Cursor`): ``sqlite3``'s own ``fetchall`` builds every
row in one C call, which the interpreter cannot switch threads in (45,000 memories: 250 ms in
one go; 256 rows: under 2 ms), so a large tenant's read held up every other request.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from lightmem.errors import StorageError
from lightmem.stores.sqlite.lexical import encode_entry_terms, encode_terms

T = TypeVar("T")

#: Attempts of one transaction when SQLite reports the database busy or locked.
LOCK_ATTEMPTS = 4
LOCK_BACKOFF_S = 0.05
#: Read connections open at most (reads beyond wait for one to come back).
READERS = 8
#: Rows fetched in one call of the driver: between pieces the interpreter may switch threads.
FETCH_ROWS = 256


class Cursor(sqlite3.Cursor):
    def fetchall(self) -> list[Any]:
        rows: list[Any] = []
        while piece := self.fetchmany(FETCH_ROWS):
            rows += piece
        return rows


class Connection(sqlite3.Connection):
    """Every ``execute`` on a :class:`Cursor`."""

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor:
        return self.cursor(Cursor).execute(sql, parameters)


class Readers:
    """A pool of read connections, opened by ``connect`` when none is idle."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], size: int) -> None:
        self._connect = connect
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list[sqlite3.Connection] = []
        self._guard = threading.Lock()
        self._closed = False

    @contextlib.contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        with self._slots:
            with self._guard:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = self._connect()
            try:
                yield conn
            finally:
                with self._guard:
                    keep = not self._closed
                    if keep:
                        self._idle.append(conn)
                if not keep:
                    conn.close()

    def close(self) -> None:
        with self._guard:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class Database:
    def __init__(
        self, path: str, busy_timeout_ms: int, synchronous: str = "FULL", readers: int = READERS
    ) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.synchronous = "NORMAL" if synchronous.upper() == "NORMAL" else "FULL"
        self.lock = threading.RLock()  # the write connection (every connection of :memory:)
        self._conn: sqlite3.Connection | None = None
        self._size = readers
        self._readers: Readers | None = None

    def connect(self) -> None:
        """Open the connection; a new database file is created readable by its owner only
        (SQLite gives its -wal and -shm files the database file's permissions)."""
        with self.lock:
            if self._conn is not None:
                return
            if self.path != ":memory:":
                try:
                    Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                    private_file(Path(self.path))
                except OSError as exc:
                    raise StorageError(
                        f"SQLite store {self.path!r}: cannot create its directory: {exc}"
                    ) from exc
            conn = self._open()
            try:
                conn.execute("PRAGMA foreign_keys = ON")
                # Deleted content is overwritten with zeros (right to erasure: a forgotten
                # memory leaves no bytes in free space or free pages).
                conn.execute("PRAGMA secure_delete = ON")
                self._wal(conn)
                # FULL by default, not NORMAL: in WAL mode NORMAL survives a killed process
                # but may lose the last commits on power loss. The contract promises turns are
                # durable when add_turns returns, and losing a user's words is the worst bug we
                # can have; the cost is one fsync of the WAL per transaction, most of the
                # latency of an add() (``lightmem bench perf`` measures both settings).
                # NORMAL is an explicit option for whoever accepts that risk.
                conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            except sqlite3.Error as exc:
                conn.close()
                raise self.error("open", exc) from exc
            self._conn = conn
            if self.path != ":memory:":
                self._readers = Readers(self._reader, self._size)

    def _open(self) -> sqlite3.Connection:
        """A connection with what every one needs: rows by name, the busy timeout, and the
        function the entries triggers store every entry's BM25 terms through."""
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout_ms / 1000,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # used by one thread at a time (a lock, the pool)
                factory=Connection,
            )
        except sqlite3.Error as exc:
            raise self.error("open", exc) from exc
        conn.row_factory = sqlite3.Row
        try:
            conn.create_function("lightmem_terms", 2, encode_terms, deterministic=True)
            conn.create_function("lightmem_terms", 3, encode_entry_terms, deterministic=True)
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        except sqlite3.Error as exc:
            conn.close()
            raise self.error("open", exc) from exc
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn = self._open()
        try:
            conn.execute("PRAGMA query_only = ON")  # a read connection never writes
        except sqlite3.Error as exc:
            conn.close()
            raise self.error("open", exc) from exc
        return conn

    def _wal(self, conn: sqlite3.Connection) -> None:
        """Switch the file to WAL mode. A new file is switched by the first process that gets
        its exclusive lock; two processes that both read it first are a deadlock that SQLite
        answers with an immediate ``database is locked``, without its busy timeout, so the
        switch is retried with backoff until the busy timeout has passed."""
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        pause = LOCK_BACKOFF_S / 5
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.Error as exc:
                if not _is_busy(exc) or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause * (0.5 + random.random()))  # jitter: the racers part
            pause = min(pause * 2, 0.5)

    def close(self) -> None:
        with self.lock:
            if self._conn is None:
                return
            readers, self._readers = self._readers, None
            if readers is not None:
                readers.close()
            conn, self._conn = self._conn, None
            try:
                conn.close()
            except sqlite3.Error as exc:
                raise self.error("close", exc) from exc

    def checkpoint(self, patience_s: float = 2.0) -> bool:
        """Copy the WAL into the database file and truncate the WAL to zero bytes. A read in
        progress (here or in another process) keeps the WAL: tried again for ``patience_s``;
        False when one still held it (the next checkpoint copies it)."""
        deadline = time.monotonic() + patience_s
        while True:
            with self.lock:
                conn = self._conn
                if conn is None:
                    raise StorageError(
                        f"SQLite store {self.path!r}: checkpoint: the store is not open"
                    )
                try:
                    busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                except sqlite3.Error as exc:
                    raise self.error("checkpoint", exc) from exc
            if busy == 0 or time.monotonic() >= deadline:
                return busy == 0
            time.sleep(LOCK_BACKOFF_S)

    def read(self, what: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one read transaction (a consistent snapshot), on a read connection."""
        readers = self._readers
        if readers is None:  # :memory:, or not open (the write path says so)
            return self._run(what, fn, "BEGIN")
        with readers.connection() as conn:
            return self._attempts(conn, what, fn, "BEGIN")

    def write(self, what: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one write transaction; everything or nothing is committed."""
        return self._run(what, fn, "BEGIN IMMEDIATE")

    def _run(self, what: str, fn: Callable[[sqlite3.Connection], T], begin: str) -> T:
        with self.lock:
            conn = self._conn
            if conn is None:
                raise StorageError(f"SQLite store {self.path!r}: {what}: the store is not open")
            return self._attempts(conn, what, fn, begin)

    def _attempts(
        self, conn: sqlite3.Connection, what: str, fn: Callable[[sqlite3.Connection], T], begin: str
    ) -> T:
        for attempt in range(1, LOCK_ATTEMPTS + 1):
            try:
                conn.execute(begin)
                try:
                    result = fn(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    _rollback(conn)
                    raise
                return result
            except sqlite3.Error as exc:
                if _is_busy(exc) and attempt < LOCK_ATTEMPTS:
                    time.sleep(LOCK_BACKOFF_S * 2 ** (attempt - 1))
                    continue
                raise self.error(what, exc, attempts=attempt) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def error(self, what: str, exc: sqlite3.Error, attempts: int = 1) -> StorageError:
        """A :class:`StorageError` that says what failed and, in words, why."""
        return StorageError(
            f"SQLite store {self.path!r}: {what} failed: {self._why(exc, attempts)}"
        )

    def _why(self, exc: sqlite3.Error, attempts: int) -> str:
        name = getattr(exc, "sqlite_errorname", "") or ""
        msg = str(exc)
        low = msg.lower()
        raw = f" [{name or type(exc).__name__}: {msg}]"
        read_only = (
            "the database file is read-only; make the file, its -wal and -shm files "
            "and its directory writable" + raw
        )
        if "READONLY" in name or "readonly" in low:
            return read_only
        if "FULL" in name or "disk is full" in low:
            return "the disk is full" + raw
        if _is_busy(exc):
            return (
                f"the database is locked by another connection or process (gave up after "
                f"{attempts} attempt(s) of {self.busy_timeout_ms} ms busy timeout each)" + raw
            )
        if "NOTADB" in name or "CORRUPT" in name or "not a database" in low:
            return "the file is not a SQLite database or it is corrupt" + raw
        if "CANTOPEN" in name or "unable to open" in low:
            if self._read_only_file():
                return read_only
            return "the file cannot be opened (does the path exist and is it accessible?)" + raw
        if "IOERR" in name:
            return "an I/O error occurred while reading or writing the file" + raw
        if "CONSTRAINT" in name or isinstance(exc, sqlite3.IntegrityError):
            return "a constraint was violated" + raw
        return msg + raw

    def _read_only_file(self) -> bool:
        if self.path == ":memory:" or not os.path.exists(self.path):
            return False
        return not os.access(self.path, os.W_OK)


def _is_busy(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "") or ""
    low = str(exc).lower()
    return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in low


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        # If ROLLBACK fails the transaction is gone either way; the error that made us roll
        # back is the one the caller gets.
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def private_file(path: Path) -> None:
    """Create ``path`` with mode 0600 if it does not exist, whatever the umask."""
    if path.exists():
        return
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
