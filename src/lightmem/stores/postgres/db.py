"""Connections: a pool, one transaction per call, retries, error translation.

psycopg 3 and psycopg_pool are imported here and only when a store opens, so
``import lightmem.stores.postgres`` works without them and opening a store without them
raises :class:`MissingDependencyError` naming the extra to install.

Every public store method runs as one transaction on a pooled connection. Writes run at
READ COMMITTED and lock the rows they check (``SELECT ... FOR UPDATE``, in id order), so
two workers cannot both move the same turn or complete the same batch; reads run at
REPEATABLE READ, READ ONLY: one consistent snapshot even when they read several tables.
A serialization failure or deadlock is retried a bounded number of times, then becomes a
:class:`StorageError` like every other database error. The function run in a transaction gets
a :class:`Cursor`, which takes the ``?`` placeholders the store's SQL is written with.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from lightmem.errors import MissingDependencyError, StorageError

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

T = TypeVar("T")

#: Attempts of one transaction when PostgreSQL reports a serialization failure or deadlock.
ATTEMPTS = 4
BACKOFF_S = 0.05
RETRY_STATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected


@lru_cache(maxsize=1024)
def format_style(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


class Cursor:
    """A psycopg cursor (rows as dicts) that takes ``?`` placeholders."""

    __slots__ = ("_cur",)

    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self._cur = cur

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> psycopg.Cursor[Any]:
        if params is None:
            return self._cur.execute(sql)
        return self._cur.execute(format_style(sql), params)

    def executemany(
        self, sql: str, rows: Sequence[Sequence[Any]], *, returning: bool = False
    ) -> None:
        self._cur.executemany(format_style(sql), rows, returning=returning)

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def nextset(self) -> bool | None:
        return self._cur.nextset()


def require_driver() -> None:
    """Import psycopg and psycopg_pool, or say how to install them."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise MissingDependencyError("psycopg", extra="postgres") from None
    try:
        import psycopg_pool  # noqa: F401
    except ImportError:
        raise MissingDependencyError("psycopg_pool", extra="postgres") from None


