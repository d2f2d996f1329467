"""The ``Memory`` facade: a thin layer that validates input and delegates to the stages."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lightmem.config import MemoryConfig, format_validation_error, lightmem_home
from lightmem.embedders.base import Embedder
from lightmem.errors import ConfigError, InputError, LightMemError, StorageError
from lightmem.llm.base import LLM, Completion
from lightmem.locks import OwnerLocks
from lightmem.longterm.consolidation import Consolidator
from lightmem.messages import AddDefaults, make_scope, to_turns
from lightmem.registry import build, build_llm
from lightmem.retrieval.context import Context, build_context
from lightmem.retrieval.search import Searcher, SearchSettings
from lightmem.sensory.compressors.base import Compressor
from lightmem.sensory.segmenters.base import Segmenter
from lightmem.sensory.stage import SensoryStage
from lightmem.shortterm.extraction import Extractor, LLMExtractor, TurnExtractor
from lightmem.shortterm.stage import ShortTermStage
from lightmem.stores.base import Store, TimeRange
from lightmem.timeutil import parse_timestamp
from lightmem.types import (
    AddResult,
    ConsolidationResult,
    Entry,
    HistoryRecord,
    Hit,
    LLMCall,
    Scope,
    SearchMode,
    Turn,
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
        self.segmenter: Segmenter = build("segmenter", cfg.segmenter, Segmenter)
        self.store: Store = build("store", store_section, Store)
        self.store.open(self.embedder.dim)
        try:
            self._check_embedder()
            self._save_config()
        except BaseException:
            self.store.close()
            raise

        self.timings: dict[str, float] = {}
        self._owners = OwnerLocks()  # one owner's pipeline at a time; owners run concurrently
        # LLM extraction calls in flight at once, over every owner and thread
        self._llm_slots = threading.BoundedSemaphore(cfg.worker.max_llm_calls)
        extractor: Extractor = (
            LLMExtractor(
                self.llm,
                max_retries=cfg.extraction.max_retries,
                on_call=self._recorder("extraction"),
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
            timings=self.timings,
        )
        self.shortterm = ShortTermStage(
            self.store,
            extractor,
            self.embedder,
            threshold=cfg.buffer.shortterm_tokens,
            max_batch_tokens=cfg.buffer.max_batch_tokens,
            max_attempts=cfg.extraction.max_attempts_per_batch,
            timings=self.timings,
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
            ),
        )
        self._worker = (
            BackgroundWorker(self._process_quietly, threads=cfg.worker.max_llm_calls)
            if cfg.worker.background
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
    ) -> AddResult:
        """Store one or many turns durably, then run the pipeline (inline or in background).

        The turns are committed before any processing: if processing fails, they stay
        buffered and the next ``add``/``flush`` picks them up.
        """
        if run_id is not None and session_id is not None and run_id != session_id:
            raise InputError("run_id and session_id are the same thing; pass only one")
        scope = make_scope(user_id, agent_id, run_id or session_id)
        ts = (
            parse_timestamp(timestamp)
            if timestamp is not None
            else datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        )
        turns = to_turns(messages, scope, AddDefaults(session_id=scope.run_id, timestamp=ts))
        saved = self.store.add_turns(turns)
        result = AddResult(turn_ids=[t.id for t in saved])
        if self._worker is not None:
            self._worker.notify(scope.owner)
        else:
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
        scope = make_scope(user_id, agent_id, run_id)
        return self.searcher.search(
            query,
            scope,
            limit=self.config.retrieval.limit if limit is None else limit,
            mode=mode or self.config.retrieval.mode,
            time_range=_time_range(time_range),
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
    ) -> Context:
        """A prompt-ready block for ``query`` within ``budget_tokens`` (cl100k tokens):
        the memories in time order with dates (a newer one marked when it supersedes an
        older one), then the evidence turns quoted; with the items chosen."""
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
            mode=mode or self.config.retrieval.mode,
            time_range=_time_range(time_range),
        )
        return build_context(
            hits,
            budget,
            lambda ids: self.store.entry_vectors(ids),
            self.config.consolidation.threshold,
        )

    def get(
        self, memory_id: str, *, user_id: str | None = None, agent_id: str | None = None
    ) -> Entry:
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
        return self.store.list_entries(
            make_scope(user_id, agent_id, run_id), limit=limit, include_deleted=include_deleted
        )

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
    ) -> Entry:
        """Replace a memory's text (re-embedded; the old text stays in its history). With a
        scope, an id outside it is :class:`NotFoundError`."""
        if not isinstance(text, str) or not text.strip():
            raise InputError("the new text of a memory must be a non-empty string")
        if user_id or agent_id:
            self.get(memory_id, user_id=user_id, agent_id=agent_id)
        vector = self.embedder.embed([text.strip()])[0]
        updated = self.store.update_entry(
            memory_id, text.strip(), vector, reason=reason, actor="user"
        )
        self.searcher.turn_search.clear()
        return updated

    def delete(
        self,
        memory_id: str,
        *,
        reason: str | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
    ) -> None:
        """Soft-delete a memory (a tombstone with history; never returned by search)."""
        if user_id or agent_id:
            self.get(memory_id, user_id=user_id, agent_id=agent_id)
        self.store.delete_entry(memory_id, reason=reason, actor="user")

    def delete_all(
        self, *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> int:
        return self.store.delete_all(make_scope(user_id, agent_id, run_id))

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
        consolidator = Consolidator(
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
        )
        try:
            return consolidator.run(scope)
        finally:
            self.searcher.turn_search.clear()

    # -- accounting ---------------------------------------------------------------------------
    def usage(self) -> Usage:
        u = self.store.usage()
        u.timings = dict(self.timings)
        u.invalid_sources = int(self.store.get_meta("counter:invalid_sources") or 0)
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
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, target)
        except OSError as exc:
            raise StorageError(
                f"cannot write the store's config file {str(target)!r}: {exc.strerror or exc}"
            ) from exc


def make_store_dir(path: Path) -> None:
    """Create the store directory (or accept an existing one), as a StorageError that says
    what to change when the path is a file or cannot be written."""
    if path.exists() and not path.is_dir():
        raise StorageError(
            f"the store path {str(path)!r} is a file, not a directory; give a directory "
            f"(it is created if missing)"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(
            f"cannot create the store directory {str(path)!r}: {exc.strerror or exc}; give a "
            f"path on a writable file system, or fix its permissions"
        ) from None


def _time_range(value: tuple[Any, Any] | None) -> TimeRange | None:
    if value is None:
        return None
    try:
        start, end = value
    except (TypeError, ValueError):
        raise InputError(
            "time_range must be a (start, end) pair; use None for an open end"
        ) from None
    return (
        None if start is None else parse_timestamp(start, field="time_range start"),
        None if end is None else parse_timestamp(end, field="time_range end"),
    )
