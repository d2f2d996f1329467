"""The ``Memory`` facade: a thin layer that validates input and delegates to the stages."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lightmem import sharing
from lightmem.config import (
    BackendSection,
    ConsolidationSection,
    MemoryConfig,
    format_validation_error,
    lightmem_home,
)
from lightmem.embedders.base import Embedder
from lightmem.embedders.images import ImageEmbedder
from lightmem.errors import ConfigError, InputError, LightMemError, StorageError
from lightmem.failures import FailureLog, describe, recent_failures, turn_texts
from lightmem.llm.base import LLM, Completion
from lightmem.locks import OwnerLocks
from lightmem.longterm.consolidation import Consolidator, OnDecision
from lightmem.longterm.forgetting import Forgetter, as_ttl, is_expired
from lightmem.longterm.summaries import SessionSummarizer, SummaryResult
from lightmem.messages import (
    AddDefaults,
    check_flag,
    check_limit,
    check_memory_id,
    check_note,
    make_scope,
    to_turns,
)
from lightmem.registry import build, build_llm
from lightmem.retrieval.context import Context, build_context
from lightmem.retrieval.search import Searcher, SearchSettings
from lightmem.sensory.compressors.base import Compressor
from lightmem.sensory.segmenters.base import Segmenter
from lightmem.sensory.stage import SensoryStage
from lightmem.shortterm.extraction import Extractor, LLMExtractor, TurnExtractor
from lightmem.shortterm.stage import ShortTermStage
from lightmem.stores.base import Store, TimeRange
from lightmem.text import storable
from lightmem.timeutil import parse_timestamp
from lightmem.types import (
    AccessLevel,
    AddResult,
    ConsolidationResult,
    Entry,
    ForgetResult,
    HistoryRecord,
    Hit,
    LLMCall,
    PoolGrant,
    Scope,
    SearchMode,
    Turn,
    TurnStage,
    Usage,
)
from lightmem.worker import BackgroundWorker

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
SQLITE_FILE = "lightmem.sqlite3"
_SECRET_KEYS = frozenset({"api_key", "password", "dsn", "url"})


@dataclass(slots=True)
class FlushResult:
    entries_created: int = 0
    batches_done: int = 0
    failed_batches: list[str] = field(default_factory=list)


class Memory:
    """Long-term memory for LLM applications.

    ``Memory()`` opens the store under ``LIGHTMEM_HOME`` (default ``~/.lightmem``);
    ``Memory(path)`` opens or creates a store directory at ``path``. The resolved config is
    saved there (secrets excluded), so reopening a store needs no config.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        config: MemoryConfig | dict[str, Any] | str | Path | None = None,
        **overrides: Any,
    ) -> None:
        self.path = Path(path) if path is not None else lightmem_home()
        saved = self.path / CONFIG_FILE
        if config is None and saved.is_file():
            config = saved
        self.config = MemoryConfig.load(config, **overrides)
        cfg = self.config
        store_section = cfg.store
        if store_section.provider == "sqlite" and "path" not in store_section.options:
            # The file lives in the store directory; the saved config does not pin its path.
            store_section = store_section.model_copy(
                update={"options": {**store_section.options, "path": str(self.path / SQLITE_FILE)}}
            )
        make_store_dir(self.path)

        self.embedder: Embedder = build("embedder", cfg.embedder, Embedder)
        self.llm: LLM = build_llm(cfg.llm)
        self.compressor: Compressor = build("compressor", cfg.compressor, Compressor)
        self.segmenter: Segmenter = build("segmenter", segmenter_section(cfg, self.llm), Segmenter)
        self.image_embedder: ImageEmbedder | None = (
            None
            if cfg.image_embedder.provider == "none"
            else build("image_embedder", cfg.image_embedder, ImageEmbedder)
        )
        self.store: Store = build("store", store_section, Store)
        self.store.open(self.embedder.dim)
        try:
            self._check_embedder()
            self._save_config()
        except BaseException:
            self.store.close()
            raise

        self.timings: dict[str, float] = {}
        self.failures = FailureLog(self.store)
        self._owners = OwnerLocks()  # one owner's pipeline at a time; owners run concurrently
        # LLM extraction calls in flight at once, over every owner and thread
        self._llm_slots = threading.BoundedSemaphore(cfg.worker.max_llm_calls)
        extractor: Extractor = (
            LLMExtractor(
                self.llm,
                max_retries=cfg.extraction.max_retries,
                on_call=self._recorder("extraction"),
                max_batch_tokens=cfg.buffer.max_batch_tokens,
                mode=cfg.extraction.mode,
            )
            if self.llm.available
            else TurnExtractor()
        )
        self.sensory = SensoryStage(
            self.store,
            self.compressor,
            self.embedder,
            self.segmenter,
            buffer_tokens=cfg.buffer.sensory_tokens,
            max_segment_tokens=cfg.buffer.max_segment_tokens,
            timings=self.timings,
            image_embedder=self.image_embedder,
        )
        self.shortterm = ShortTermStage(
            self.store,
            extractor,
            self.embedder,
            threshold=cfg.buffer.shortterm_tokens,
            max_batch_tokens=cfg.buffer.max_batch_tokens,
            max_attempts=cfg.extraction.max_attempts_per_batch,
            timings=self.timings,
            failures=self.failures,
            llm_slots=self._llm_slots,
        )
        r = cfg.retrieval
        self.searcher = Searcher(
            self.store,
            self.embedder,
            SearchSettings(
                rrf_k=r.rrf_k,
                turns=r.turns,
                memory_weight=r.memory_weight,
                context_window=r.context_window,
                neighbour_weight=r.neighbour_weight,
                source_weight=r.source_weight,
                pool_max_items=r.pool_max_items,
                sessions=r.sessions,
                session_weight=r.session_weight,
            ),
            self.image_embedder,
        )
        self.forgetter = Forgetter(self.store)
        #: owner -> its turn count when its session summaries were last brought up to date
        self._summarized: dict[Scope, int] = {}
        self._worker = (
            BackgroundWorker(
                self._process_quietly, self.record_worker_failure, threads=cfg.worker.max_llm_calls
            )
            if cfg.worker.background and cfg.worker.enabled
            else None
        )

    @classmethod
    def from_config(
        cls, config: dict[str, Any] | str | Path, path: str | Path | None = None
    ) -> Memory:
        return cls(path, config=config)

    # -- what mode are we in ----------------------------------------------------------------
    @property
    def llm_mode(self) -> str:
        """``openai``, ``local``, ``scripted`` ... or ``none`` (no-LLM mode)."""
        return "none" if not self.llm.available else self.llm.mode

    def describe_llm(self) -> str:
        """One line for every surface that names the mode (demo, stats, serve, ingest)."""
        if not self.llm.available:
            return (
                "no-LLM mode: no LLM endpoint is configured; memories are the turns, linked "
                "to their topic segments. For LLM extraction set OPENAI_BASE_URL (any "
                "OpenAI-compatible endpoint) and/or OPENAI_API_KEY"
            )
        line = f"LLM: {self.llm_mode} ({self.llm.model_name})"
        caveat = self.llm.caveat
        return f"{line}: {caveat}" if caveat else line

    def describe_embedder(self) -> str:
        """The embedder, for the same surfaces: a test fake says it is one."""
        line = f"embedder: {self.embedder.model_id} ({self.embedder.dim} dimensions)"
        if self.config.embedder.provider == "hash":
            line += "; a deterministic test fake: search matches words, not meaning"
        return line

    # -- writing ----------------------------------------------------------------------------
    def add(
        self,
        messages: Any,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        session_id: str | None = None,
        timestamp: Any = None,
        idempotency_key: str | None = None,
        author: str | None = None,
    ) -> AddResult:
        """Store one or many turns durably, then run the pipeline (inline or in background;
        with ``worker.enabled`` false, not here: ``lightmem worker`` processes run it).

        The turns are committed before any processing: if processing fails, they stay
        buffered and the next ``add``/``flush`` picks them up. With ``idempotency_key``, a
        retry of the same add (same key, same messages and scope) stores nothing and returns
        the first result (``replayed``); the same key with other content is a
        :class:`ConflictError`.
        """
        if run_id is not None and session_id is not None and run_id != session_id:
            raise InputError("run_id and session_id are the same thing; pass only one")
        if session_id is not None and (not isinstance(session_id, str) or not session_id):
            raise InputError(f"session_id must be a non-empty string, got {session_id!r}")
        check_note(author, "author", max_chars=256)
        scope = make_scope(user_id, agent_id, run_id or session_id)
        given = parse_timestamp(timestamp) if timestamp is not None else None
        turns = to_turns(messages, scope, AddDefaults(session_id=scope.run_id, timestamp=given))
        once: tuple[str, str] | None = None
        if idempotency_key is not None:
            # The request as given (times the caller set) identifies a retry.
            check_idempotency_key(idempotency_key)
            once = (idempotency_key, request_digest(scope, turns))
        now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        for t in turns:
            t.timestamp = t.timestamp or now
            t.author = author  # who wrote into a shared pool (None: its owner)
        if once is None:
            saved = self.store.add_turns(turns)
            result = AddResult(turn_ids=[t.id for t in saved])
        else:
            saved, replayed = self.store.add_turns_once(turns, scope.owner, *once)
            result = AddResult(turn_ids=[t.id for t in saved], replayed=replayed)
            if replayed:
                return result
        if self._worker is not None:
            self._worker.notify(scope.owner)
        elif self.config.worker.enabled:
            try:
                flushed = self._process(scope.owner, segment=False, extract=False)
            except LightMemError as exc:
                # The turns are committed: raising now would invite a retry that stores them
                # twice. They stay buffered; the next add/flush picks them up.
                log.warning("processing after add deferred: %s", type(exc).__name__)
                result.deferred = f"{type(exc).__name__}: {exc}"
                return result
            result.entries_created = flushed.entries_created
            result.failed_batches = flushed.failed_batches
        return result

    def flush(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        segment: bool = True,
        extract: bool = True,
    ) -> FlushResult:
        """Force what is buffered through the pipeline now: ``segment`` cuts the whole sensory
        buffer into topic segments, ``extract`` extracts every short-term segment (and
        retries failed batches). Without a scope, every owner in the store is flushed,
        ``worker.max_llm_calls`` owners at once."""
        if self._worker is not None:
            self._worker.wait_idle()
        owners = (
            [make_scope(user_id, agent_id, None)] if user_id or agent_id else self.store.scopes()
        )
        total = FlushResult()
        if len(owners) == 1:
            results = [self._process(owners[0], segment=segment, extract=extract)]
        else:
            with ThreadPoolExecutor(self.config.worker.max_llm_calls) as pool:
                results = list(
                    pool.map(lambda o: self._process(o, segment=segment, extract=extract), owners)
                )
        for r in results:
            total.entries_created += r.entries_created
            total.batches_done += r.batches_done
            total.failed_batches += r.failed_batches
        return total

    def _process(self, owner: Scope, *, segment: bool, extract: bool) -> FlushResult:
        with self._owners.hold(owner):
            self.sensory.process(owner, force=segment)
            self.shortterm.plan(owner, force=extract)
            r = self.shortterm.run_batches(owner, retry_failed=extract)
        return FlushResult(r.entries_created, r.batches_done, r.failed_batches)

    def _process_quietly(self, owner: Scope) -> None:
        self._process(owner, segment=False, extract=False)

    def record_worker_failure(self, owner: Scope, exc: Exception) -> None:
        """Keep a background failure in the failure log, scrubbed of the owner's turns."""
        try:
            turns = self.store.list_turns(owner)
            private = turn_texts(t for t in turns if t.stage != TurnStage.EXTRACTED)
        except LightMemError:
            self.failures.record("worker", describe(exc, None))
            return
        self.failures.record("worker", describe(exc, private))

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for background processing to finish (True at once without a worker)."""
        return True if self._worker is None else self._worker.wait_idle(timeout)

    # -- reading ----------------------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        limit: int | None = None,
        mode: SearchMode | None = None,
        time_range: tuple[Any, Any] | None = None,
        include_turns: bool | None = None,
    ) -> list[Hit]:
        """The best memories and raw turns for ``query``, in ONE ranked pool (a hit's
        ``kind`` says which); ``include_turns=False`` returns memories only."""
        check_flag(include_turns, "include_turns", optional=True)
        scope = make_scope(user_id, agent_id, run_id)
        return self.searcher.search(
            query,
            scope,
            limit=self.config.retrieval.limit if limit is None else limit,
            mode=mode or self.config.retrieval.mode,
            time_range=_time_range(time_range),
            include_turns=include_turns,
            hidden=self.forgetter.hidden(scope.owner, _now()),
        )

    def context(
        self,
        query: str,
        *,
        budget_tokens: int | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        mode: SearchMode | None = None,
        time_range: tuple[Any, Any] | None = None,
        hierarchical: bool | None = None,
    ) -> Context:
        """A prompt-ready block for ``query`` within ``budget_tokens`` (cl100k tokens):
        the memories in time order with dates (a newer one marked when it supersedes an
        older one), then the evidence turns quoted; with the items chosen.
        ``hierarchical`` (default: when the mode is ``hierarchical``) searches sessions
        first and writes the summaries of the sessions found above the memories."""
        check_flag(hierarchical, "hierarchical", optional=True)
        if hierarchical is False and mode == "hierarchical":
            raise InputError("mode 'hierarchical' with hierarchical=False: choose one")
        mode = mode or self.config.retrieval.mode
        if hierarchical is None:
            hierarchical = mode == "hierarchical"
        elif hierarchical:
            mode = "hierarchical"
        elif mode == "hierarchical":  # the configured default, turned off for this call
            mode = "hybrid"
        budget = self.config.retrieval.context_tokens if budget_tokens is None else budget_tokens
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
            raise InputError(f"budget_tokens must be an integer >= 1, got {budget!r}")
        scope = make_scope(user_id, agent_id, run_id)
        # Enough candidates to fill the budget with short facts (~20 tokens each).
        limit = min(1000, max(20, budget // 10))
        hits = self.searcher.search(
            query,
            scope,
            limit=limit,
            mode=mode,
            time_range=_time_range(time_range),
            hidden=self.forgetter.hidden(scope.owner, _now()),
        )
        return build_context(
            hits,
            budget,
            lambda ids: self.store.entry_vectors(ids),
            self.config.consolidation.threshold,
            sessions=hierarchical,
        )

    def get(
        self, memory_id: str, *, user_id: str | None = None, agent_id: str | None = None
    ) -> Entry:
        check_memory_id(memory_id)
        scope = make_scope(user_id, agent_id, None) if user_id or agent_id else None
        return self.store.get_entry(memory_id, scope)

    def get_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        limit: int | None = None,
        include_deleted: bool = False,
    ) -> list[Entry]:
        """The scope's memories in creation order; ``include_deleted`` adds tombstones and
        expired memories (not yet purged)."""
        check_limit(limit)
        check_flag(include_deleted, "include_deleted")
        scope = make_scope(user_id, agent_id, run_id)
        if include_deleted:
            return self.store.list_entries(scope, limit=limit, include_deleted=True)
        hidden = self.forgetter.hidden(scope.owner, _now())
        entries = [e for e in self.store.list_entries(scope) if not hidden(e)]
        return entries if limit is None else entries[: max(0, limit)]

    def turns(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
    ) -> list[Turn]:
        return self.store.list_turns(make_scope(user_id, agent_id, None), session_id=session_id)

    def history(
        self, memory_id: str, *, user_id: str | None = None, agent_id: str | None = None
    ) -> list[HistoryRecord]:
        self.get(memory_id, user_id=user_id, agent_id=agent_id)  # NotFoundError if not there
        return self.store.history(memory_id)

    # -- changing -----------------------------------------------------------------------------
    def update(
        self,
        memory_id: str,
        text: str,
        *,
        reason: str | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        actor: str = "user",
    ) -> Entry:
        """Replace a memory's text (re-embedded; the old text stays in its history). With a
        scope, an id outside it is :class:`NotFoundError`."""
        check_memory_id(memory_id)
        if not isinstance(text, str) or not text.strip():
            raise InputError("the new text of a memory must be a non-empty string")
        check_note(reason, "reason")
        check_note(actor, "actor", optional=False, max_chars=256)
        if not storable(text):
            raise InputError(
                "the memory's new text contains a NUL character or invalid Unicode "
                "(a lone surrogate); remove it"
            )
        if user_id or agent_id:
            self.get(memory_id, user_id=user_id, agent_id=agent_id)
        vector = self.embedder.embed([text.strip()])[0]
        return self.store.update_entry(memory_id, text.strip(), vector, reason=reason, actor=actor)

    def delete(
        self,
        memory_id: str,
        *,
        reason: str | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        actor: str = "user",
    ) -> None:
        """Soft-delete a memory (a tombstone with history; never returned by search)."""
        if user_id or agent_id:
            self.get(memory_id, user_id=user_id, agent_id=agent_id)
        check_memory_id(memory_id)
        check_note(reason, "reason")
        check_note(actor, "actor", optional=False, max_chars=256)
        self.store.delete_entry(memory_id, reason=reason, actor=actor)

    def delete_all(
        self, *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> int:
        return self.store.delete_all(make_scope(user_id, agent_id, run_id))

    # -- shared pools ---------------------------------------------------------------------------
    def grant(
        self,
        level: AccessLevel | None,
        *,
        pool: Scope | dict[str, str],
        to: Scope | dict[str, str],
    ) -> PoolGrant | None:
        """Let the scope ``to`` read (``"read"``) or read and write (``"write"``) the
        memories of the owner scope ``pool``; ``None`` revokes, effective at once. A grant to
        a user alone covers that user's agents. Returns the grant (None when revoked)."""
        p, g = _scope_arg(pool, "pool"), _scope_arg(to, "to")
        if p == g:
            raise InputError("a pool cannot be granted to its own owner")
        level = None if level is None else sharing.check_level(level)
        self.store.set_grant(p, g, level)
        found = [x for x in self.store.list_grants(pool=p) if x.grantee == g]
        return found[0] if found else None

    def revoke(self, *, pool: Scope | dict[str, str], to: Scope | dict[str, str]) -> bool:
        """Remove a grant; the next call of that scope is refused. Whether it existed."""
        return self.store.set_grant(_scope_arg(pool, "pool"), _scope_arg(to, "to"), None)

    def grants(
        self, *, pool: Scope | dict[str, str] | None = None,
        to: Scope | dict[str, str] | None = None,
    ) -> list[PoolGrant]:  # fmt: skip
        return self.store.list_grants(
            pool=None if pool is None else _scope_arg(pool, "pool"),
            grantee=None if to is None else _scope_arg(to, "to"),
        )

    def as_scope(
        self, *, user_id: str | None = None, agent_id: str | None = None
    ) -> sharing.ScopedMemory:
        """This memory as one scope sees it: its own memories plus the pools granted to it
        (``search(..., shared=True)``, and ``pool=`` on every operation)."""
        return sharing.ScopedMemory(self, make_scope(user_id, agent_id, None))

    # -- forgetting -----------------------------------------------------------------------------
    def forget(
        self,
        query: str | None = None,
        *,
        ids: list[str] | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        purge: bool = False,
        dry_run: bool = False,
        reason: str | None = None,
        actor: str = "user",
    ) -> ForgetResult:
        """Forget the memories a query names (every word of it in their text, or in a turn
        they were drawn from) and/or the memories ``ids``, with their source turns.

        ``dry_run`` only previews. Otherwise the memories are tombstoned (history FORGET;
        their turns leave search), or with ``purge`` erased for good with their history and
        source turns, and the store's files scrubbed (``ForgetResult.compacted``).
        """
        owner = make_scope(user_id, agent_id, None)
        check_flag(purge, "purge")
        check_flag(dry_run, "dry_run")
        check_note(reason, "reason")
        check_note(actor, "actor", optional=False, max_chars=256)
        if ids is not None and (
            not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids)
        ):
            raise InputError("ids must be a list of memory ids")
        if self._worker is not None:
            self._worker.wait_idle()  # a batch in flight could cite a turn being erased
        with self._owners.hold(owner):
            found = self.forgetter.find(owner, query, ids, tombstones=purge)
            if dry_run:
                return found
            self._summarized.pop(owner.owner, None)  # a summary may go: rebuild it
            return self.forgetter.apply(owner, found, purge=purge, actor=actor, reason=reason)

    def pin(
        self,
        memory_id: str,
        pinned: bool = True,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
    ) -> Entry:
        """Pin (or with ``pinned=False`` unpin) a memory: consolidation never merges, changes
        or expires a pinned memory."""
        check_flag(pinned, "pinned")
        self.get(memory_id, user_id=user_id, agent_id=agent_id)
        return self.store.set_entry_flags(memory_id, pinned=pinned, actor="user")

    def set_ttl(
        self,
        memory_id: str,
        ttl: timedelta | float | None,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
    ) -> Entry:
        """Expire a memory ``ttl`` (seconds or a timedelta) from now; ``None`` clears it (the
        owner's default TTL applies again)."""
        self.get(memory_id, user_id=user_id, agent_id=agent_id)
        delta = as_ttl(ttl)
        at = None if delta is None else _now() + delta
        return self.store.set_entry_flags(memory_id, expires_at=at, actor="user")

    def set_default_ttl(
        self,
        ttl: timedelta | float | None,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
    ) -> None:
        """The TTL of the owner's memories that have none of their own, counted from their
        creation (``None``: they never expire)."""
        self.forgetter.set_default_ttl(make_scope(user_id, agent_id, None), as_ttl(ttl))

    def default_ttl(
        self, *, user_id: str | None = None, agent_id: str | None = None
    ) -> timedelta | None:
        return self.forgetter.default_ttl(make_scope(user_id, agent_id, None))

    def is_expired(self, entry: Entry) -> bool:
        return is_expired(entry, _now(), self.forgetter.default_ttl(entry.scope.owner))

    def erasures(
        self, *, user_id: str | None = None, agent_id: str | None = None
    ) -> list[dict[str, Any]]:
        """The owner's erasure log (counts, no text): forget purges and expiry."""
        return self.store.erasures(make_scope(user_id, agent_id, None))

    def consolidate(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        threshold: float | None = None,
        top_k: int | None = None,
        workers: int | None = None,
    ) -> ConsolidationResult:
        """Sleep-time update: resolve newer entries against similar older ones. The keyword
        arguments override the ``consolidation`` config for this run only."""
        scope = make_scope(user_id, agent_id, None) if user_id or agent_id else None
        c = self.config.consolidation.model_copy()
        try:
            if threshold is not None:
                c.threshold = threshold
            if top_k is not None:
                c.top_k = top_k
            if workers is not None:
                c.workers = workers
        except ValidationError as exc:
            raise InputError(
                format_validation_error(exc).replace("config key", "argument")
            ) from None
        result = self.consolidator(c).run(scope)
        owners = [scope] if scope is not None else self.store.scopes()
        # Sleep time is when expired memories go for good.
        for owner in owners:
            result.expired += self.forgetter.purge_expired(owner, _now())
        for owner in dict.fromkeys(o.owner for o in owners):
            done = self.summarize(owner, workers=c.workers)
            result.summaries += done.written + done.updated
            result.failed_summaries += done.failed
        return result

    def summarize(self, owner: Scope, *, workers: int | None = None) -> SummaryResult:
        """Bring the owner's session summaries up to date (sleep time; a no-op when
        ``summaries.enabled`` is false)."""
        if not self.config.summaries.enabled:
            return SummaryResult()
        owner = owner.owner
        mark = self.store.count_turns(owner)
        if self._summarized.get(owner) == mark:
            return SummaryResult()  # no turn came or went since the last complete run
        s = self.config.summaries
        result = SessionSummarizer(
            self.store,
            self.embedder,
            self.llm,
            workers=workers or self.config.consolidation.workers,
            max_retries=self.config.extraction.max_retries,
            sessions_per_call=s.sessions_per_call,
            max_call_tokens=s.max_call_tokens,
            on_call=self._recorder("summary"),
            failures=self.failures,
        ).run(owner)
        if not result.failed:
            self._summarized[owner] = mark
        return result

    def consolidator(
        self, settings: ConsolidationSection | None = None, on_decision: OnDecision | None = None
    ) -> Consolidator:
        """The sleep-time consolidator of this memory (``settings``: the ``consolidation``
        config, by default this memory's)."""
        c = settings if settings is not None else self.config.consolidation
        return Consolidator(
            self.store,
            self.embedder,
            self.llm,
            threshold=c.threshold,
            top_k=c.top_k,
            workers=c.workers,
            duplicate_threshold=c.duplicate_threshold,
            max_retries=self.config.extraction.max_retries,
            max_call_tokens=c.max_call_tokens,
            max_targets_per_call=c.max_targets_per_call,
            on_call=self._recorder("consolidation"),
            failures=self.failures,
            on_decision=on_decision,
        )

    # -- accounting ---------------------------------------------------------------------------
    def usage(self) -> Usage:
        u = self.store.usage()
        u.timings = dict(self.timings)
        u.invalid_sources = int(self.store.get_meta("counter:invalid_sources") or 0)
        u.repaired_sources = int(self.store.get_meta("counter:repaired_sources") or 0)
        u.failures = recent_failures(self.store)
        return u

    def _recorder(self, stage: str) -> Any:
        def record(c: Completion, ok: bool) -> None:
            self.store.record_llm_call(LLMCall(stage, c.tokens_in, c.tokens_out, c.seconds, ok))

        return record

    # -- export / import ----------------------------------------------------------------------
    def export(
        self, *, user_id: str | None = None, agent_id: str | None = None
    ) -> Iterator[dict[str, Any]]:
        scope = make_scope(user_id, agent_id, None) if user_id or agent_id else None
        return self.store.export_records(scope)

    def import_records(self, records: Iterable[dict[str, Any]]) -> int:
        if isinstance(records, str | bytes | Mapping) or not isinstance(records, Iterable):
            raise InputError(
                "import_records takes an iterable of export records (dicts), as export() "
                f"yields them; got {type(records).__name__}"
            )
        return self.store.import_records(records)

    # -- lifecycle ------------------------------------------------------------------------------
    def close(self) -> None:
        if self._worker is not None:
            self._worker.stop()
        self.store.close()
        self.llm.close()
        self.embedder.close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_embedder(self) -> None:
        stored = self.store.get_meta("embedder")
        if stored is None:
            self.store.set_meta("embedder", self.embedder.model_id)
        elif stored != self.embedder.model_id:
            raise ConfigError(
                f"this store was built with the embedder {stored!r}, but the config selects "
                f"{self.embedder.model_id!r}; configure the same embedder, or export the store "
                f"and import it into a new one"
            )

    def _save_config(self) -> None:
        data = self.config.dump()
        data.pop("worker", None)  # how this process runs, not what the store is
        for section in data.values():
            if isinstance(section, dict) and isinstance(section.get("options"), dict):
                for key in list(section["options"]):
                    if key in _SECRET_KEYS:
                        del section["options"][key]
        text = json.dumps(data, indent=2) + "\n"
        target = self.path / CONFIG_FILE
        try:
            if target.is_file() and target.read_text(encoding="utf-8") == text:
                return
            # Atomic: a process opening the store meanwhile never reads a half-written file.
            tmp = target.with_name(f".{CONFIG_FILE}.{os.getpid()}.{threading.get_ident()}")
            fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.chmod(tmp, 0o600)
            os.replace(tmp, target)
        except OSError as exc:
            raise StorageError(
                f"cannot write the store's config file {str(target)!r}: {exc.strerror or exc}"
            ) from exc


