"""The PostgreSQL store: many API processes and consolidation workers, on many machines,
sharing one database. Every public method is one transaction on a pooled connection.

The SQL lives in small modules by subject (``turns``, ``entries``, ``consolidation``,
``search``, ``transfer``); this class validates arguments, picks the transaction kind and
hands the cursor to them. Vectors live in pgvector columns (an HNSW index for large
scopes), BM25 runs on PostgreSQL full-text search. Beyond the contract, workers share the
consolidation queue through :meth:`PostgresStore.claim_consolidation`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import Field

from lightmem.embedders.base import Vectors
from lightmem.errors import ConfigError, InputError, StorageError
from lightmem.stores.base import Decision, Store, StoreOptions, TimeRange, check_batch_entries
from lightmem.stores.postgres import consolidation, entries, search, transfer, turns
from lightmem.stores.postgres.codec import vector_literal
from lightmem.stores.postgres.db import Database
from lightmem.stores.postgres.migrations import prepare, stored_dim
from lightmem.stores.postgres.stats import read_scopes, read_usage
from lightmem.stores.sqlite.codec import as_matrix, as_vector, utcnow
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

#: Meta keys the store owns; ``set_meta`` refuses them (the same as the SQLite store's).
RESERVED_META = frozenset({"dim", "generation"})
URL_ENV = "LIGHTMEM_POSTGRES_URL"

Cursor = Any  # psycopg.Cursor[dict[str, Any]]


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
        300, ge=1, description="how long a consolidation claim lasts unless released or renewed"
    )
    exact_search_max_rows: int = Field(
        10000, ge=0, description="scopes up to this size are searched exactly, larger by HNSW"
    )
    connect_timeout_s: float = Field(10.0, gt=0, description="wait this long for a connection")


class PostgresStore(Store):
    Options = PostgresStoreOptions

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

    # -- lifecycle and metadata -----------------------------------------------------------
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

    def stored_dim(self) -> int | None:
        """The vector dimension of the store in this schema, read without opening, creating
        or migrating anything; None if the schema holds no store yet."""
        return self._db.setup(lambda conn: stored_dim(conn, self.opts.db_schema))

    def get_meta(self, key: str) -> str | None:
        return self._db.read("get_meta", lambda c: _meta(c, key))

    def set_meta(self, key: str, value: str) -> None:
        if key in RESERVED_META:
            raise InputError(f"the meta key {key!r} is managed by the store")
        self._db.write(
            "set_meta",
            lambda c: c.execute(
                "INSERT INTO meta (key, value) VALUES (%s, %s) "
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
        lits = None if vectors is None else self._literals(vectors, len(views), "set_turn_views")
        self._db.write("set_turn_views", lambda c: turns.set_turn_views(c, views, lits))

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
        lits = self._literals(vectors, len(entries_), "complete_batch")
        now = utcnow()

        def run(c: Cursor) -> None:
            batch = turns.open_batch(c, batch_id, "complete_batch")
            check_batch_entries(batch, entries_)
            entries.insert_entries(c, entries_, lits, actor="extraction", now=now)
            turns.finish_batch(c, batch)

        self._db.write("complete_batch", run)

    def fail_batch(self, batch_id: str, error: str, raw_reply: str | None) -> None:
        self._db.write("fail_batch", lambda c: turns.fail_batch(c, batch_id, error, raw_reply))

    # -- entries ----------------------------------------------------------------------------
    def add_entries(self, entries_: list[Entry], vectors: Vectors, *, actor: str) -> None:
        lits = self._literals(vectors, len(entries_), "add_entries")
        now = utcnow()
        self._db.write(
            "add_entries",
            lambda c: entries.insert_entries(c, entries_, lits, actor=actor, now=now),
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
        lit = vector_literal(as_vector(vector, self.dim, "update_entry"))
        now = utcnow()
        return self._db.write(
            "update_entry",
            lambda c: entries.update_entry(
                c, entry_id, text, lit, reason=reason, actor=actor, sources=sources, now=now
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
        lit = vector_literal(as_vector(vector, self.dim, "search_dense"))
        return self._db.read(
            "search_dense",
            lambda c: search.search_dense(
                c, scope, lit, k, time_range,
                exact_max_rows=self.opts.exact_search_max_rows,
                iterative_scan=self._iterative_scan,
            ),
        )  # fmt: skip

    def search_bm25(
        self, scope: Scope, query: str, k: int, time_range: TimeRange | None = None
    ) -> list[tuple[str, float]]:
        return self._db.read(
            "search_bm25", lambda c: search.search_bm25(c, scope, query, k, time_range)
        )

    def entry_vectors(self, ids: list[str]) -> dict[str, Any]:
        return self._db.read("entry_vectors", lambda c: entries.entry_vectors(c, ids))

    # -- sleep-time consolidation -------------------------------------------------------------
    def consolidation_queue(
        self, scope: Scope | None = None, limit: int | None = None
    ) -> list[str]:
        return self._db.read(
            "consolidation_queue", lambda c: consolidation.consolidation_queue(c, scope, limit)
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
            lambda c: consolidation.claim(c, worker_id, limit, scope, ttl),
        )

    def release_claims(self, worker_id: str, entry_ids: list[str] | None = None) -> int:
        """Release ``worker_id``'s claims on ``entry_ids`` (all of its claims if None); the
        entries stay queued. Returns how many claims were released."""
        return self._db.write(
            "release_claims", lambda c: consolidation.release(c, worker_id, entry_ids)
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
        lit = None if vector is None else vector_literal(as_vector(vector, self.dim, "apply"))
        now = utcnow()
        return self._db.write(
            "apply_decision",
            lambda c: consolidation.apply_decision(
                c, target_id, list(source_ids), decision,
                new_text=new_text, vector=lit, reason=reason, now=now,
            ),
        )  # fmt: skip

    def mark_consolidated(self, entry_ids: list[str]) -> None:
        self._db.write("mark_consolidated", lambda c: consolidation.mark_consolidated(c, entry_ids))

    # -- usage --------------------------------------------------------------------------------
    def record_llm_call(self, call: LLMCall) -> None:
        now = utcnow()
        self._db.write(
            "record_llm_call",
            lambda c: c.execute(
                """INSERT INTO llm_calls (stage, tokens_in, tokens_out, seconds, ok, created_at)
                   VALUES (%s, %s, %s, %s, %s, %s)""",
                (call.stage, call.tokens_in, call.tokens_out, call.seconds, call.ok, now),
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
    def _literals(self, vectors: Vectors | None, rows: int, what: str) -> list[str]:
        if rows == 0 and vectors is None:
            return []
        return [vector_literal(v) for v in as_matrix(vectors, rows, self.dim, what)]


def _meta(cur: Cursor, key: str) -> str | None:
    row = cur.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
    return None if row is None else str(row["value"])
