"""The SQLite store: one file (WAL), every public method one transaction.

The contract is implemented once over SQL (:mod:`lightmem.stores.sql`); this backend gives
its dialect (``dialect.py``), the connection (``db.py``), migrations, and search: per-owner
indexes in memory (``cache``, ``search``, ``lexical``) and an ANN sidecar for large owners
(``ann``).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from lightmem.embedders.base import Vectors
from lightmem.errors import ConfigError, InputError, StorageError
from lightmem.stores.base import StoreOptions, TimeRange
from lightmem.stores.sql.codec import as_vector
from lightmem.stores.sql.dialect import Dialect
from lightmem.stores.sql.store import SQLStore, read_meta
from lightmem.stores.sqlite import search
from lightmem.stores.sqlite.ann import AnnSettings, sidecar_folder, usearch_available
from lightmem.stores.sqlite.cache import SearchCache
from lightmem.stores.sqlite.db import Database
from lightmem.stores.sqlite.dialect import SQLiteDialect
from lightmem.stores.sqlite.migrations import migrate
from lightmem.types import Scope


class SQLiteStoreOptions(StoreOptions):
    path: str = Field(description="the database file; ':memory:' for a throwaway store")
    busy_timeout_ms: int = Field(30000, ge=0, description="how long to wait for another writer")
    synchronous: Literal["FULL", "NORMAL"] = Field(
        "FULL",
        description="FULL: every commit is on disk when it returns (an fsync each); NORMAL: "
        "survives a crash of the process but may lose the last commits on power loss",
    )
    cache_mb: int = Field(
        2048,
        ge=0,
        description="memory for the per-owner search indexes (vectors, BM25 postings, ANN "
        "graphs); the least recently searched owners are dropped first",
    )
    ann_threshold: int | None = Field(
        50_000,
        ge=1,
        description="owners with more active entries are searched through an HNSW index "
        "kept beside the file (needs usearch; without it, or with None, search is exact)",
    )
    ann_connectivity: int = Field(16, ge=4, le=128, description="HNSW edges per node")
    ann_expansion_add: int = Field(128, ge=8, description="HNSW candidate list while adding")
    ann_expansion_search: int = Field(
        512, ge=8, description="HNSW candidate list while searching (at least the k asked)"
    )


class SQLiteStore(SQLStore):
    Options = SQLiteStoreOptions
    _db: Database
    dialect: ClassVar[Dialect] = SQLiteDialect()

    def __init__(self, options: SQLiteStoreOptions | None = None) -> None:
        if options is None:
            raise ConfigError("the sqlite store needs options: set 'store.options.path'")
        super().__init__(options)
        self.opts = options
        self._db = Database(options.path, options.busy_timeout_ms, options.synchronous)
        self._cache: SearchCache | None = None
        # The search cache (and its ANN graphs) is changed by one search at a time; reads
        # run on connections of their own, so they no longer serialise it.
        self._cache_lock = threading.RLock()

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self._search().dim

    def open(self, dim: int) -> None:
        if dim < 1:
            raise InputError(f"the vector dimension must be positive, got {dim}")
        self._db.connect()
        try:
            migrate(self._db)
            stored = self._db.read("open", lambda c: read_meta(c, "dim"))
            if stored is None:
                stored = self._db.write("open", lambda c: _fix_dim(c, dim))
            if int(stored) != dim:
                raise StorageError(
                    f"SQLite store {self.opts.path!r} holds vectors of dimension {stored}, but "
                    f"it was opened with dimension {dim}; use the embedder it was created "
                    f"with, or a new store"
                )
        except BaseException:
            self._db.close()
            raise
        o = self.opts
        ann = None
        if o.ann_threshold is not None and usearch_available():
            ann = AnnSettings(
                sidecar_folder(o.path),
                o.ann_connectivity,
                o.ann_expansion_add,
                o.ann_expansion_search,
            )
        self._cache = SearchCache(dim, o.cache_mb * 2**20, ann, o.ann_threshold, o.path)
        if ann is not None and o.ann_threshold is not None:
            threshold = o.ann_threshold

            def is_large(c: sqlite3.Connection, key: str) -> bool:
                owner = search.owner_of_key(key)
                return owner is not None and search.more_active_than(c, owner, threshold)

            cache = self._cache
            self._db.read("open", lambda c: cache.sweep(c, is_large))  # no search runs yet

    def close(self) -> None:
        cache, self._cache = self._cache, None
        if cache is not None:
            with self._cache_lock:
                cache.clear()  # writes the ANN sidecars' pending changes
        self._db.close()

    @property
    def snapshot_folder(self) -> Path | None:
        return None if self.opts.path == ":memory:" else Path(f"{self.opts.path}.index")

    def _compact(self) -> bool:
        """Deleted rows are zeroed in the file (``secure_delete``); a TRUNCATE checkpoint
        then empties the WAL, which still held their earlier page images."""
        if self.opts.path == ":memory:":
            return True
        return self._db.checkpoint()

    def ann_wait(self, timeout: float | None = None) -> bool:
        """Wait for the background ANN builds and merges of the owners in the cache (for
        tests and benchmarks; a search never waits: it is exact until a graph is ready).
        True when none is left running."""
        return self._search().wait(timeout)

    def cache_stats(self) -> dict[str, Any]:
        """What the search cache holds: owners, bytes, hits, loads, evictions."""
        cache = self._search()
        with self._cache_lock:
            return cache.stats()

    # -- search -----------------------------------------------------------------------------
    def search_dense(
        self, scope: Scope, vector: Vectors, k: int, time_range: TimeRange | None = None
    ) -> list[tuple[str, float]]:
        cache = self._search()
        query = as_vector(vector, cache.dim, "search_dense")
        if k <= 0:
            return []

        def run(c: sqlite3.Connection) -> tuple[search.OwnerIndex, list[tuple[int, float]]]:
            with self._cache_lock:
                index = cache.get(c, scope.owner)
                if index.ann is None:
                    return index, []
                keep = index.slots.mask(scope.run_id, time_range)
                keep = index.has_vector if keep is None else keep & index.has_vector
                return index, index.ann.search(c, index.slots, query, k, keep)

        index, found = self._db.read("search_dense", run)
        if index.ann is not None:
            return [(index.slots.ids[i], s) for i, s in found]
        # The exact scoring runs outside the lock, on arrays no one changes.
        return index.dense(query, k, scope.run_id, time_range)

    def search_bm25(
        self, scope: Scope, query: str, k: int, time_range: TimeRange | None = None
    ) -> list[tuple[str, float]]:
        cache = self._search()
        if k <= 0:
            return []

        def run(c: sqlite3.Connection) -> search.OwnerIndex:
            with self._cache_lock:
                index = cache.get(c, scope.owner)
                if index.postings is None:
                    search.load_postings(c, index, scope.owner)
                    cache.trim()
                return index

        return self._db.read("search_bm25", run).bm25(query, k, scope.run_id, time_range)

    def _search(self) -> SearchCache:
        if self._cache is None:
            raise StorageError(f"SQLite store {self.opts.path!r} is not open; call open(dim)")
        return self._cache


def _fix_dim(conn: sqlite3.Connection, dim: int) -> str:
    """The store's dimension: ``dim`` if this is its creation, else the one it has."""
    stored = read_meta(conn, "dim")
    if stored is None:
        conn.execute("INSERT INTO meta (key, value) VALUES ('dim', ?)", (str(dim),))
        return str(dim)
    return stored