def segmenter_section(cfg: MemoryConfig, llm: LLM) -> BackendSection:
    """``auto``: attention + similarity (``combined``) when an LLM extracts, since segments
    then become extraction batches; ``similarity`` without one, where segments only label
    topics and the attention pass (~20 turns/s on 2 cores) would cost ingest for nothing."""
    section = cfg.segmenter
    if section.provider != "auto":
        return section
    return section.model_copy(update={"provider": "combined" if llm.available else "similarity"})


def make_store_dir(path: Path) -> None:
    """Create the store directory (or accept an existing one), as a StorageError that says
    what to change when the path is a file or cannot be written."""
    if path.exists() and not path.is_dir():
        raise StorageError(
            f"the store path {str(path)!r} is a file, not a directory; give a directory "
            f"(it is created if missing)"
        )
    try:
        if not path.exists():
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(path, 0o700)  # only its owner reads a store, whatever the umask
    except OSError as exc:
        raise StorageError(
            f"cannot create the store directory {str(path)!r}: {exc.strerror or exc}; give a "
            f"path on a writable file system, or fix its permissions"
        ) from None


def _scope_arg(value: Scope | dict[str, str], what: str) -> Scope:
    if isinstance(value, Scope):
        return make_scope(value.user_id, value.agent_id, None)
    if isinstance(value, dict) and set(value) <= {"user_id", "agent_id"}:
        return make_scope(value.get("user_id"), value.get("agent_id"), None)
    raise InputError(f"{what} must be a Scope or {{'user_id': ..., 'agent_id': ...}}")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _time_range(value: tuple[Any, Any] | None) -> TimeRange | None:
    if value is None:
        return None
    try:
        start, end = value
    except (TypeError, ValueError):
        raise InputError(
            "time_range must be a (start, end) pair; use None for an open end"
        ) from None
    lo = None if start is None else parse_timestamp(start, field="time_range start")
    hi = None if end is None else parse_timestamp(end, field="time_range end")
    if lo is not None and hi is not None and lo > hi:
        raise InputError(
            f"time_range: the start ({lo.isoformat()}) is after the end ({hi.isoformat()}); "
            f"swap them"
        )
    return (lo, hi)


def check_idempotency_key(key: object) -> None:
    if not isinstance(key, str) or not key.strip() or len(key) > 256 or not key.isprintable():
        raise InputError(
            "an idempotency key must be a non-empty printable string of at most 256 "
            "characters (a UUID per request is the usual choice)"
        )


def request_digest(scope: Scope, turns: list[Turn]) -> str:
    """What makes two adds the same request: the scope and each message as given (times
    the caller set; not the ids or the default time the store assigns)."""
    body = {
        "scope": [scope.user_id, scope.agent_id, scope.run_id],
        "turns": [
            [
                t.role,
                t.content,
                t.speaker,
                t.session_id,
                t.ref,
                t.timestamp and t.timestamp.isoformat(),
            ]
            for t in turns
        ],
    }
    return hashlib.sha256(json.dumps(body, ensure_ascii=False).encode("utf-8")).hexdigest()
