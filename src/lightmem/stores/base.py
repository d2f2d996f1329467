"""The store contract. Every backend (SQLite, PostgreSQL, plugins) implements it and runs
the same contract tests (``tests/stores/contract``). A SQL backend subclasses
:class:`lightmem.stores.sql.SQLStore`, which implements it over a dialect, and writes only
its connections, migrations and search.

Rules every implementation keeps:
- Each method is atomic: it commits fully or not at all (one transaction).
- Raw turns are durable when ``add_turns`` returns; pipeline state (stage, segment, batch)
  lives in the store, so a killed process loses nothing and the next one resumes.
- Scopes are partitions: no method returns or changes rows of another scope. A ``Scope``
  filter matches rows whose ``user_id`` and ``agent_id`` equal the filter's (``None`` matches
  only ``None``), and, when ``run_id`` is given, whose ``run_id`` equals it.
- Deletes of single entries are soft (tombstones with history); ``delete_all`` purges.
- Vectors are float32, unit-norm, of the dimension fixed at the store's creation.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from lightmem.embedders.base import Vectors
from lightmem.errors import StorageError
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

TimeRange = tuple[datetime | None, datetime | None]
Decision = Literal["update", "delete", "ignore", "merge", "replace"]


def check_batch_entries(batch: Batch, entries: list[Entry]) -> None:
    """Entries completing a batch must belong to the batch's owner (every backend checks)."""
    foreign = [e.id for e in entries if e.scope.owner != batch.scope.owner]
    if foreign:
        raise StorageError(
            f"complete_batch {batch.id!r}: entries of another scope than the batch: "
            f"{', '.join(foreign[:10])}"
        )


class StoreOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Store(ABC):
    Options: ClassVar[type[BaseModel]] = StoreOptions

    def __init__(self, options: BaseModel | None = None) -> None:
        self.options = options if options is not None else self.Options()

    # -- lifecycle and metadata -----------------------------------------------------------
    @abstractmethod
    def open(self, dim: int) -> None:
        """Create or open the store (running migrations); fix the vector dimension on
        creation; raise :class:`StorageError` if an existing store has another dimension."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def get_meta(self, key: str) -> str | None: ...

    @abstractmethod
    def set_meta(self, key: str, value: str) -> None: ...

    @abstractmethod
    def meta_items(self) -> dict[str, str]:
        """Every meta value the library set (``set_meta``), by key; none the store manages
        itself (the dimension, counters of its schema), so another store can take them all."""

    # -- derived files -------------------------------------------------------------------------
    @property
    def snapshot_folder(self) -> Path | None:
        """A folder of the store's own for files derived from it that can be rebuilt (owner
        index snapshots, :mod:`lightmem.retrieval.snapshot`); None where the store keeps none
        (PostgreSQL, a store in memory)."""
        return None

    def snapshot_path(self, owner: Scope) -> Path | None:
        """The owner's index snapshot (named by a digest: no user id in a file name)."""
        folder = self.snapshot_folder
        if folder is None:
            return None
        key = f"{owner.user_id or ''}\x00{owner.agent_id or ''}".encode()
        return folder / f"{hashlib.sha256(key).hexdigest()[:32]}.idx"

    def drop_snapshot(self, owner: Scope) -> None:
        """Remove the owner's snapshot: after an erasure no file may keep what was erased."""
        path = self.snapshot_path(owner.owner)
        if path is not None:
            path.unlink(missing_ok=True)
            if path.parent.is_dir():  # and one a process left half written (killed)
                for left in path.parent.glob(f".{path.name}.*.tmp"):
                    left.unlink(missing_ok=True)

    # -- turns -------------------------------------------------------------------------------
    @abstractmethod
    def add_turns(self, turns: list[Turn]) -> list[Turn]:
        """Persist new turns atomically (stage SENSORY) and return them with ``seq`` and
        ``created_at`` set. ``seq`` increases in insertion order across the whole store."""

    @abstractmethod
    def get_turns(self, ids: list[str]) -> list[Turn]:
        """Turns with these ids, in the order given; unknown ids are skipped."""

    @abstractmethod
    def list_turns(
        self,
        scope: Scope,
        *,
        session_id: str | None = None,
        stage: TurnStage | None = None,
        limit: int | None = None,
    ) -> list[Turn]:
        """Turns of a scope ordered by ``seq``."""

    @abstractmethod
    def set_turn_views(self, views: list[tuple[str, str, int]], vectors: Vectors | None) -> None:
        """Store ``(turn_id, compressed_text, tokens)`` and optionally one vector per turn."""

    @abstractmethod
    def turn_vectors(self, ids: list[str]) -> dict[str, Any]:
        """Stored turn vectors by id (missing ones absent), each a float32 array."""

    # -- sensory and short-term state transitions ------------------------------------------
    @abstractmethod
    def assign_segments(self, segments: list[tuple[str, list[str]]]) -> None:
        """Move turns SENSORY -> SHORT_TERM: each ``(segment_id, turn_ids)``. Atomic."""

    @abstractmethod
    def create_batch(self, batch: Batch) -> None:
        """Record a pending batch and move its turns to BATCHED. Atomic."""

    @abstractmethod
    def buffered_owners(self) -> list[tuple[Scope, int]]:
        """Every owner with turns not yet batched (sensory or short-term buffers), with the
        highest ``seq`` among them, oldest buffer first."""

    @abstractmethod
    def list_batches(
        self, scope: Scope | None = None, statuses: Iterable[str] = ("pending", "failed")
    ) -> list[Batch]:
        """Batches in creation order; ``scope=None`` means every owner."""

    @abstractmethod
    def complete_batch(self, batch_id: str, entries: list[Entry], vectors: Vectors) -> None:
        """Store the batch's entries (history ADD, queued for consolidation), mark its turns
        EXTRACTED and the batch done, all in one transaction. Idempotent: completing a
        batch that is already done raises :class:`StorageError` and changes nothing."""

    @abstractmethod
    def fail_batch(self, batch_id: str, error: str, raw_reply: str | None) -> None:
        """Mark a batch failed, keep the error and raw reply, count the attempt. A ``None``
        raw reply (the endpoint never answered) keeps the reply of an earlier attempt."""

    # -- entries ----------------------------------------------------------------------------
    @abstractmethod
    def add_entries(self, entries: list[Entry], vectors: Vectors, *, actor: str) -> None:
        """Insert entries outside any batch (manual notes, imports); history ADD; queued."""

    @abstractmethod
    def get_entry(self, entry_id: str, scope: Scope | None = None) -> Entry:
        """The entry (tombstones included). Raise :class:`NotFoundError` if there is none,
        or if ``scope`` is given and the entry is not in it."""

    @abstractmethod
    def get_entries(self, ids: list[str]) -> list[Entry]:
        """Entries with these ids in the order given (unknown ids skipped)."""

    @abstractmethod
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
        """Entries of a scope in creation order, the newest first with ``newest_first`` (of
        one ``kind``, pinned or not, when given)."""

    @abstractmethod
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
        """Replace the text (and vector, optionally sources and meta), bump ``version``,
        write history UPDATE with old and new text. Raise :class:`NotFoundError` for
        unknown/deleted ids."""

    @abstractmethod
    def delete_entry(self, entry_id: str, *, reason: str | None, actor: str) -> None:
        """Soft delete: tombstone plus history DELETE. Unknown id -> :class:`NotFoundError`."""

    @abstractmethod
    def history(self, entry_id: str) -> list[HistoryRecord]:
        """Every change of an entry, oldest first."""

    @abstractmethod
    def delete_all(self, scope: Scope) -> int:
        """Purge a scope: turns, entries, vectors, history, batches. Returns entries removed."""

    @abstractmethod
    def count_entries(
        self, scope: Scope | None = None, *, include_deleted: bool = False
    ) -> int: ...

    # -- forgetting -----------------------------------------------------------------------------
    @abstractmethod
    def set_entry_flags(
        self,
        entry_id: str,
        *,
        pinned: bool | None = None,
        expires_at: datetime | object | None = ...,
        actor: str,
    ) -> Entry:
        """Pin or unpin (``pinned``) and set or clear the expiry time (``expires_at``; the
        default ``...`` leaves it), each change with its history event (PIN, UNPIN, EXPIRY).
        Unknown id -> :class:`NotFoundError`."""

    def forget_turn_candidates(self, owner: Scope, words: list[str]) -> list[Turn]:
        """The owner's turns whose content may hold every one of ``words`` (case-folded),
        by ``seq``: every turn that does, and others (the caller matches exactly). This
        default reads them all; a backend narrows it in its database."""
        return self.list_turns(owner)

    def forget_entry_candidates(
        self, owner: Scope, words: list[str] | None, cites: list[str], include_deleted: bool
    ) -> list[Entry]:
        """The owner's entries a forget request may reach, in creation order: at least
        those that are not facts or were edited, the facts whose text may hold every one of
        ``words``, and those citing a turn of ``cites``. This default reads them all."""
        return self.list_entries(owner, include_deleted=include_deleted)

    @abstractmethod
    def forget_entries(
        self,
        entry_ids: list[str],
        *,
        reason: str | None,
        actor: str,
        owner: Scope | None = None,
        turn_ids: list[str] | None = None,
    ) -> int:
        """Tombstone active entries with a history FORGET and the ``owner``'s turns
        ``turn_ids`` (``Turn.forgotten``: out of search; one not yet extracted leaves the
        pipeline as EXTRACTED and its pending or failed batches), atomically; returns how
        many entries. A turn outside the owner -> :class:`NotFoundError`, nothing changed."""

    @abstractmethod
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
        """Remove the owner's entries (with history and pairs) and turns for good, drop the
        erased turns from other entries' sources, from batches (with their raw replies) and
        the idempotency keys that stored them, take the word runs of ``private`` (the
        erased text) out of the history reasons of the owner's other entries, log the
        erasure (counts only), then scrub what the backend can (free pages, WAL, dead
        tuples): ``compacted`` says whether that ran. Ids outside the owner ->
        :class:`NotFoundError`, nothing changed."""

    @abstractmethod
    def erasures(self, owner: Scope) -> list[dict[str, Any]]:
        """The owner's erasure log, oldest first: ``cause``, ``entries``, ``turns``,
        ``actor``, ``created_at``."""

    # -- shared pools ---------------------------------------------------------------------------
    @abstractmethod
    def set_grant(
        self,
        pool: Scope,
        grantee: Scope,
        level: AccessLevel | None,
        *,
        created_at: datetime | None = None,
    ) -> bool:
        """Let ``grantee`` read or write the owner scope ``pool`` (``None`` revokes, at once),
        granted now (or at ``created_at``: a grant copied from another store). Returns whether
        a grant existed before."""

    @abstractmethod
    def list_grants(
        self, *, pool: Scope | None = None, grantee: Scope | None = None
    ) -> list[PoolGrant]:
        """Grants on ``pool`` and/or to ``grantee`` (with a user and an agent: the grants to
        that user alone too)."""

    # -- search -----------------------------------------------------------------------------
    @abstractmethod
    def search_dense(
        self, scope: Scope, vector: Vectors, k: int, time_range: TimeRange | None = None
    ) -> list[tuple[str, float]]:
        """Active entries of the scope by cosine similarity, best first: ``(id, score)``."""

    @abstractmethod
    def search_bm25(
        self, scope: Scope, query: str, k: int, time_range: TimeRange | None = None
    ) -> list[tuple[str, float]]:
        """Active entries by BM25 over text and keywords, best first: ``(id, score)`` with
        higher = better. Any query string is safe (no query-syntax injection)."""

    @abstractmethod
    def entry_vectors(self, ids: list[str]) -> dict[str, Any]:
        """Stored entry vectors by id."""

    # -- API keys and idempotency keys (a backend without them says so) ------------------
    def list_api_keys(self) -> list[StoredKey]:
        """Every API key, by name."""
        raise StorageError(f"the {self.__class__.__name__} store keeps no API keys")

    def find_api_key(self, sha256: str) -> StoredKey | None:
        """The key with this hash, or None."""
        raise StorageError(f"the {self.__class__.__name__} store keeps no API keys")

    def add_api_key(self, key: StoredKey) -> None:
        """Insert a key atomically; :class:`ConflictError` if its name is taken."""
        raise StorageError(f"the {self.__class__.__name__} store keeps no API keys")

    def delete_api_key(self, name: str) -> bool:
        """Remove a key; False if there was none of that name."""
        raise StorageError(f"the {self.__class__.__name__} store keeps no API keys")

    def add_turns_once(
        self, turns: list[Turn], owner: Scope, key: str, digest: str
    ) -> tuple[list[Turn], bool]:
        """:meth:`add_turns` under an idempotency key of the owner, in one transaction:
        the first call stores the turns and the key; a later call with the same key and
        ``digest`` (of the request) returns the turns the first stored and True; with
        another digest it raises :class:`ConflictError`, storing nothing."""
        raise StorageError(f"the {self.__class__.__name__} store keeps no idempotency keys")

    def count_turns(self, scope: Scope) -> int:
        """How many turns the owner has (a backend may override it with a COUNT)."""
        return len(self.list_turns(scope))

    # -- validity and the change log ----------------------------------------------------------
    def set_validity(
        self,
        entry_id: str,
        *,
        superseded_by: str | None,
        valid_until: datetime | None,
        reason: str | None,
        actor: str,
    ) -> Entry:
        """Mark the memory as replaced by ``superseded_by`` (an active memory of the same
        owner; no cycles) from ``valid_until`` on, with a SUPERSEDE history record; None
        undoes it. Unknown ids -> :class:`NotFoundError`."""
        raise StorageError(f"the {self.__class__.__name__} store keeps no validity")

    def replaced_by(self, entry_id: str) -> list[Entry]:
        """The memories that ``entry_id`` replaced (``superseded_by == entry_id``)."""
        return []

    #: how far back (in change ids) a reader re-reads the log: a backend whose concurrent
    #: transactions can commit change ids out of order sets the window that covers it
    change_lag: int = 0

    def last_change(self, owner: Scope) -> int | None:
        """The id of the owner's newest change, or None: this store keeps no change log (its
        readers rebuild what they keep on every read)."""
        return None

    def changes_since(self, owner: Scope, after: int) -> list[tuple[int, str, str]]:
        """The owner's changes with an id above ``after``, oldest first: (id, kind, row id),
        kind ``t`` a turn, ``e`` an entry, ``i`` a turn's image vectors. Applying one means
        reading that row again (it may be gone)."""
        return []

    def prune_changes(self, keep: int) -> int:
        """Keep the newest ``keep`` changes; returns the highest id dropped (0: none)."""
        return 0

    # -- images -------------------------------------------------------------------------------
    @abstractmethod
    def set_image_vectors(self, keys: list[tuple[str, int]], model: str, vectors: Vectors) -> None:
        """Store the image embedder ``model``'s vectors of the images ``(turn_id, n)`` (the
        n-th image of the turn), one row of ``vectors`` each, replacing earlier ones. An
        unknown turn or image -> :class:`NotFoundError`. They go with their turn."""

    @abstractmethod
    def image_vectors(self, owner: Scope, model: str) -> dict[tuple[str, int], Any]:
        """The owner's image vectors by ``model``: ``(turn_id, n) -> float32 array``."""

    # -- sleep-time consolidation -------------------------------------------------------------
    @abstractmethod
    def decisions(self, entry_id: str) -> list[DecisionRecord]:
        """Every decided consolidation pair the entry is in, as target or as source
        (``ignore`` decisions too), oldest first."""

    @abstractmethod
    def consolidation_queue(
        self, scope: Scope | None = None, limit: int | None = None
    ) -> list[str]:
        """Ids of active entries not yet consolidated, oldest first."""

    @abstractmethod
    def pairs_done(self, target_id: str, source_ids: list[str]) -> set[str]:
        """Which of ``source_ids`` have already been decided against ``target_id``."""

    @abstractmethod
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
        """Apply one consolidation decision atomically and record the (target, source)
        pairs as decided. Returns False (and changes nothing) if any pair was already
        decided, so a re-run never applies a decision twice. ``merge`` soft-deletes the
        target and adds its sources to the first source entry."""

    @abstractmethod
    def mark_consolidated(self, entry_ids: list[str]) -> None: ...

    # -- usage --------------------------------------------------------------------------------
    @abstractmethod
    def record_llm_call(self, call: LLMCall) -> None: ...

    @abstractmethod
    def usage(self) -> Usage:
        """LLM usage by stage plus batch and buffer counters."""

    @abstractmethod
    def scopes(self) -> list[Scope]:
        """Every owner (user_id, agent_id) that has turns or entries."""

    @abstractmethod
    def activity(self, scope: Scope | None = None) -> list[DayActivity]:
        """Per day, oldest first: the scope's turns and memories stored, and LLM calls."""

    # -- export / import ------------------------------------------------------------------------
    @abstractmethod
    def export_records(self, scope: Scope | None = None) -> Iterator[dict[str, Any]]:
        """JSON-able records (``{"kind": "turn"|"entry"|"history"|"batch", ...}``) that
        :meth:`import_records` turns back into an identical store (vectors included)."""

    @abstractmethod
    def import_records(self, records: Iterable[dict[str, Any]]) -> int:
        """Insert exported records atomically; existing ids are an error. Returns count."""
