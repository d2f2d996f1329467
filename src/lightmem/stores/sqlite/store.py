"""The SQLite store: one file (WAL), every public method one transaction.

The SQL lives in small modules by subject (``turns``, ``entries``, ``consolidation``,
``search``, ``transfer``); search keeps per-owner indexes in memory (``cache``, ``search``,
``lexical``) and an ANN sidecar for large owners (``ann``). This class validates arguments,
picks the transaction kind and hands the connection to them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from pydantic import Field

from lightmem.embedders.base import Vectors
from lightmem.errors import ConfigError, InputError, StorageError
from lightmem.stores.base import Decision, Store, StoreOptions, TimeRange, check_batch_entries
from lightmem.stores.sqlite import consolidation, entries, search, transfer, turns
from lightmem.stores.sqlite.ann import AnnSettings, sidecar_folder, usearch_available
from lightmem.stores.sqlite.cache import SearchCache
from lightmem.stores.sqlite.codec import as_matrix, as_vector, to_blob, to_iso, utcnow
from lightmem.stores.sqlite.db import Database
from lightmem.stores.sqlite.migrations import migrate
from lightmem.stores.sqlite.stats import read_scopes, read_usage
from lightmem.types import (
    Batch,
    Entry,
    HistoryRecord,
    LLMCall,
    Scope,
    Turn,
    TurnStage,
    Usage,
)

#: Meta keys the store owns; ``set_meta`` refuses them.
RESERVED_META = frozenset({"dim", "generation"})


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


class SQLiteStore(Store):
    Options = SQLiteStoreOptions

    def __init__(self, options: SQLiteStoreOptions | None = None) -> None:
        if options is None:
            raise ConfigError("the sqlite store needs options: set 'store.options.path'")
        super().__init__(options)
        self.opts = options
        self._db = Database(options.path, options.busy_timeout_ms, options.synchronous)
        self._cache: SearchCache | None = None

    # -- lifecycle and metadata -----------------------------------------------------------
    @property
    def dim(self) -> int:
        return self._search().dim

    def open(self, dim: int) -> None:
        if dim < 1:
            raise InputError(f"the vector dimension must be positive, got {dim}")
        self._db.connect()
        try:
            migrate(self._db)
            stored = self._db.read("open", lambda c: _meta(c, "dim"))
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
                sidecar_folder(o.path), o.ann_connectivity, o.ann_expansion_add,
                o.ann_expansion_search,
            )  # fmt: skip
        self._cache = SearchCache(dim, o.cache_mb * 2**20, ann, o.ann_threshold)

    def close(self) -> None:
        cache, self._cache = self._cache, None
        if cache is not None:
            with self._db.lock:
                cache.clear()  # writes the ANN sidecars' pending changes
        self._db.close()

    def cache_stats(self) -> dict[str, Any]:
        """What the search cache holds: owners, bytes, hits, loads, evictions."""
        cache = self._search()
        with self._db.lock:
            return cache.stats()

    def get_meta(self, key: str) -> str | None:
        return self._db.read("get_meta", lambda c: _meta(c, key))

    def set_meta(self, key: str, value: str) -> None:
        if key in RESERVED_META:
            raise InputError(f"the meta key {key!r} is managed by the store")
        self._db.write(
            "set_meta",
            lambda c: c.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, str(value)),
            ),
        )

    # -- turns -------------------------------------------------------------------------------
    def add_turns(self, turns_: list[Turn]) -> list[Turn]:
        now = utcnow()
        return self._db.write("add_turns", lambda c: turns.add_turns(c, turns_, now))

    def get_turns(self, ids: list[str]) -> list[Turn]:
        return self._db.read("get_turns", lambda c: turns.get_turns(c, ids))

    def list_turns(
        self,
        scope: Scope,
        *,
        session_id: str | None = None,
        stage: TurnStage | None = None,
        limit: int | None = None,
    ) -> list[Turn]:
        return self._db.read(
            "list_turns", lambda c: turns.list_turns(c, scope, session_id, stage, limit)
        )

    def set_turn_views(self, views: list[tuple[str, str, int]], vectors: Vectors | None) -> None:
        blobs = None if vectors is None else self._blobs(vectors, len(views), "set_turn_views")
        self._db.write("set_turn_views", lambda c: turns.set_turn_views(c, views, blobs))

    def turn_vectors(self, ids: list[str]) -> dict[str, Any]:
        return self._db.read("turn_vectors", lambda c: turns.turn_vectors(c, ids))

    # -- sensory and short-term state transitions ------------------------------------------
    def assign_segments(self, segments: list[tuple[str, list[str]]]) -> None:
        self._db.write("assign_segments", lambda c: turns.assign_segments(c, segments))

    def create_batch(self, batch: Batch) -> None:
        now = utcnow()
        self._db.write("create_batch", lambda c: turns.create_batch(c, batch, now))

    def list_batches(
        self, scope: Scope | None = None, statuses: Iterable[str] = ("pending", "failed")
    ) -> list[Batch]:
        wanted = list(statuses)
        return self._db.read("list_batches", lambda c: turns.list_batches(c, scope, wanted))

    def complete_batch(self, batch_id: str, entries_: list[Entry], vectors: Vectors) -> None:
        blobs = self._blobs(vectors, len(entries_), "complete_batch")
        now = utcnow()

        def run(c: sqlite3.Connection) -> None:
            batch = turns.open_batch(c, batch_id, "complete_batch")
            check_batch_entries(batch, entries_)
            entries.insert_entries(c, entries_, blobs, actor="extraction", now=now)
            turns.finish_batch(c, batch)

        self._db.write("complete_batch", run)

    def fail_batch(self, batch_id: str, error: str, raw_reply: str | None) -> None:
        self._db.write("fail_batch", lambda c: turns.fail_batch(c, batch_id, error, raw_reply))

    # -- entries ----------------------------------------------------------------------------
    def add_entries(self, entries_: list[Entry], vectors: Vectors, *, actor: str) -> None:
        blobs = self._blobs(vectors, len(entries_), "add_entries")
        now = utcnow()
        self._db.write(
            "add_entries",
            lambda c: entries.insert_entries(c, entries_, blobs, actor=actor, now=now),
        )

    def get_entry(self, entry_id: str, scope: Scope | None = None) -> Entry:
        return self._db.read("get_entry", lambda c: entries.get_entry(c, entry_id, scope))

    def get_entries(self, ids: list[str]) -> list[Entry]:
        return self._db.read("get_entries", lambda c: entries.get_entries(c, ids))

    def list_entries(
        self,
        scope: Scope,
        *,
        include_deleted: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Entry]:
        return self._db.read(
            "list_entries",
            lambda c: entries.list_entries(c, scope, include_deleted, limit, offset),
        )

    def update_entry(
        self,
        entry_id: str,
        text: str,
        vector: Vectors,
        *,
        reason: str | None,
        actor: str,
        sources: list[str] | None = None,
    ) -> Entry:
        blob = to_blob(as_vector(vector, self.dim, "update_entry"))
        now = utcnow()
        return self._db.write(
            "update_entry",
            lambda c: entries.update_entry(
                c, entry_id, text, blob, reason=reason, actor=actor, sources=sources, now=now
            ),
        )

    def delete_entry(self, entry_id: str, *, reason: str | None, actor: str) -> None:
        now = utcnow()
        self._db.write(
            "delete_entry",
            lambda c: entries.delete_entry(c, entry_id, reason=reason, actor=actor, now=now),
        )

    def history(self, entry_id: str) -> list[HistoryRecord]:
        return self._db.read("history", lambda c: entries.history(c, entry_id))

    def delete_all(self, scope: Scope) -> int:
        return self._db.write("delete_all", lambda c: entries.delete_all(c, scope))

    def count_entries(self, scope: Scope | None = None, *, include_deleted: bool = False) -> int:
        return self._db.read(
            "count_entries", lambda c: entries.count_entries(c, scope, include_deleted)
        )

    # -- search -----------------------------------------------------------------------------
    def search_dense(
        self, scope: Scope, vector: Vectors, k: int, time_range: TimeRange | None = None
    ) -> list[tuple[str, float]]:
        cache = self._search()
        query = as_vector(vector, cache.dim, "search_dense")
        if k <= 0:
            return []

        def run(c: sqlite3.Connection) -> tuple[search.OwnerIndex, list[tuple[int, float]]]:
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
            index = cache.get(c, scope.owner)
            if index.postings is None:
                search.load_postings(c, index, scope.owner)
                cache.trim()
            return index

        return self._db.read("search_bm25", run).bm25(query, k, scope.run_id, time_range)

    def entry_vectors(self, ids: list[str]) -> dict[str, Any]:
        return self._db.read("entry_vectors", lambda c: entries.entry_vectors(c, ids))

    # -- sleep-time consolidation -------------------------------------------------------------
    def consolidation_queue(
        self, scope: Scope | None = None, limit: int | None = None
    ) -> list[str]:
        return self._db.read(
            "consolidation_queue", lambda c: consolidation.consolidation_queue(c, scope, limit)
        )

    def pairs_done(self, target_id: str, source_ids: list[str]) -> set[str]:
        return self._db.read(
            "pairs_done", lambda c: consolidation.pairs_done(c, target_id, source_ids)
        )

    def apply_decision(
        self,
        target_id: str,
        source_ids: list[str],
        decision: Decision,
        *,
        new_text: str | None = None,
        vector: Vectors | None = None,
        reason: str | None = None,
    ) -> bool:
        blob = None if vector is None else to_blob(as_vector(vector, self.dim, "apply_decision"))
        now = utcnow()
        return self._db.write(
            "apply_decision",
            lambda c: consolidation.apply_decision(
                c, target_id, list(source_ids), decision,
                new_text=new_text, blob=blob, reason=reason, now=now,
            ),
        )  # fmt: skip

    def mark_consolidated(self, entry_ids: list[str]) -> None:
        self._db.write("mark_consolidated", lambda c: consolidation.mark_consolidated(c, entry_ids))

    # -- usage --------------------------------------------------------------------------------
    def record_llm_call(self, call: LLMCall) -> None:
        stamp = to_iso(utcnow())
        self._db.write(
            "record_llm_call",
            lambda c: c.execute(
                """INSERT INTO llm_calls (stage, tokens_in, tokens_out, seconds, ok, created_at)
                   VALUES (?, ?, ?, ?, ?, ?)""",
                (call.stage, call.tokens_in, call.tokens_out, call.seconds, int(call.ok), stamp),
            ),
        )

    def usage(self) -> Usage:
        return self._db.read("usage", read_usage)

    def scopes(self) -> list[Scope]:
        return self._db.read("scopes", read_scopes)

    # -- export / import ------------------------------------------------------------------------
    def export_records(self, scope: Scope | None = None) -> Iterator[dict[str, Any]]:
        # Read in one snapshot before yielding: no transaction stays open across yields.
        records = self._db.read("export_records", lambda c: transfer.export_records(c, scope))
        yield from records

    def import_records(self, records: Iterable[dict[str, Any]]) -> int:
        items = list(records)
        dim = self.dim
        return self._db.write("import_records", lambda c: transfer.import_records(c, items, dim))

    # -- helpers ------------------------------------------------------------------------------
    def _search(self) -> SearchCache:
        if self._cache is None:
            raise StorageError(f"SQLite store {self.opts.path!r} is not open; call open(dim)")
        return self._cache

    def _blobs(self, vectors: Vectors | None, rows: int, what: str) -> list[bytes]:
        if rows == 0 and vectors is None:
            return []
        return [to_blob(v) for v in as_matrix(vectors, rows, self.dim, what)]


def _meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def _fix_dim(conn: sqlite3.Connection, dim: int) -> str:
    """The store's dimension: ``dim`` if this is its creation, else the one it has."""
    stored = _meta(conn, "dim")
    if stored is None:
        conn.execute("INSERT INTO meta (key, value) VALUES ('dim', ?)", (str(dim),))
        return str(dim)
    return stored
