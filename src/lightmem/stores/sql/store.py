"""The store contract over SQL, written once.

:class:`SQLStore` implements every method of :class:`~lightmem.stores.base.Store` but the
ones a SQL backend truly does its own way. A backend subclass gives:

* ``dialect``: its :class:`~lightmem.stores.sql.dialect.Dialect`;
* ``self._db``: :class:`~lightmem.stores.sql.dialect.Transactions` over its connections,
  each call one transaction (read: one snapshot; write: all or nothing);
* ``open`` (migrations, the vector dimension), ``close`` and ``dim``;
* ``search_dense`` and ``search_bm25``.

This class validates arguments, encodes vectors and times through the dialect, and hands
each transaction to the modules by subject (``turns``, ``entries``, ``consolidation``,
``transfer``, ``stats``).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, ClassVar

from lightmem.embedders.base import Vectors
from lightmem.errors import InputError
from lightmem.stores.base import Decision, Store, check_batch_entries
from lightmem.stores.sql import (
    candidates,
    consolidation,
    entries,
    export,
    forgetting,
    images,
    keys,
    sharing,
    stats,
    transfer,
    turns,
    validity,
)
from lightmem.stores.sql.codec import as_matrix, as_vector, utcnow
from lightmem.stores.sql.dialect import Conn, Dialect, Transactions
from lightmem.types import (
    AccessLevel,
    Batch,
    DayActivity,
    DecisionRecord,
    Entry,
    EntryKind,
    EraseResult,
    HistoryRecord,
    LLMCall,
    PoolGrant,
    Scope,
    StoredKey,
    Turn,
    TurnStage,
    Usage,
)

#: Meta keys the store owns; ``set_meta`` refuses them.
RESERVED_META = frozenset({"dim", "generation", keys.SALT_META})
#: Keys the schema migrations keep in ``meta``: they describe one store's schema, not data.
SCHEMA_META = frozenset({"skipped_migrations", "changes_floor"})


class SQLStore(Store):
    dialect: ClassVar[Dialect]
    _db: Transactions

    @property
    @abstractmethod
    def dim(self) -> int:
        """The vector dimension of the open store."""

    # -- metadata ---------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        return self._db.read("get_meta", lambda c: read_meta(c, key))

    def meta_items(self) -> dict[str, str]:
        rows = self._db.read(
            "meta_items", lambda c: c.execute("SELECT key, value FROM meta").fetchall()
        )
        return {
            str(r["key"]): str(r["value"])
            for r in rows
            if r["key"] not in RESERVED_META and r["key"] not in SCHEMA_META
        }

    def set_meta(self, key: str, value: str) -> None:
        if key in RESERVED_META or key in SCHEMA_META:
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
        now, d = utcnow(), self.dialect
        return self._db.write("add_turns", lambda c: turns.add_turns(c, d, turns_, now))

    def get_turns(self, ids: list[str]) -> list[Turn]:
        return self._db.read("get_turns", lambda c: turns.get_turns(c, self.dialect, ids))

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
        values = None if vectors is None else self._vectors(vectors, len(views), "set_turn_views")
        d = self.dialect
        self._db.write("set_turn_views", lambda c: turns.set_turn_views(c, d, views, values))

    def turn_vectors(self, ids: list[str]) -> dict[str, Any]:
        return self._db.read("turn_vectors", lambda c: turns.turn_vectors(c, self.dialect, ids))

    # -- sensory and short-term state transitions ------------------------------------------
    def assign_segments(self, segments: list[tuple[str, list[str]]]) -> None:
        d = self.dialect
        self._db.write("assign_segments", lambda c: turns.assign_segments(c, d, segments))

    def create_batch(self, batch: Batch) -> None:
        now, d = utcnow(), self.dialect
        self._db.write("create_batch", lambda c: turns.create_batch(c, d, batch, now))

    def buffered_owners(self) -> list[tuple[Scope, int]]:
        return self._db.read("buffered_owners", turns.buffered_owners)

    def list_batches(
        self, scope: Scope | None = None, statuses: Iterable[str] = ("pending", "failed")
    ) -> list[Batch]:
        wanted, d = list(statuses), self.dialect
        return self._db.read("list_batches", lambda c: turns.list_batches(c, d, scope, wanted))

    def complete_batch(self, batch_id: str, entries_: list[Entry], vectors: Vectors) -> None:
        values = self._vectors(vectors, len(entries_), "complete_batch")
        now, d = utcnow(), self.dialect

        def run(c: Conn) -> None:
            batch = turns.open_batch(c, d, batch_id, "complete_batch")
            check_batch_entries(batch, entries_)
            entries.insert_entries(c, d, entries_, values, actor="extraction", now=now)
            turns.finish_batch(c, d, batch)

        self._db.write("complete_batch", run)

    def fail_batch(self, batch_id: str, error: str, raw_reply: str | None) -> None:
        d = self.dialect
        self._db.write("fail_batch", lambda c: turns.fail_batch(c, d, batch_id, error, raw_reply))

    # -- entries ----------------------------------------------------------------------------
    def add_entries(self, entries_: list[Entry], vectors: Vectors, *, actor: str) -> None:
        values = self._vectors(vectors, len(entries_), "add_entries")
        now, d = utcnow(), self.dialect
        self._db.write(
            "add_entries",
            lambda c: entries.insert_entries(c, d, entries_, values, actor=actor, now=now),
        )

    def get_entry(self, entry_id: str, scope: Scope | None = None) -> Entry:
        d = self.dialect
        return self._db.read("get_entry", lambda c: entries.get_entry(c, d, entry_id, scope))

    def get_entries(self, ids: list[str]) -> list[Entry]:
        return self._db.read("get_entries", lambda c: entries.get_entries(c, self.dialect, ids))

    def list_entries(
        self,
        scope: Scope,
        *,
        include_deleted: bool = False,
        limit: int | None = None,
        offset: int = 0,
        kind: EntryKind | None = None,
        pinned: bool | None = None,
        newest_first: bool = False,
    ) -> list[Entry]:
        d = self.dialect
        return self._db.read(
            "list_entries",
            lambda c: entries.list_entries(
                c, d, scope, include_deleted, limit, offset, kind, pinned, newest_first
            ),
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
        meta: dict[str, Any] | None = None,
    ) -> Entry:
        value = self.dialect.dump_vector(as_vector(vector, self.dim, "update_entry"))
        now, d = utcnow(), self.dialect
        return self._db.write(
            "update_entry",
            lambda c: entries.update_entry(
                c,
                d,
                entry_id,
                text,
                value,
                reason=reason,
                actor=actor,
                sources=sources,
                now=now,
                meta=meta,
            ),
        )

    def delete_entry(self, entry_id: str, *, reason: str | None, actor: str) -> None:
        now, d = utcnow(), self.dialect
        self._db.write(
            "delete_entry",
            lambda c: entries.delete_entry(c, d, entry_id, reason=reason, actor=actor, now=now),
        )

    def history(self, entry_id: str) -> list[HistoryRecord]:
        return self._db.read("history", lambda c: entries.history(c, entry_id))

    def delete_all(self, scope: Scope) -> int:
        def run(c: Conn) -> int:
            if scope.run_id is None:
                sharing.drop_grants(c, scope)
            return entries.delete_all(c, self.dialect, scope)

        removed = self._db.write("delete_all", run)
        self.drop_snapshot(scope)
        return removed

    def count_entries(self, scope: Scope | None = None, *, include_deleted: bool = False) -> int:
        return self._db.read(
            "count_entries", lambda c: entries.count_entries(c, scope, include_deleted)
        )

    # -- API keys and idempotency keys --------------------------------------------------------
    def list_api_keys(self) -> list[StoredKey]:
        return self._db.read("list_api_keys", keys.list_keys)

    def find_api_key(self, sha256: str) -> StoredKey | None:
        return self._db.read("find_api_key", lambda c: keys.find_key(c, sha256))

    def add_api_key(self, key: StoredKey) -> None:
        self._db.write("add_api_key", lambda c: keys.add_key(c, key))

    def delete_api_key(self, name: str) -> bool:
        return self._db.write("delete_api_key", lambda c: keys.delete_key(c, name))

    def add_turns_once(
        self, turns_: list[Turn], owner: Scope, key: str, digest: str
    ) -> tuple[list[Turn], bool]:
        now, d = utcnow(), self.dialect
        return self._db.write(
            "add_turns", lambda c: keys.add_turns_once(c, d, turns_, now, owner, key, digest)
        )

    # -- forgetting -----------------------------------------------------------------------------
    def set_entry_flags(
        self,
        entry_id: str,
        *,
        pinned: bool | None = None,
        expires_at: datetime | object | None = ...,
        actor: str,
    ) -> Entry:
        expiry = forgetting.KEEP if expires_at is ... else expires_at
        now, d = utcnow(), self.dialect
        return self._db.write(
            "set_entry_flags",
            lambda c: forgetting.set_entry_flags(
                c, d, entry_id, pinned=pinned, expires_at=expiry, actor=actor, now=now
            ),
        )

    def forget_entries(
        self,
        entry_ids: list[str],
        *,
        reason: str | None,
        actor: str,
        owner: Scope | None = None,
        turn_ids: list[str] | None = None,
    ) -> int:
        now, d, ids = utcnow(), self.dialect, list(dict.fromkeys(entry_ids))
        t_ids = list(dict.fromkeys(turn_ids or []))
        if t_ids and owner is None:
            raise InputError("forget_entries: turns are forgotten within an owner; pass owner")

        return self._db.write(
            "forget_entries",
            lambda c: forgetting.forget_entries(c, d, ids, owner, t_ids, reason, actor, now),
        )

    def erase(
        self,
        owner: Scope,
        entry_ids: list[str],
        turn_ids: list[str],
        *,
        cause: str,
        actor: str,
        private: Sequence[str] = (),
    ) -> EraseResult:
        now, d = utcnow(), self.dialect
        e_ids, t_ids = list(dict.fromkeys(entry_ids)), list(dict.fromkeys(turn_ids))
        what = forgetting.Erasure(owner, e_ids, t_ids, cause, actor, now, tuple(private))
        result = self._db.write("erase", lambda c: forgetting.erase(c, d, what))
        self.drop_snapshot(owner)
        result.compacted = self._compact()
        return result

    def erasures(self, owner: Scope) -> list[dict[str, Any]]:
        return self._db.read("erasures", lambda c: forgetting.erasures(c, owner))

    # -- shared pools ---------------------------------------------------------------------------
    def set_grant(
        self,
        pool: Scope,
        grantee: Scope,
        level: AccessLevel | None,
        *,
        created_at: datetime | None = None,
    ) -> bool:
        now, d = created_at or utcnow(), self.dialect
        return self._db.write(
            "set_grant", lambda c: sharing.set_grant(c, d, pool.owner, grantee.owner, level, now)
        )

    def list_grants(
        self, *, pool: Scope | None = None, grantee: Scope | None = None
    ) -> list[PoolGrant]:
        return self._db.read("list_grants", lambda c: sharing.list_grants(c, pool, grantee))

    def _compact(self) -> bool:
        """After an erasure: scrub what the database keeps of deleted rows outside the
        tables (a backend overrides it). True when it ran."""
        return False

    def forget_turn_candidates(self, owner: Scope, words: list[str]) -> list[Turn]:
        d = self.dialect
        return self._db.read(
            "forget_turn_candidates", lambda c: candidates.turns(c, d, owner, words)
        )

    def forget_entry_candidates(
        self, owner: Scope, words: list[str] | None, cites: list[str], include_deleted: bool
    ) -> list[Entry]:
        d = self.dialect
        return self._db.read(
            "forget_entry_candidates",
            lambda c: candidates.entries(c, d, owner, words, cites, include_deleted),
        )

    def count_turns(self, scope: Scope) -> int:
        return self._db.read("count_turns", lambda c: turns.count_turns(c, scope))

    def set_validity(
        self,
        entry_id: str,
        *,
        superseded_by: str | None,
        valid_until: datetime | None,
        reason: str | None,
        actor: str,
    ) -> Entry:
        return self._db.write(
            "set_validity",
            lambda c: validity.set_validity(
                c,
                self.dialect,
                entry_id,
                superseded_by=superseded_by,
                valid_until=valid_until,
                reason=reason,
                actor=actor,
                now=utcnow(),
            ),
        )

    def replaced_by(self, entry_id: str) -> list[Entry]:
        return self._db.read("replaced_by", lambda c: validity.replaced_by(c, entry_id))

    def last_change(self, owner: Scope) -> int | None:
        return self._db.read("last_change", lambda c: validity.last_change(c, owner))

    def changes_since(self, owner: Scope, after: int) -> list[tuple[int, str, str]]:
        return self._db.read("changes", lambda c: validity.changes_since(c, owner, after))

    def prune_changes(self, keep: int) -> int:
        return self._db.write("prune_changes", lambda c: validity.prune_changes(c, keep))

    def entry_vectors(self, ids: list[str]) -> dict[str, Any]:
        d = self.dialect
        return self._db.read("entry_vectors", lambda c: entries.entry_vectors(c, d, ids))

    # -- images -----------------------------------------------------------------------------
    def set_image_vectors(self, keys: list[tuple[str, int]], model: str, vectors: Vectors) -> None:
        d = self.dialect
        self._db.write(
            "set_image_vectors", lambda c: images.set_image_vectors(c, d, keys, model, vectors)
        )

    def image_vectors(self, owner: Scope, model: str) -> dict[tuple[str, int], Any]:
        return self._db.read("image_vectors", lambda c: images.image_vectors(c, owner, model))

    # -- sleep-time consolidation -------------------------------------------------------------
    def decisions(self, entry_id: str) -> list[DecisionRecord]:
        d = self.dialect
        return self._db.read("decisions", lambda c: consolidation.decisions(c, d, entry_id))

    def consolidation_queue(
        self, scope: Scope | None = None, limit: int | None = None
    ) -> list[str]:
        d = self.dialect
        return self._db.read(
            "consolidation_queue",
            lambda c: consolidation.consolidation_queue(c, d, scope, limit),
        )

    def pairs_done(self, target_id: str, source_ids: list[str]) -> set[str]:
        d = self.dialect
        return self._db.read(
            "pairs_done", lambda c: consolidation.pairs_done(c, d, target_id, source_ids)
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
        d = self.dialect
        value = None if vector is None else d.dump_vector(as_vector(vector, self.dim, "apply"))
        now = utcnow()
        return self._db.write(
            "apply_decision",
            lambda c: consolidation.apply_decision(
                c,
                d,
                target_id,
                list(source_ids),
                decision,
                new_text=new_text,
                vector=value,
                reason=reason,
                now=now,
            ),
        )

    def mark_consolidated(self, entry_ids: list[str]) -> None:
        ids, d = list(dict.fromkeys(entry_ids)), self.dialect
        self._db.write("mark_consolidated", lambda c: d.dequeue(c, ids))

    # -- usage --------------------------------------------------------------------------------
    def record_llm_call(self, call: LLMCall) -> None:
        stamp = self.dialect.dump_time(utcnow())
        self._db.write(
            "record_llm_call",
            lambda c: c.execute(
                """INSERT INTO llm_calls (stage, tokens_in, tokens_out, seconds, ok, created_at)
                   VALUES (?, ?, ?, ?, ?, ?)""",
                (call.stage, call.tokens_in, call.tokens_out, call.seconds, call.ok, stamp),
            ),
        )

    def usage(self) -> Usage:
        return self._db.read("usage", lambda c: stats.read_usage(c, self.dialect))

    def scopes(self) -> list[Scope]:
        return self._db.read("scopes", lambda c: stats.read_scopes(c, self.dialect))

    def activity(self, scope: Scope | None = None) -> list[DayActivity]:
        return self._db.read("activity", lambda c: stats.read_activity(c, scope))

    # -- export / import ------------------------------------------------------------------------
    def export_records(self, scope: Scope | None = None) -> Iterator[dict[str, Any]]:
        # Chunk by chunk, one short read each: no transaction stays open across yields.
        return export.export_records(self._db, self.dialect, scope)

    def import_records(self, records: Iterable[dict[str, Any]]) -> int:
        items, dim, d = list(records), self.dim, self.dialect
        return self._db.write("import_records", lambda c: transfer.import_records(c, d, items, dim))

    # -- helpers ------------------------------------------------------------------------------
    def _vectors(self, vectors: Vectors | None, rows: int, what: str) -> list[Any]:
        """One bound value per row, checked for count and dimension."""
        if rows == 0 and vectors is None:
            return []
        return [self.dialect.dump_vector(v) for v in as_matrix(vectors, rows, self.dim, what)]


def read_meta(c: Conn, key: str) -> str | None:
    row = c.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row["value"])
