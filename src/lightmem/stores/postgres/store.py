"""The PostgreSQL store: many API processes and consolidation workers, on many machines,
sharing one database. Every public method is one transaction on a pooled connection.

The contract is implemented once over SQL (:mod:`lightmem.stores.sql`); this backend gives
its dialect (``dialect.py``), the connection pool (``db.py``), migrations, and search:
vectors in pgvector columns (an HNSW index for large scopes), BM25 on PostgreSQL full-text
search (``search.py``). Beyond the contract, worker processes share the work through claims
(``claims.py``): :meth:`PostgresStore.claim_consolidation` on the consolidation queue,
:meth:`PostgresStore.claim_batches` on extraction batches.
"""

from __future__ import annotations

import os
from typing import ClassVar

from pydantic import Field

from lightmem.embedders.base import Vectors
from lightmem.errors import ConfigError, InputError, StorageError
from lightmem.stores.base import StoreOptions, TimeRange
from lightmem.stores.postgres import claims, search
from lightmem.stores.postgres.db import Database
from lightmem.stores.postgres.dialect import PostgresDialect, vector_literal
from lightmem.stores.postgres.migrations import prepare, stored_dim
from lightmem.stores.sql.codec import as_vector
from lightmem.stores.sql.dialect import Dialect
from lightmem.stores.sql.store import SQLStore
from lightmem.types import Batch, Scope

URL_ENV = "LIGHTMEM_POSTGRES_URL"


def _env_url() -> str:
    return os.environ.get(URL_ENV, "")


class PostgresStoreOptions(StoreOptions):
    url: str = Field(
        default_factory=_env_url,
        description=f"a postgresql:// DSN (default: ${URL_ENV}); never saved with the config",
    )
    # "schema" would shadow a BaseModel attribute: the field has another name, the key not.
    db_schema: str = Field(
        "lightmem",
        alias="schema",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$",
        description="the PostgreSQL schema holding this store's tables",
    )
    pool_size: int = Field(5, ge=1, le=200, description="most connections this process opens")
    claim_ttl_seconds: int = Field(
        300,
        ge=1,
        description="how long a worker's claim on a batch or queued entry lasts unless released",
    )
    exact_search_max_rows: int = Field(
        10000, ge=0, description="scopes up to this size are searched exactly, larger by HNSW"
    )
    connect_timeout_s: float = Field(10.0, gt=0, description="wait this long for a connection")


#: The tables an erasure deletes from or rewrites.
ERASED_TABLES = (
    "entries",
    "turns",
    "history",
    "batches",
    "consolidation_pairs",
    "consolidation_queue",
)


