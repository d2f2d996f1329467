"""The ``Memory`` facade: a thin layer that validates input and delegates to the engine
(:mod:`lightmem.engine`: the components, the pipeline, the workers) and to retrieval."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lightmem import access
from lightmem.chats import DEFAULT_GAP_HOURS, ChatImportResult, ProgressFn, import_chat
from lightmem.config import MemoryConfig, format_validation_error
from lightmem.current import Current
from lightmem.embedders.base import Warm
from lightmem.engine.assembly import assemble
from lightmem.engine.background import PipelineThreads
from lightmem.engine.pipeline import FlushResult, Pipeline
from lightmem.errors import InputError, LightMemError
from lightmem.forgetting import Forgetting
from lightmem.llm.circuit import LLMStatus
from lightmem.messages import (
    AddDefaults,
    check_add,
    check_change,
    check_flag,
    check_idempotency_key,
    check_limit,
    make_scope,
    request_digest,
    to_turns,
)
from lightmem.pools import Pools
from lightmem.retrieval.context import Context
from lightmem.retrieval.retriever import Retriever
from lightmem.scoped import ScopedMemory
from lightmem.timeutil import parse_timestamp
from lightmem.types import (
    AddResult,
    ConsolidationResult,
    DayActivity,
    DecisionRecord,
    Entry,
    EntryKind,
    HistoryRecord,
    Hit,
    Scope,
    SearchMode,
    Turn,
    Usage,
)

log = logging.getLogger(__name__)

__all__ = ["FlushResult", "Memory"]

#: Upstream LightMem's code imports ``lightmem.memory.lightmem``; this module lends its name
#: to that path, which resolves to a shim of :mod:`lightmem.compat` (not a package of ours).
__path__ = [str(Path(__file__).with_name("compat") / "upstream_imports")]


class Memory(Forgetting, Current, Pools):
    """Long-term memory for LLM applications.

    ``Memory()`` opens the store under ``LIGHTMEM_HOME`` (default ``~/.lightmem``);
    ``Memory(path)`` opens or creates a store directory at ``path``. The resolved config is
    saved there (secrets excluded), so reopening a store needs no config. ``warm=True``
    loads a local embedder's model on a thread at once, while the store opens (for a caller
    about to add or search: the first call then does not wait for it all); ``"queries"``
    or ``"batches"`` loads only what searches and single messages, or bulk adds, need.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        config: MemoryConfig | dict[str, Any] | str | Path | None = None,
        warm: bool | Warm = False,
        **overrides: Any,
    ) -> None:
        self.parts = assemble(path, config, warm=warm, **overrides)
        self.path, self.config, self.store = self.parts.path, self.parts.config, self.parts.store
        self.embedder, self.llm = self.parts.embedder, self.parts.llm
        self.image_embedder = self.parts.image_embedder
        self.engine = Pipeline(self.parts)
        self.timings, self.failures = self.engine.timings, self.engine.failures
        self.retriever = Retriever.build(
            self.store,
            self.embedder,
            self.image_embedder,
            self.config,
            self.engine.hidden,
            self.engine.timings,
        )
        self.searcher = self.retriever.searcher
        w = self.config.worker
        self._worker = PipelineThreads(self.engine) if w.background and w.enabled else None

    @classmethod
    def from_config(
        cls, config: dict[str, Any] | str | Path, path: str | Path | None = None
    ) -> Memory:
        return cls(path, config=config)

    # -- what mode are we in ----------------------------------------------------------------
    @property
    def llm_mode(self) -> str:
        """``openai``, ``local``, ``scripted`` ... or ``none`` (no-LLM mode)."""
        return self.parts.llm_mode

    def describe_llm(self) -> str:
        """One line for every surface that names the mode (demo, stats, serve, ingest)."""
        return self.parts.describe_llm()

    def llm_status(self) -> LLMStatus:
        """Whether extraction can reach its LLM: ``ok``, ``unreachable`` (with the message:
        what failed, what to check; the batches wait and ``flush`` tries again) or ``off``
        (no-LLM mode)."""
        return self.engine.llm_status()

    def describe_embedder(self) -> str:
        """The embedder, for the same surfaces: a test fake says it is one."""
        return self.parts.describe_embedder()

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
        check_add(run_id, session_id, author)
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
            result = AddResult(turn_ids=[t.id for t in self.store.add_turns(turns)])
        else:
            saved, replayed = self.store.add_turns_once(turns, scope.owner, *once)
            result = AddResult(turn_ids=[t.id for t in saved], replayed=replayed)
            if replayed:
                return result
        if self._worker is not None:
            self._worker.notify(scope.owner)
        elif self.config.worker.enabled:
            try:
                flushed = self.engine.process(scope.owner, segment=False, extract=False)
            except LightMemError as exc:
                # The turns are committed: raising now would invite a retry that stores them
                # twice. They stay buffered; the next add/flush picks them up.
                log.warning("processing after add deferred: %s", type(exc).__name__)
                result.deferred = f"{type(exc).__name__}: {exc}"
                return result
            result.entries_created = flushed.entries_created
            result.failed_batches = flushed.failed_batches
            result.waiting_batches = flushed.waiting_batches
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
        ``worker.max_llm_calls`` owners at once. Each owner waits for the background step
        in flight for it (if any), never for the background threads to run dry. An LLM
        endpoint found unreachable is tried again at once; if it still is, the batches stay
        pending (``waiting_batches``) and :meth:`llm_status` says why."""
        owners = (
            [make_scope(user_id, agent_id, None)] if user_id or agent_id else self.store.scopes()
        )
        if extract:
            self.engine.retry_llm()  # a down endpoint is tried at once, not after its cool-down
        return self.engine.flush(owners, segment=segment, extract=extract)

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
        return self.retriever.search(
            query,
            [make_scope(user_id, agent_id, run_id)],
            limit=limit,
            mode=mode,
            time_range=time_range,
            include_turns=include_turns,
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
        in_prompt: Sequence[str] = (),
    ) -> Context:
        """A prompt-ready block for ``query`` within ``budget_tokens`` (cl100k tokens):
        the memories in time order with dates (a newer one marked when it supersedes an
        older one), then the evidence turns quoted; with the items chosen.
        ``hierarchical`` (default: when the mode is ``hierarchical``) searches sessions
        first and writes the summaries of the sessions found above the memories.
        ``in_prompt``: the texts of the messages the prompt already holds (the history
        sent with the block): a turn saying one of them is not quoted again, nor a memory
        drawn from such turns alone."""
        return self.retriever.context(
            query,
            [make_scope(user_id, agent_id, run_id)],
            budget_tokens=budget_tokens,
            mode=mode,
            time_range=time_range,
            hierarchical=hierarchical,
            in_prompt=in_prompt,
        )

    def get(
        self, memory_id: str, *, user_id: str | None = None, agent_id: str | None = None
    ) -> Entry:
        return self._entry(memory_id, user_id, agent_id)

    def get_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        limit: int | None = None,
        include_deleted: bool = False,
        kind: EntryKind | None = None,
        pinned: bool | None = None,
        newest_first: bool = False,
    ) -> list[Entry]:
        """The scope's memories in creation order, the newest first with ``newest_first``
        (of one ``kind``, pinned or not, when given); ``include_deleted`` adds tombstones
        and expired memories (not yet purged). With a ``limit`` only about that many rows
        are read, however many the scope holds."""
        check_limit(limit)
        check_flag(include_deleted, "include_deleted")
        check_flag(pinned, "pinned", optional=True)
        check_flag(newest_first, "newest_first")
        scope = make_scope(user_id, agent_id, run_id)
        which: dict[str, Any] = {"kind": kind, "pinned": pinned, "newest_first": newest_first}
        if include_deleted:
            return self.store.list_entries(scope, limit=limit, include_deleted=True, **which)
        hidden = self.engine.hidden(scope.owner)
        if limit is None:
            return [e for e in self.store.list_entries(scope, **which) if not hidden(e)]
        out: dict[str, Entry] = {}  # by id: a row written meanwhile shifts the pages
        offset = 0
        while len(out) < limit:
            page = self.store.list_entries(scope, limit=limit, offset=offset, **which)
            out.update((e.id, e) for e in page if not hidden(e) and e.id not in out)
            if len(page) < limit:
                break
            offset += limit
        return list(out.values())[:limit]

    def turns(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        include_forgotten: bool = False,
    ) -> list[Turn]:
        """The conversation turns of a user/agent (of one session), in order; forgotten ones
        (tombstones until a purge) only with ``include_forgotten``."""
        check_flag(include_forgotten, "include_forgotten")
        found = self.store.list_turns(make_scope(user_id, agent_id, None), session_id=session_id)
        return found if include_forgotten else [t for t in found if not t.forgotten]

    def sources(self, memory_id: str) -> list[Turn]:
        """The turns a memory was drawn from."""
        return self.store.get_turns(self.get(memory_id).sources)

    def history(
        self, memory_id: str, *, user_id: str | None = None, agent_id: str | None = None
    ) -> list[HistoryRecord]:
        self.get(memory_id, user_id=user_id, agent_id=agent_id)  # NotFoundError if not there
        return self.store.history(memory_id)

    def decisions(self, memory_id: str) -> list[tuple[DecisionRecord, str | None]]:
        """Every consolidation decision about a pair the memory is in, oldest first, with
        the text of the other memory of the pair (a pair never crosses owners)."""
        self.get(memory_id)
        found = self.store.decisions(memory_id)
        others = [d.source_id if d.target_id == memory_id else d.target_id for d in found]
        texts = {e.id: e.text for e in self.store.get_entries(list(dict.fromkeys(others)))}
        return [(d, texts.get(o)) for d, o in zip(found, others, strict=True)]

    def count(self, *, user_id: str | None = None, agent_id: str | None = None) -> tuple[int, int]:
        """(active, deleted) memories of a user/agent (naming nobody: the whole store)."""
        scope = make_scope(user_id, agent_id, None) if user_id or agent_id else None
        active = self.store.count_entries(scope)
        return active, self.store.count_entries(scope, include_deleted=True) - active

    def activity(
        self, *, user_id: str | None = None, agent_id: str | None = None
    ) -> list[DayActivity]:
        """Per day: turns and memories stored for a user/agent (naming nobody: the whole
        store), and the store's LLM calls, failed calls and tokens."""
        scope = make_scope(user_id, agent_id, None) if user_id or agent_id else None
        return self.store.activity(scope)

    def scopes(self) -> list[Scope]:
        """Every owner scope that holds turns or memories."""
        return self.store.scopes()

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
        new = check_change(memory_id, reason, actor, text)
        assert new is not None
        self._entry(memory_id, user_id, agent_id)  # missing, outside the scope or expired
        vector = self.embedder.embed([new])[0]
        return self.store.update_entry(memory_id, new, vector, reason=reason, actor=actor)

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
        check_change(memory_id, reason, actor)
        self._entry(memory_id, user_id, agent_id)  # missing, outside the scope or expired
        self.store.delete_entry(memory_id, reason=reason, actor=actor)

    def delete_all(
        self, *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> int:
        return self.store.delete_all(make_scope(user_id, agent_id, run_id))

    # -- shared pools (grants: lightmem.pools) ------------------------------------------------
    def as_actor(self, principal: access.Principal) -> ScopedMemory:
        """This memory as ``principal`` (an API key, an MCP session) sees it: its own scopes
        plus the pools granted to it, every operation checked (:mod:`lightmem.scoped`)."""
        return ScopedMemory(self, principal)

    def as_scope(self, *, user_id: str | None = None, agent_id: str | None = None) -> ScopedMemory:
        """This memory as one scope sees it: its own memories plus the pools granted to it
        (``search(..., shared=True)``, and ``pool=`` on every operation); its writes into
        pools are authored by the scope (``"agent:planner"``)."""
        owner = make_scope(user_id, agent_id, None)
        label = access.author_label(owner)
        return self.as_actor(access.Principal.for_scope(label, user_id, agent_id, author=label))

    # -- sleep time -----------------------------------------------------------------------------
    def consolidate(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        threshold: float | None = None,
        top_k: int | None = None,
        workers: int | None = None,
    ) -> ConsolidationResult:
        """Sleep-time update: resolve newer entries against similar older ones, purge what
        expired, bring session summaries up to date. The keyword arguments override the
        ``consolidation`` config for this run only."""
        scope = make_scope(user_id, agent_id, None) if user_id or agent_id else None
        c = self.config.consolidation.model_copy()
        try:
            for key, value in (("threshold", threshold), ("top_k", top_k), ("workers", workers)):
                if value is not None:
                    setattr(c, key, value)
        except ValidationError as exc:
            raise InputError(
                format_validation_error(exc).replace("config key", "argument")
            ) from None
        self.engine.retry_llm()
        return self.engine.sleep_time(scope, c)

    # -- accounting ---------------------------------------------------------------------------
    def usage(self) -> Usage:
        return self.engine.usage()

    # -- export / import ----------------------------------------------------------------------
    def export(
        self, *, user_id: str | None = None, agent_id: str | None = None
    ) -> Iterator[dict[str, Any]]:
        scope = make_scope(user_id, agent_id, None) if user_id or agent_id else None
        return self.engine.forgetter.unexpired(self.store.export_records(scope))

    def import_records(self, records: Iterable[dict[str, Any]]) -> int:
        if isinstance(records, str | bytes | Mapping) or not isinstance(records, Iterable):
            raise InputError(
                "import_records takes an iterable of export records (dicts), as export() "
                f"yields them; got {type(records).__name__}"
            )
        return self.store.import_records(records)

    def import_chat(
        self,
        path: str | Path,
        *,
        format: str,
        user_id: str | None = None,
        agent_id: str | None = None,
        dry_run: bool = False,
        progress: ProgressFn | None = None,
        gap_hours: float = DEFAULT_GAP_HOURS,
    ) -> ChatImportResult:
        """Import a ChatGPT, Claude, WhatsApp or Telegram export (``docs/import-chat.md``):
        one session per conversation, original times and speakers; a re-import adds nothing."""
        return import_chat(
            self,
            path,
            format=format,
            user_id=user_id,
            agent_id=agent_id,
            dry_run=dry_run,
            progress=progress,
            gap_hours=gap_hours,
        )

    # -- lifecycle ------------------------------------------------------------------------------
    def close(self) -> None:
        if self._worker is not None:
            self._worker.stop()
        try:
            self.searcher.save_snapshots()
        except (OSError, LightMemError, pickle.PicklingError, TypeError) as exc:
            # a cache file: the store still closes, and the next first search builds the
            # index from the rows
            log.warning("index snapshots not written (%s: %s)", type(exc).__name__, exc)
        finally:
            self.parts.close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
