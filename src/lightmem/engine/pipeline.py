"""The pipeline over a memory's components: sensory -> short-term -> long-term, and the
sleep-time sequence, written once. ``Memory`` and ``lightmem worker`` processes both drive it.

* :meth:`Pipeline.process` runs one owner's buffers (segment, plan batches, extract), under
  that owner's lock; owners run concurrently, ``worker.max_llm_calls`` LLM calls at once.
  :meth:`Pipeline.step` is the background threads' bounded run of the same: the owner's lock
  is first come first served, so a forget or flush waits for one step, not for the adds to
  stop.
* :meth:`Pipeline.sleep_time` is the offline work of a set of owners or of queued entries:
  consolidate (update, delete, merge), purge what expired, bring session summaries up to date.
* :meth:`Pipeline.forget` previews or applies a forget under the owner's lock.

Every stage calls the LLM through one :class:`~lightmem.llm.circuit.GuardedLLM`: an endpoint
found unreachable is left alone for ``worker.llm_cooldown_seconds``, the work waits
(nothing is lost), the outage is reported once (:meth:`Pipeline.llm_status`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lightmem import giveway
from lightmem.config import ConsolidationSection
from lightmem.engine.assembly import Components
from lightmem.engine.locks import OwnerLocks
from lightmem.errors import LightMemError
from lightmem.failures import (
    LLM_DOWN_KEY,
    FailureLog,
    describe,
    recent_failures,
    turn_texts,
)
from lightmem.llm.base import LLM, Completion
from lightmem.llm.circuit import GuardedLLM, LLMStatus
from lightmem.longterm.consolidation import Consolidator, OnDecision
from lightmem.longterm.forgetting import Forgetter
from lightmem.longterm.summaries import SessionSummarizer, SummaryResult
from lightmem.longterm.supersession import Supersession
from lightmem.sensory.segmenters.combined import CombinedSegmenter
from lightmem.sensory.stage import SensoryStage
from lightmem.shortterm.extraction import Extractor, LLMExtractor, TurnExtractor
from lightmem.shortterm.stage import ShortTermStage, StageResult
from lightmem.timeutil import format_timestamp, parse_timestamp
from lightmem.types import (
    Batch,
    ConsolidationResult,
    Entry,
    ForgetResult,
    LLMCall,
    Scope,
    TurnStage,
    Usage,
)

log = logging.getLogger(__name__)

#: The most batches one background step extracts while it holds the owner's lock.
BATCHES_PER_STEP = 4


@dataclass(slots=True)
class FlushResult:
    entries_created: int = 0
    batches_done: int = 0
    failed_batches: list[str] = field(default_factory=list)
    #: batches left pending because the LLM endpoint could not be reached (nothing lost;
    #: :meth:`Pipeline.llm_status` says why, the next flush tries again)
    waiting_batches: list[str] = field(default_factory=list)

    def add(self, other: FlushResult) -> None:
        self.entries_created += other.entries_created
        self.batches_done += other.batches_done
        self.failed_batches += other.failed_batches
        self.waiting_batches += other.waiting_batches


def _unreachable(llm: GuardedLLM) -> bool:
    llm.preflight()
    return llm.status().state == "unreachable"


class Pipeline:
    def __init__(self, parts: Components) -> None:
        self.parts = parts
        cfg = parts.config
        self.store = parts.store
        self.timings: dict[str, float] = {}
        self.failures = FailureLog(self.store)
        self.llm: LLM = parts.llm
        if parts.llm.available:
            guarded = GuardedLLM(
                parts.llm,
                cooldown=cfg.worker.llm_cooldown_seconds,
                on_open=self._llm_down,
                on_close=self._llm_up,
            )
            self.llm = guarded
            if isinstance(parts.segmenter, CombinedSegmenter):
                # while the endpoint is down, the batches wait: no attention pass for them
                parts.segmenter.pause = lambda: _unreachable(guarded)
        self.owners = OwnerLocks()  # one owner's pipeline at a time; owners run concurrently
        # LLM extraction calls in flight at once, over every owner and thread
        self.llm_slots = threading.BoundedSemaphore(cfg.worker.max_llm_calls)
        self.sensory = SensoryStage(
            self.store,
            parts.compressor,
            parts.embedder,
            parts.segmenter,
            buffer_tokens=cfg.buffer.sensory_tokens,
            max_segment_tokens=cfg.buffer.max_segment_tokens,
            timings=self.timings,
            image_embedder=parts.image_embedder,
        )
        self.shortterm = ShortTermStage(
            self.store,
            self._extractor(),
            parts.embedder,
            threshold=cfg.buffer.shortterm_tokens,
            max_batch_tokens=cfg.buffer.max_batch_tokens,
            max_attempts=cfg.extraction.max_attempts_per_batch,
            timings=self.timings,
            failures=self.failures,
            llm_slots=self.llm_slots,
        )
        self.forgetter = Forgetter(self.store)
        #: owner -> its turn count when its session summaries were last brought up to date
        self._summarized: dict[Scope, int] = {}

    def _extractor(self) -> Extractor:
        cfg, llm = self.parts.config, self.llm
        if not llm.available:
            return TurnExtractor()
        return LLMExtractor(
            llm,
            max_retries=cfg.extraction.max_retries,
            on_call=self.recorder("extraction"),
            max_batch_tokens=cfg.buffer.max_batch_tokens,
            mode=cfg.extraction.mode,
        )

    # -- online: sensory and short-term ---------------------------------------------------------
    def process(self, owner: Scope, *, segment: bool, extract: bool) -> FlushResult:
        """Run the owner's buffers: ``segment`` cuts the whole sensory buffer into topic
        segments, ``extract`` extracts every short-term segment (and retries failed batches)."""
        with self.owners.hold(owner):
            self.sensory.process(owner, force=segment)
            self.shortterm.plan(owner, force=extract)
            r = self.shortterm.run_batches(owner, retry_failed=extract)
        return FlushResult(r.entries_created, r.batches_done, r.failed_batches, r.waiting)

    def step(self, owner: Scope) -> StageResult:
        """The background threads' run of the owner's buffers: segment and plan what is due,
        extract at most :data:`BATCHES_PER_STEP` batches. With ``more`` set, the caller
        comes back for the rest, after whoever queued for the owner's lock meanwhile; with
        ``waiting``, after the LLM endpoint's cool-down."""
        with self.owners.hold(owner):
            self.sensory.process(owner, force=False)
            self.shortterm.plan(owner, force=False)
            return self.shortterm.run_batches(owner, retry_failed=False, limit=BATCHES_PER_STEP)

    def plan(self, owner: Scope, *, force: bool) -> None:
        """Segment and plan the owner's batches, without extracting (a worker's first step)."""
        self.sensory.process(owner, force=force)
        self.shortterm.plan(owner, force=force)

    def run_batch(self, batch: Batch, result: StageResult) -> bool:
        """Extract one claimed batch; whether it is done."""
        return self.shortterm.run_batch(batch, result)

    def flush(self, owners: Sequence[Scope], *, segment: bool, extract: bool) -> FlushResult:
        """:meth:`process` for each owner, ``worker.max_llm_calls`` owners at once."""
        total = FlushResult()
        if len(owners) == 1:
            results = [self.process(owners[0], segment=segment, extract=extract)]
        else:
            with ThreadPoolExecutor(self.parts.config.worker.max_llm_calls) as pool:
                results = list(
                    pool.map(lambda o: self.process(o, segment=segment, extract=extract), owners)
                )
        for r in results:
            total.add(r)
        return total

    def record_failure(self, owner: Scope, exc: Exception) -> None:
        """Keep a background failure in the failure log, scrubbed of the owner's turns."""
        try:
            turns = self.store.list_turns(owner)
            private = turn_texts(t for t in turns if t.stage != TurnStage.EXTRACTED)
        except LightMemError:
            self.failures.record("worker", describe(exc, None))
            return
        self.failures.record("worker", describe(exc, private))

    # -- offline: sleep time --------------------------------------------------------------------
    def consolidator(
        self, settings: ConsolidationSection | None = None, on_decision: OnDecision | None = None
    ) -> Consolidator:
        """The sleep-time consolidator (``settings``: by default the config's)."""
        c = settings if settings is not None else self.parts.config.consolidation
        return Consolidator(
            self.store,
            self.parts.embedder,
            self.llm,
            threshold=c.threshold,
            top_k=c.top_k,
            workers=c.workers,
            duplicate_threshold=c.duplicate_threshold,
            max_retries=self.parts.config.extraction.max_retries,
            max_call_tokens=c.max_call_tokens,
            max_targets_per_call=c.max_targets_per_call,
            on_call=self.recorder("consolidation"),
            failures=self.failures,
            on_decision=on_decision,
        )

    def sleep_time(
        self,
        scope: Scope | None,
        settings: ConsolidationSection | None = None,
        *,
        entry_ids: list[str] | None = None,
        on_decision: OnDecision | None = None,
    ) -> ConsolidationResult:
        """Consolidate the scope (None: every owner) or the queued ``entry_ids``, then purge
        what expired and bring the session summaries of the owners concerned up to date."""
        c = settings if settings is not None else self.parts.config.consolidation
        consolidator = self.consolidator(c, on_decision)
        if entry_ids is not None:
            owners = list(dict.fromkeys(e.scope.owner for e in self.store.get_entries(entry_ids)))
        else:
            entry_ids = self.store.consolidation_queue(scope)
            owners = [scope] if scope is not None else self.store.scopes()
        result = consolidator.run_entries(entry_ids)
        if not self.parts.llm.available:  # an LLM's update decisions record replacement
            result.replaced += Supersession(self.store, self.parts.embedder).run(entry_ids)
        now = _now()
        for owner in owners:
            result.expired += self.forgetter.purge_expired(owner, now)
        for owner in dict.fromkeys(o.owner for o in owners):
            done = self.summarize(owner, workers=c.workers)
            result.summaries += done.written + done.updated
            result.failed_summaries += done.failed
        return result

    def summarize(self, owner: Scope, *, workers: int | None = None) -> SummaryResult:
        """Bring the owner's session summaries up to date (a no-op when
        ``summaries.enabled`` is false or no turn came or went since the last run)."""
        cfg = self.parts.config
        if not cfg.summaries.enabled:
            return SummaryResult()
        owner = owner.owner
        mark = self.store.count_turns(owner)
        if self._summarized.get(owner) == mark:
            return SummaryResult()
        s = cfg.summaries
        result = SessionSummarizer(
            self.store,
            self.parts.embedder,
            self.llm,
            workers=workers or cfg.consolidation.workers,
            max_retries=cfg.extraction.max_retries,
            sessions_per_call=s.sessions_per_call,
            max_call_tokens=s.max_call_tokens,
            on_call=self.recorder("summary"),
            failures=self.failures,
        ).run(owner)
        if not result.failed:
            self._summarized[owner] = mark
        return result

    # -- forgetting -----------------------------------------------------------------------------
    def forget(
        self,
        owner: Scope,
        query: str | None,
        ids: list[str] | None,
        *,
        purge: bool,
        dry_run: bool,
        actor: str,
        reason: str | None,
        turn_ids: list[str] | None = None,
    ) -> ForgetResult:
        # long work: in a server it gives way to other requests (lightmem.giveway)
        with self.owners.hold(owner), giveway.long_work():
            found = self.forgetter.find(owner, query, ids, tombstones=purge, turn_ids=turn_ids)
            if dry_run:
                return found
            self._summarized.pop(owner.owner, None)  # a summary may go: rebuild it
            return self.forgetter.apply(
                owner, found, purge=purge, actor=actor, reason=reason, query=query
            )

    def erase_turns(self, owner: Scope, turn_ids: list[str], *, cause: str, actor: str) -> int:
        """Erase the owner's turns for good under its lock (no batch of the owner in flight
        cites one); the memories drawn from them stay. The count erased."""
        with self.owners.hold(owner):
            return self.store.erase(owner, [], turn_ids, cause=cause, actor=actor).turns

    # -- the LLM endpoint -------------------------------------------------------------------
    def llm_status(self) -> LLMStatus:
        """``off`` in no-LLM mode; ``unreachable`` while this process waits out an outage or
        another process recorded one it has not seen end; else ``ok``."""
        if not isinstance(self.llm, GuardedLLM):
            return LLMStatus("off")
        own = self.llm.status()
        if own.state != "ok":
            return own
        try:
            raw = self.store.get_meta(LLM_DOWN_KEY)
            seen = json.loads(raw) if raw else None
        except (LightMemError, ValueError):
            return own
        if not isinstance(seen, dict) or not seen.get("message"):
            return own
        since = parse_timestamp(seen["since"]) if seen.get("since") else None
        return LLMStatus("unreachable", str(seen["message"]), since)

    @property
    def llm_cooldown(self) -> float:
        return self.parts.config.worker.llm_cooldown_seconds

    def retry_llm(self) -> None:
        """An explicit flush or consolidate asks: end the cool-down, so the next call tries
        the endpoint at once."""
        if isinstance(self.llm, GuardedLLM):
            self.llm.retry_now()

    def _llm_down(self, message: str) -> None:
        self.failures.record("llm", message)  # the one warning of the outage
        record = {"since": format_timestamp(_now()), "message": message}
        self._set_meta(LLM_DOWN_KEY, json.dumps(record))

    def _llm_up(self) -> None:
        try:
            recorded = bool(self.store.get_meta(LLM_DOWN_KEY))
        except LightMemError:
            recorded = True
        if recorded:
            log.info("the LLM endpoint answers again")
            self._set_meta(LLM_DOWN_KEY, "")

    def _set_meta(self, key: str, value: str) -> None:
        try:
            self.store.set_meta(key, value)
        except LightMemError as exc:  # the log line (and this process's circuit) remain
            log.warning("the LLM endpoint's state could not be stored: %s", type(exc).__name__)

    # -- accounting -----------------------------------------------------------------------------
    def usage(self) -> Usage:
        u = self.store.usage()
        u.timings = dict(self.timings)
        u.invalid_sources = int(self.store.get_meta("counter:invalid_sources") or 0)
        u.repaired_sources = int(self.store.get_meta("counter:repaired_sources") or 0)
        u.failures = recent_failures(self.store)
        return u

    def recorder(self, stage: str) -> Callable[[Completion, bool], None]:
        def record(c: Completion, ok: bool) -> None:
            self.store.record_llm_call(LLMCall(stage, c.tokens_in, c.tokens_out, c.seconds, ok))

        return record

    def hidden(self, owner: Scope) -> Callable[[Entry], bool]:
        """The owner's entries to leave out of results now (expired ones)."""
        return self.forgetter.hidden(owner, _now())


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
