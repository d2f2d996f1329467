"""The loop of a ``lightmem worker`` process: segment, extract and consolidate, for every
owner, the turns that stateless servers (``worker.enabled = false``) only stored.

Each round:

1. owners whose unbatched turns moved since this worker last looked are segmented and
   planned into batches (no LLM call; two workers racing here end in a ``ConflictError``
   that the stages read as "done by the other one");
2. extraction batches are claimed (``claim_batches``: ``FOR UPDATE SKIP LOCKED``, a lease of
   ``claim_ttl_seconds``) and extracted, ``worker.max_llm_calls`` at once;
3. entries queued for consolidation are claimed (``claim_consolidation``) and consolidated
   (sleep-time), and the expired memories of their owners purged.

A lease only saves duplicate LLM calls. What keeps the store right is the store itself:
``complete_batch`` refuses a batch already done, and ``apply_decision`` records the decided
(target, source) pairs in the transaction that applies the decision and refuses pairs
decided already. So a worker killed mid-lease loses nothing and applies nothing twice: its
claims expire, another worker takes the work over, and at worst redoes the calls in flight.

Until a claimed batch has been extracted (also while it waits for a free slot) or a
claimed entry consolidated, a heartbeat thread renews the worker's claim on it every third
of the lease (``renew_claims``), so an LLM call slower than the lease is not taken over and
paid twice; a batch that failed is left to expire, which is its retry back-off. A dead
worker stops renewing, and its leases run out.

A store without claims (SQLite) is worked on whole each round: still correct, but two
workers would make the same LLM calls; run one worker per SQLite store.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from lightmem.engine.background import IdleBuffers
from lightmem.engine.pipeline import Pipeline
from lightmem.errors import InputError, LightMemError
from lightmem.shortterm.stage import StageResult
from lightmem.types import Batch, Scope

log = logging.getLogger(__name__)


@runtime_checkable
class ClaimingStore(Protocol):
    """What a store offers worker processes that share it (the PostgreSQL store)."""

    def claim_batches(self, worker_id: str, limit: int, max_attempts: int) -> list[Batch]: ...

    def release_batches(self, worker_id: str) -> int: ...

    def claim_consolidation(
        self, worker_id: str, limit: int, scope: Scope | None = None
    ) -> list[str]: ...

    def release_claims(self, worker_id: str, entry_ids: list[str] | None = None) -> int: ...

    @property
    def claim_ttl_seconds(self) -> int: ...

    def renew_claims(
        self, worker_id: str, batch_ids: list[str], entry_ids: list[str]
    ) -> tuple[int, int]: ...


@dataclass(slots=True)
class RoundResult:
    owners: int = 0  # owners segmented and planned
    batches_done: int = 0
    batches_failed: int = 0
    entries_created: int = 0
    examined: int = 0  # queued entries consolidated
    decisions: int = 0  # decisions the store applied
    expired: int = 0
    failures: int = 0  # owners whose segmentation failed (kept in the failure log)

    @property
    def busy(self) -> bool:
        return bool(self.batches_done or self.batches_failed or self.examined or self.decisions)

    def add(self, other: RoundResult) -> None:
        for key, value in asdict(other).items():
            setattr(self, key, getattr(self, key) + value)


class Journal:
    """One JSON line per batch completed and per decision applied, appended with a single
    ``write`` each (whole lines even when the process is killed): an audit trail, and what
    the load test checks that no decision is applied twice against."""

    def __init__(self, path: Path, worker_id: str) -> None:
        self.worker_id = worker_id
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise InputError(
                f"cannot open the journal {str(path)!r}: {exc.strerror}; give a file path in "
                f"a directory that exists and is writable"
            ) from None

    def write(self, event: str, **fields: Any) -> None:
        record = {"event": event, "worker": self.worker_id, **fields}
        os.write(self._fd, (json.dumps(record, ensure_ascii=False) + "\n").encode())

    def close(self) -> None:
        os.close(self._fd)


class WorkerProcess:
    def __init__(
        self,
        pipeline: Pipeline,
        worker_id: str,
        *,
        batch_limit: int = 16,
        entry_limit: int = 64,
        consolidate: bool = True,
        journal: Journal | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.worker_id = worker_id
        self.batch_limit = batch_limit
        self.entry_limit = entry_limit
        self.consolidate = consolidate
        self.journal = journal
        store = pipeline.store
        self.claims: ClaimingStore | None = store if isinstance(store, ClaimingStore) else None
        self._seen: dict[Scope, int] = {}  # owner -> highest unbatched seq already planned
        #: an idle buffer's open segment is closed after ``worker.idle_flush_seconds``
        self.idle = IdleBuffers(store, pipeline.parts.config.worker.idle_flush_seconds)
        self._flush_all = False
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(
            pipeline.parts.config.worker.max_llm_calls, thread_name_prefix=f"lightmem-{worker_id}"
        )
        #: the claimed batches and queued entries of the round in progress, until each is
        #: done: the heartbeat renews their leases
        self._working_batches: set[str] = set()
        self._working_entries: set[str] = set()
        self._stop_beat = threading.Event()
        self._beat: threading.Thread | None = None
        if self.claims is not None:
            self._beat = threading.Thread(
                target=self._heartbeat, name=f"lightmem-{worker_id}-leases", daemon=True
            )
            self._beat.start()

    # -- one round ----------------------------------------------------------------------------
    def run_round(self, *, flush: bool = False) -> RoundResult:
        """One round; ``flush`` closes every open segment (as ``Memory.flush`` does)."""
        self._flush_all = flush
        result = RoundResult()
        self._plan(result)
        self._extract(result)
        if self.consolidate:
            self._consolidate(result)
        return result

    def _plan(self, result: RoundResult) -> None:
        owners = self.pipeline.store.buffered_owners()
        present = {o for o, _ in owners}
        for owner in [o for o in self._seen if o not in present]:
            del self._seen[owner]  # batched since: forget it, the table stays small
        for owner, top in owners:
            force = self._flush_all or self._idle_for(owner)
            if self._seen.get(owner) == top and not force:
                continue  # nothing new in its buffers since the last look
            try:
                self.pipeline.plan(owner, force=force)
            except LightMemError as exc:
                # kept where users see it (usage(), stats); retried next round
                self.pipeline.record_failure(owner, exc)
                result.failures += 1
                continue
            self._seen[owner] = top
            result.owners += 1

    def _idle_for(self, owner: Scope) -> bool:
        """Whether the owner's buffer has had no new turn for ``worker.idle_flush_seconds``."""
        return self.idle.due_in(owner) == 0

    def _extract(self, result: RoundResult) -> None:
        max_attempts = self.pipeline.parts.config.extraction.max_attempts_per_batch
        if self.claims is not None:
            batches = self.claims.claim_batches(self.worker_id, self.batch_limit, max_attempts)
        else:
            batches = [
                b
                for b in self.pipeline.store.list_batches(None, ("pending", "failed"))
                if b.status == "pending" or b.attempts < max_attempts
            ][: self.batch_limit]

        def one(batch: Batch) -> None:
            stage = StageResult()
            try:
                done = self.pipeline.run_batch(batch, stage)
            finally:  # done, or failed: a failed batch's lease runs out (its back-off)
                with self._lock:
                    self._working_batches.discard(batch.id)
            with self._lock:
                result.batches_done += stage.batches_done
                result.batches_failed += len(stage.failed_batches)
                result.entries_created += stage.entries_created
            if done and self.journal is not None:
                self.journal.write("batch", batch=batch.id, entries=stage.entries_created)

        # every claimed batch keeps its lease until it is run, also those waiting for a free
        # slot behind slow calls (another worker taking one over would pay its call twice)
        with self._working(self._working_batches, [b.id for b in batches]):
            for _ in self._pool.map(one, batches):
                pass  # map re-raises the first error (a storage error ends the worker)

    def _consolidate(self, result: RoundResult) -> None:
        if self.claims is not None:
            ids = self.claims.claim_consolidation(self.worker_id, self.entry_limit)
        else:
            ids = self.pipeline.store.consolidation_queue(None, self.entry_limit)
        if not ids:
            return
        with self._working(self._working_entries, ids):
            done = self.pipeline.sleep_time(None, entry_ids=ids, on_decision=self._decided(result))
        result.examined += done.examined
        result.expired += done.expired

    def _decided(self, result: RoundResult) -> Callable[[str, list[str], str], None]:
        def record(target: str, sources: list[str], action: str) -> None:
            with self._lock:
                result.decisions += 1
            if self.journal is not None:
                self.journal.write("decision", target=target, sources=sources, action=action)

        return record

    # -- leases -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _working(self, held: set[str], ids: list[str]) -> Iterator[None]:
        with self._lock:
            held.update(ids)
        try:
            yield
        finally:
            with self._lock:
                held.difference_update(ids)

    def _heartbeat(self) -> None:
        """Renew the leases of the work in progress every third of ``claim_ttl_seconds``."""
        claims = self.claims
        assert claims is not None
        interval = max(0.2, claims.claim_ttl_seconds / 3)
        while not self._stop_beat.wait(interval):
            with self._lock:
                batches, entries = list(self._working_batches), list(self._working_entries)
            if not batches and not entries:
                continue
            try:
                claims.renew_claims(self.worker_id, batches, entries)
            except LightMemError as exc:  # the lease may run out; the store stays right
                log.warning("worker %s: renewing its leases failed: %s", self.worker_id, exc)

    # -- the loop -------------------------------------------------------------------------------
    def run(self, stop: threading.Event, *, poll_s: float = 1.0, once: bool = False) -> RoundResult:
        """Run rounds until ``stop`` is set (or one round with ``once``, which also closes
        every open segment); a busy round is followed at once by the next, an idle one after
        ``poll_s``. Returns the totals."""
        total = RoundResult()
        while not stop.is_set():
            done = self.run_round(flush=once)
            total.add(done)
            if once:
                break
            if not done.busy:
                stop.wait(poll_s)
        return total

    def close(self) -> None:
        """Give back the claims not finished, so other workers take them at once."""
        self._pool.shutdown(wait=True)
        self._stop_beat.set()
        if self._beat is not None:
            self._beat.join()
        if self.claims is not None:
            self.claims.release_batches(self.worker_id)
            self.claims.release_claims(self.worker_id)
        if self.journal is not None:
            self.journal.close()


def default_worker_id() -> str:
    """``host:pid``: unique among the workers sharing a database."""
    return f"{os.uname().nodename}:{os.getpid()}"