class PostgresStore(SQLStore):
    Options = PostgresStoreOptions
    _db: Database
    dialect: ClassVar[Dialect] = PostgresDialect()
    #: identity values are taken at insert time, so transactions committing out of order
    #: can make a lower change id visible after a higher one: readers re-read this far back
    change_lag = 512

    def __init__(self, options: PostgresStoreOptions | None = None) -> None:
        opts = options if options is not None else PostgresStoreOptions()
        if not opts.url:
            raise ConfigError(
                f"the postgres store needs a database URL: set 'store.options.url' or {URL_ENV}"
            )
        super().__init__(opts)
        self.opts = opts
        self._db = Database(opts.url, opts.db_schema, opts.pool_size, opts.connect_timeout_s)
        self._dim: int | None = None
        self._iterative_scan = False

    # -- lifecycle -----------------------------------------------------------
    @property
    def dim(self) -> int:
        if self._dim is None:
            raise StorageError(f"{self._db.label} is not open; call open(dim)")
        return self._dim

    def open(self, dim: int) -> None:
        if dim < 1:
            raise InputError(f"the vector dimension must be positive, got {dim}")
        ready = self._db.setup(lambda conn: prepare(conn, self.opts.db_schema, dim, self._db.label))
        self._db.connect(ready.search_path)
        self._dim = ready.dim
        self._iterative_scan = ready.pgvector >= (0, 8)

    def close(self) -> None:
        self._dim = None
        self._db.close()

    def _compact(self) -> bool:
        """VACUUM the tables an erasure touched: dead tuples and their index entries are
        cleared for reuse (``VACUUM FULL``, which rewrites the files, is left to the
        operator: it locks the tables; see docs)."""
        self._db.vacuum(list(ERASED_TABLES))
        return True

    def stored_dim(self) -> int | None:
        """The vector dimension of the store in this schema, read without opening, creating
        or migrating anything; None if the schema holds no store yet."""
        return self._db.setup(lambda conn: stored_dim(conn, self.opts.db_schema))

    # -- search -----------------------------------------------------------------------------
    def search_dense(
        self, scope: Scope, vector: Vectors, k: int, time_range: TimeRange | None = None
    ) -> list[tuple[str, float]]:
        lit = vector_literal(as_vector(vector, self.dim, "search_dense"))
        return self._db.read(
            "search_dense",
            lambda c: search.search_dense(
                c,
                scope,
                lit,
                k,
                time_range,
                exact_max_rows=self.opts.exact_search_max_rows,
                iterative_scan=self._iterative_scan,
            ),
        )

    def search_bm25(
        self, scope: Scope, query: str, k: int, time_range: TimeRange | None = None
    ) -> list[tuple[str, float]]:
        return self._db.read(
            "search_bm25", lambda c: search.search_bm25(c, scope, query, k, time_range)
        )

    def claim_consolidation(
        self, worker_id: str, limit: int, scope: Scope | None = None
    ) -> list[str]:
        """Claim up to ``limit`` entries of the consolidation queue (oldest first) for
        ``worker_id``, for ``claim_ttl_seconds``. Concurrent claimers, in any process on
        any machine, never get the same entry while a claim lasts, and a worker never gets
        its own claimed entries again. :meth:`mark_consolidated` ends a claim with its
        entry; :meth:`release_claims` gives entries back at once; a dead worker's claims
        (and entries a worker left unconsolidated) come back when they expire."""
        if not worker_id:
            raise InputError("claim_consolidation: worker_id must be a non-empty string")
        ttl = self.opts.claim_ttl_seconds
        return self._db.write(
            "claim_consolidation",
            lambda c: claims.claim(c, worker_id, limit, scope, ttl),
        )

    def release_claims(self, worker_id: str, entry_ids: list[str] | None = None) -> int:
        """Release ``worker_id``'s claims on ``entry_ids`` (all of its claims if None); the
        entries stay queued. Returns how many claims were released."""
        return self._db.write("release_claims", lambda c: claims.release(c, worker_id, entry_ids))

    def claim_batches(self, worker_id: str, limit: int, max_attempts: int) -> list[Batch]:
        """Claim up to ``limit`` extraction batches (oldest first; pending, or failed with
        fewer than ``max_attempts`` attempts) for ``worker_id``, for ``claim_ttl_seconds``.
        Concurrent claimers never get the same batch while a claim lasts; a completed batch
        is never claimed again, a failed one comes back (to any worker) when its claim
        expires, as do a dead worker's batches."""
        if not worker_id:
            raise InputError("claim_batches: worker_id must be a non-empty string")
        ttl = self.opts.claim_ttl_seconds
        return self._db.write(
            "claim_batches",
            lambda c: claims.claim_batches(c, worker_id, limit, max_attempts, ttl),
        )

    def release_batches(self, worker_id: str) -> int:
        """Release ``worker_id``'s claims on batches not done; returns how many."""
        return self._db.write("release_batches", lambda c: claims.release_batches(c, worker_id))

    @property
    def claim_ttl_seconds(self) -> int:
        return self.opts.claim_ttl_seconds

    def renew_claims(
        self, worker_id: str, batch_ids: list[str], entry_ids: list[str]
    ) -> tuple[int, int]:
        """Extend ``worker_id``'s claims on these batches and queued entries (those it still
        holds) by ``claim_ttl_seconds`` from now; how many batch and entry claims it renewed."""
        ttl = self.opts.claim_ttl_seconds
        return self._db.write(
            "renew_claims", lambda c: claims.renew(c, worker_id, batch_ids, entry_ids, ttl)
        )
