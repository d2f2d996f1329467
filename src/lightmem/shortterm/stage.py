"""The short-term stage: batch segments by the token threshold and extract each batch with
ONE call. A failed extraction keeps the batch (status failed, raw reply kept, the reason in
the failure log); the next flush retries it. An endpoint that cannot be reached leaves the
batch pending, its attempts untouched (it was never asked), and the owner's other batches
wait with it. Without an LLM (no-LLM mode chosen for a store that had one) a failed batch is
never retried: its turns wait for an LLM instead of becoming raw memories. The sources the
LLM cites are checked against the batch and re-pointed where they do not support their
fact. Nothing is dropped."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lightmem.embedders.base import Embedder
from lightmem.errors import ConflictError, ExtractionError, ProviderError, UnreachableError
from lightmem.failures import FailureLog, describe, record_transport_failure, turn_texts
from lightmem.ids import new_id
from lightmem.llm.circuit import CircuitOpenError
from lightmem.shortterm.batching import SegmentSize, plan_batches
from lightmem.shortterm.extraction import ExtractionReport, Extractor, relink
from lightmem.shortterm.provenance import LinkRules, check_links, support_matrix
from lightmem.stores.base import Store
from lightmem.types import Batch, Entry, Scope, Turn, TurnStage, carried_images

log = logging.getLogger(__name__)


@dataclass(slots=True)
class StageResult:
    entries_created: int = 0
    batches_done: int = 0
    failed_batches: list[str] = field(default_factory=list)
    more: bool = False  # batches left pending by a bounded run (``limit``)
    #: batches left pending because the LLM endpoint could not be reached
    waiting: list[str] = field(default_factory=list)


def bind_events(report: ExtractionReport, turns: list[Turn]) -> list[Entry]:
    """The report's events ready to store: their facts and links as entry ids, their
    evidence the turns they cite plus their facts' (checked) sources."""
    events = []
    for event, cited in zip(report.events, report.event_cited, strict=True):
        facts = [report.entries[i] for i in event.meta.get("facts", [])]
        wanted = {turns[j].id for j in cited} | {t for f in facts for t in f.sources}
        sources = [t for t in turns if t.id in wanted] or turns
        bound = relink(event, sources)
        bound.meta = {**event.meta, "facts": [f.id for f in facts]}
        events.append(bound)
    for event in events:
        event.meta["links"] = [
            {"to": events[link["to"]].id, "relation": link["relation"]}
            for link in event.meta.get("links", [])
        ]
    return events


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
        failures: FailureLog | None = None,
        link_rules: LinkRules | None = None,
        llm_slots: threading.BoundedSemaphore | None = None,
    ) -> None:
        self.store = store
        self.extractor = extractor
        self.embedder = embedder
        self.threshold = threshold
        self.max_batch_tokens = max_batch_tokens
        self.max_attempts = max_attempts
        self.timings = timings
        self.failures = failures if failures is not None else FailureLog(store)
        self.link_rules = link_rules if link_rules is not None else LinkRules()
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
                self.store.create_batch(Batch(id=new_id(), scope=owner, turn_ids=turn_ids))
            except ConflictError:
                # another process batched these turns first; its batch will be extracted
                log.info("turns of a planned batch were batched by another worker")
                continue
            created += 1
        return created

    def run_batches(
        self, owner: Scope, *, retry_failed: bool, limit: int | None = None
    ) -> StageResult:
        """Extract the owner's pending batches (and failed ones, with ``retry_failed``), at
        most ``limit`` of them; ``more`` says whether some were left for the next run."""
        result = StageResult()
        # a failed batch failed with an LLM: without one it waits for one, and never
        # becomes raw-turn memories that would not be extracted again
        retry_failed = retry_failed and self.extractor.uses_llm
        statuses = ("pending", "failed") if retry_failed else ("pending",)
        tried = 0
        for batch in self.store.list_batches(owner, statuses=statuses):
            if batch.status == "failed" and batch.attempts >= self.max_attempts:
                result.failed_batches.append(batch.id)
                continue
            if result.waiting:  # the endpoint is down: the rest wait too, untried
                result.waiting.append(batch.id)
                continue
            if limit is not None and tried >= limit:
                result.more = True
                break
            tried += 1
            self.run_batch(batch, result)
        return result

    def run_batch(self, batch: Batch, result: StageResult) -> bool:
        """Extract one batch, counting into ``result``; True if this call completed it
        (False: it failed, or another worker completed it first). A failed batch is left
        as it is without an LLM (it waits for one)."""
        if batch.status == "failed" and not self.extractor.uses_llm:
            return False
        turns = self.store.get_turns(batch.turn_ids)
        try:
            with self.llm_slots or contextlib.nullcontext():
                report = self.extractor.extract(turns)
        except UnreachableError as exc:
            if not isinstance(exc, CircuitOpenError):  # a call was made, and failed
                record_transport_failure(self.store, "extraction", exc)
            result.waiting.append(batch.id)  # pending as it was; the outage is logged once
            return False
        except (ExtractionError, ProviderError) as exc:
            record_transport_failure(self.store, "extraction", exc)
            raw = exc.raw if isinstance(exc, ExtractionError) else None
            message = describe(exc, turn_texts(turns))
            try:
                self.store.fail_batch(batch.id, message, raw)
            except ConflictError:
                return False  # another worker completed this batch meanwhile
            result.failed_batches.append(batch.id)
            self.failures.record("extraction", message, ref=batch.id)
            return False
        t1 = time.perf_counter()
        vectors = self._vectors(report.entries, turns)
        self._add("embedding", time.perf_counter() - t1)
        repaired = self._check_sources(report, turns, vectors)
        by_id = {t.id: t for t in turns}
        for entry in report.entries:  # an entry shows the images of the turns it came from
            entry.images = carried_images([by_id[s] for s in entry.sources if s in by_id])
        events = bind_events(report, turns)
        if events:
            vectors = np.vstack([vectors, self.embedder.embed([e.text for e in events])])
            for event in events:
                event.images = carried_images([by_id[s] for s in event.sources if s in by_id])
        try:
            self.store.complete_batch(batch.id, report.entries + events, vectors)
        except ConflictError:
            log.info("batch %s was completed by another worker", batch.id)
            return False
        # counted once the entries are stored, so a batch another worker completed first
        # is not counted twice
        if report.invalid_sources:
            self._bump("invalid_sources", report.invalid_sources)
        if repaired:
            self._bump("repaired_sources", repaired)
        result.entries_created += len(report.entries) + len(events)
        result.batches_done += 1
        return True

    def _check_sources(self, report: ExtractionReport, turns: list[Turn], vectors: Any) -> int:
        """Re-point the entries' unsupported sources (LLM extraction only); returns how
        many cited links were repaired."""
        if report.cited is None or report.views is None or not report.entries:
            return 0
        t0 = time.perf_counter()
        stored = self.store.turn_vectors([t.id for t in turns])
        scores = support_matrix(
            [e.text for e in report.entries],
            [f"{t.label}: {v}" for t, v in zip(turns, report.views, strict=True)],
            np.asarray(vectors),
            [stored.get(t.id) for t in turns],
            [t.speaker for t in turns],
            self.link_rules,
        )
        checks = check_links(scores, report.cited, self.link_rules)
        relinked: list[Entry] = []
        for entry, check in zip(report.entries, checks, strict=True):
            sources = [turns[j] for j in check.sources]
            if sources and [t.id for t in sources] != entry.sources:
                entry = relink(entry, sources)
            relinked.append(entry)
        report.entries = relinked
        self._add("provenance", time.perf_counter() - t0)
        return sum(c.repaired for c in checks)

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