def describe(url: str, schema: str) -> str:
    """``host:port/dbname`` and the schema, for messages: never the password."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        info = conninfo_to_dict(url)
    except psycopg.Error:  # a malformed URL: connecting reports it, in libpq's words
        return f"PostgreSQL store (schema {schema!r})"
    host = info.get("host") or info.get("hostaddr") or "localhost"
    where = f"{host}:{info.get('port') or 5432}/{info.get('dbname') or ''}"
    return f"PostgreSQL store {where} (schema {schema!r})"


class Database:
    def __init__(self, url: str, schema: str, pool_size: int, connect_timeout_s: float) -> None:
        self.url = url
        self.schema = schema
        self.pool_size = pool_size
        self.connect_timeout_s = connect_timeout_s
        self.label = f"PostgreSQL store (schema {schema!r})"
        self._pool: ConnectionPool[Any] | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def setup(self, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run ``fn`` on a dedicated autocommit connection (schema setup and migrations, which
        run before the pool knows its search path); ``fn`` opens its own transactions."""
        require_driver()
        import psycopg

        self.label = describe(self.url, self.schema)
        try:
            conn = psycopg.connect(
                self.url, autocommit=True, connect_timeout=max(1, int(self.connect_timeout_s))
            )
        except psycopg.Error as exc:
            raise self.error("connect", exc) from exc
        try:
            with conn:
                return fn(conn)
        except psycopg.Error as exc:
            raise self.error("open", exc) from exc

    def connect(self, search_path: list[str]) -> None:
        """Open the pool; every connection gets ``search_path`` (the store's schema, then
        the schema holding pgvector)."""
        from psycopg import sql
        from psycopg_pool import ConnectionPool, PoolTimeout

        if self._pool is not None:
            return
        set_path = sql.SQL("SET search_path TO {}").format(
            sql.SQL(", ").join(sql.Identifier(s) for s in search_path)
        )

        def configure(conn: psycopg.Connection[Any]) -> None:
            conn.execute(set_path)
            # psycopg prepares a statement run five times; PostgreSQL would then switch to a
            # generic plan, blind to how large the scope in the parameters is (one tenant of
            # ten entries or of a million). A custom plan per execution keeps the search
            # plans right for every scope; planning costs well under a millisecond.
            conn.execute("SET plan_cache_mode = force_custom_plan")

        pool: ConnectionPool[Any] = ConnectionPool(
            self.url,
            min_size=1,
            max_size=self.pool_size,
            kwargs={"autocommit": True, "connect_timeout": max(1, int(self.connect_timeout_s))},
            configure=configure,
            timeout=self.connect_timeout_s,
            name=f"lightmem-{self.schema}",
            open=False,
        )
        try:
            pool.open(wait=True, timeout=self.connect_timeout_s)
        except PoolTimeout as exc:
            pool.close()
            raise StorageError(
                f"{self.label}: cannot connect within {self.connect_timeout_s:g} s: {exc}"
            ) from exc
        self._pool = pool

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    # -- transactions ----------------------------------------------------------------------
    def read(self, what: str, fn: Callable[[Cursor], T]) -> T:
        """Run ``fn`` in one read-only REPEATABLE READ transaction (a consistent snapshot)."""
        return self._run(what, fn, read_only=True)

    def write(self, what: str, fn: Callable[[Cursor], T]) -> T:
        """Run ``fn`` in one READ COMMITTED transaction; everything or nothing commits."""
        return self._run(what, fn, read_only=False)

    def _run(self, what: str, fn: Callable[[Cursor], T], read_only: bool) -> T:
        import psycopg
        from psycopg.rows import dict_row
        from psycopg_pool import PoolTimeout

        pool = self._pool
        if pool is None:
            raise StorageError(f"{self.label}: {what}: the store is not open; call open(dim)")
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with pool.connection() as conn, conn.transaction():
                    cur = conn.cursor(row_factory=dict_row)
                    if read_only:
                        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    return fn(Cursor(cur))
            except PoolTimeout as exc:
                raise StorageError(
                    f"{self.label}: {what} failed: no connection free within "
                    f"{self.connect_timeout_s:g} s (pool_size {self.pool_size}) [{exc}]"
                ) from exc
            except psycopg.Error as exc:
                if exc.sqlstate in RETRY_STATES and attempt < ATTEMPTS:
                    time.sleep(BACKOFF_S * 2 ** (attempt - 1))
                    continue
                raise self.error(what, exc, attempt) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def vacuum(self, tables: list[str]) -> None:
        """VACUUM the tables (outside any transaction: the pool's connections autocommit),
        so the space of deleted rows is marked free and their index entries go."""
        import psycopg

        pool = self._pool
        if pool is None:
            raise StorageError(f"{self.label}: vacuum: the store is not open; call open(dim)")
        try:
            with pool.connection() as conn:
                conn.execute(f"VACUUM {', '.join(tables)}".encode())
        except psycopg.Error as exc:
            raise self.error("vacuum", exc) from exc

    # -- errors ------------------------------------------------------------------------------
    def error(self, what: str, exc: Exception, attempts: int = 1) -> StorageError:
        """A :class:`StorageError` that says what failed and, in words, why."""
        return StorageError(f"{self.label}: {what} failed: {_why(exc, attempts)}")


def _why(exc: Exception, attempts: int) -> str:
    state = getattr(exc, "sqlstate", None) or ""
    msg = str(exc).strip()
    raw = f" [{state or type(exc).__name__}: {msg}]"
    if state in RETRY_STATES:
        return f"conflicting concurrent transactions (gave up after {attempts} attempts)" + raw
    if state.startswith("23"):
        return "a constraint was violated" + raw
    if state == "42501":
        return "permission denied: the database user lacks a privilege it needs" + raw
    if state in ("53100", "53200"):
        return "the server is out of disk space or memory" + raw
    if state == "25006":
        return "the server accepts no writes (a read-only standby?)" + raw
    if state == "0A000" and "vector" in msg:
        return "the pgvector extension is not available on the server; install it" + raw
    if state.startswith(("08", "57P")) or (not state and "connect" in msg.lower()):
        return "the connection to the server failed (is it running and reachable?)" + raw
    if state.startswith("22") or "NUL" in msg:
        return "a value was rejected by PostgreSQL" + raw
    return msg + raw
