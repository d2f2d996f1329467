"""The short-term stage: batch segments by the token threshold and extract each batch with
ONE call. A failed extraction keeps the batch (status failed, raw reply kept); the next
flush retries it. Nothing is dropped."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field

import numpy as np

from lightmem.embedders.base import Embedder
from lightmem.errors import ConflictError, ExtractionError, ProviderError
from lightmem.longterm.consolidation import record_transport_failure
from lightmem.shortterm.batching import SegmentSize, plan_batches
from lightmem.shortterm.extraction import Extractor
from lightmem.stores.base import Store
from lightmem.types import Batch, Scope, TurnStage

log = logging.getLogger(__name__)


@dataclass(slots=True)
class StageResult:
    entries_created: int = 0
    batches_done: int = 0
    failed_batches: list[str] = field(default_factory=list)


class ShortTermStage:
    def __init__(
        self,
        store: Store,
        extractor: Extractor,
        embedder: Embedder,
        *,
        threshold: int,
        max_batch_tokens: int,
        max_attempts: int,
        timings: dict[str, float],
        llm_slots: threading.BoundedSemaphore | None = None,
    ) -> None:
        self.store = store
        self.extractor = extractor
        self.embedder = embedder
        self.threshold = threshold
        self.max_batch_tokens = max_batch_tokens
        self.max_attempts = max_attempts
        self.timings = timings
        # bounds the LLM calls in flight across owners (None: no bound)
        self.llm_slots = llm_slots if extractor.uses_llm else None

    def plan(self, owner: Scope, *, force: bool) -> int:
        """Create batches from the owner's short-term segments; returns how many."""
        turns = self.store.list_turns(owner, stage=TurnStage.SHORT_TERM)
        segments: dict[str, list] = {}
        for t in turns:
            segments.setdefault(t.segment_id or t.id, []).append(t)
        sizes = [
            SegmentSize(sid, tuple(t.id for t in ts), tuple(t.tokens for t in ts))
            for sid, ts in segments.items()
        ]
        planned = plan_batches(sizes, self.threshold, self.max_batch_tokens, force)
        created = 0
        for turn_ids in planned:
            try:
                self.store.create_batch(Batch(id=uuid.uuid4().hex, scope=owner, turn_ids=turn_ids))
            except ConflictError:
                # another process batched these turns first; its batch will be extracted
                log.info("turns of a planned batch were batched by another worker")
                continue
            created += 1
        return created

    def run_batches(self, owner: Scope, *, retry_failed: bool) -> StageResult:
        result = StageResult()
        statuses = ("pending", "failed") if retry_failed else ("pending",)
        for batch in self.store.list_batches(owner, statuses=statuses):
            if batch.status == "failed" and batch.attempts >= self.max_attempts:
                result.failed_batches.append(batch.id)
                continue
            self._run_one(batch, result)
        return result

    def _run_one(self, batch: Batch, result: StageResult) -> None:
        turns = self.store.get_turns(batch.turn_ids)
        try:
            with self.llm_slots or contextlib.nullcontext():
                report = self.extractor.extract(turns)
        except (ExtractionError, ProviderError) as exc:
            record_transport_failure(self.store, "extraction", exc)
            raw = exc.raw if isinstance(exc, ExtractionError) else None
            try:
                self.store.fail_batch(batch.id, str(exc), raw)
            except ConflictError:
                return  # another worker completed this batch meanwhile
            result.failed_batches.append(batch.id)
            log.warning("extraction of batch %s failed: %s", batch.id, type(exc).__name__)
            return
        t1 = time.perf_counter()
        vectors = self._vectors(report.entries, turns)
        self._add("embedding", time.perf_counter() - t1)
        if report.invalid_sources:
            self._bump("invalid_sources", report.invalid_sources)
        try:
            self.store.complete_batch(batch.id, report.entries, vectors)
        except ConflictError:
            log.info("batch %s was completed by another worker", batch.id)
            return
        result.entries_created += len(report.entries)
        result.batches_done += 1

    def _vectors(self, entries: list, turns: list) -> np.ndarray:
        if not entries:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        if not self.extractor.uses_llm:
            stored = self.store.turn_vectors([t.id for t in turns])
            if all(e.sources[0] in stored for e in entries):
                return np.stack([stored[e.sources[0]] for e in entries]).astype(np.float32)
        return self.embedder.embed([e.text for e in entries])

    def _bump(self, key: str, n: int) -> None:
        current = int(self.store.get_meta(f"counter:{key}") or 0)
        self.store.set_meta(f"counter:{key}", str(current + n))

    def _add(self, stage: str, seconds: float) -> None:
        self.timings[stage] = self.timings.get(stage, 0.0) + seconds
