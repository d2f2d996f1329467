"""Background threads that run the pipeline for owners whose buffers changed, so that
``add()`` returns as soon as turns are durable. Several owners run at once (``threads``);
one owner is never run by two threads at a time. An owner whose work waits for something
(an LLM endpoint's cool-down) is handed back later with :meth:`BackgroundWorker.notify_after`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from lightmem import giveway
from lightmem.types import Scope, TurnStage

if TYPE_CHECKING:
    from lightmem.engine.pipeline import Pipeline
    from lightmem.stores.base import Store

log = logging.getLogger(__name__)

#: ``on_error(owner, exc)``: records a failure where users see it (``Memory`` keeps it in
#: the store's failure log, shown by ``usage()`` and ``lightmem stats``).
OnError = Callable[[Scope, Exception], None]


class BackgroundWorker:
    def __init__(
        self,
        process: Callable[[Scope], None],
        on_error: OnError | None = None,
        *,
        threads: int = 1,
    ) -> None:
        self._process = process
        self._on_error = on_error
        self._dirty: dict[Scope, None] = {}
        self._later: dict[Scope, float] = {}  # owner -> when (monotonic) to notify it
        self._running: set[Scope] = set()
        self._cond = threading.Condition()
        self._stop = False
        #: how long a step takes (a moving average, seconds)
        self._step_s = giveway.QUIET_WAIT_S / 2
        self._threads = [
            threading.Thread(target=self._loop, name=f"lightmem-worker-{i}", daemon=True)
            for i in range(max(1, threads))
        ]
        for thread in self._threads:
            thread.start()

    def notify(self, owner: Scope) -> None:
        with self._cond:
            self._dirty[owner] = None
            self._cond.notify_all()

    def notify_after(self, owner: Scope, seconds: float) -> None:
        """Notify ``owner`` in ``seconds`` (an earlier notification stands)."""
        with self._cond:
            at = time.monotonic() + seconds
            self._later[owner] = min(at, self._later.get(owner, at))
            self._cond.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no owner is pending and nothing runs; False on timeout. Owners
        handed back for later (:meth:`notify_after`) do not count: they wait for something
        else than these threads."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._dirty and not self._running, timeout)

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while True:
                    due = self._due()
                    if self._stop or self._next() is not None:
                        break
                    self._cond.wait(due)
                owner = self._next()
                if owner is None:  # stopping, and what is left runs in other threads
                    return
                del self._dirty[owner]
                self._running.add(owner)
            # the request that woke it finishes first; under a steady stream of requests a
            # step waits twice its own time at most (it keeps a third of the time)
            giveway.wait_quiet(min(giveway.QUIET_WAIT_S, 2 * self._step_s))
            start = time.perf_counter()
            try:
                self._process(owner)
            except Exception as exc:  # noqa: BLE001 - recorded; the turns stay buffered
                self._report(owner, exc)
            finally:
                self._step_s = 0.8 * self._step_s + 0.2 * (time.perf_counter() - start)
                with self._cond:
                    self._running.discard(owner)
                    self._cond.notify_all()

    def _report(self, owner: Scope, exc: Exception) -> None:
        if self._on_error is None:
            log.warning("background processing failed: %s", type(exc).__name__)
            return
        try:
            self._on_error(owner, exc)
        except Exception as err:  # noqa: BLE001 - the thread must live; the log is the record
            log.warning(
                "background processing failed: %s (and recording it failed: %s)",
                type(exc).__name__,
                type(err).__name__,
            )

    def _next(self) -> Scope | None:
        """The first dirty owner no thread is running (called under the condition)."""
        return next((o for o in self._dirty if o not in self._running), None)

    def _due(self) -> float | None:
        """Move the owners whose time came to the dirty ones; the seconds until the next
        one's (None: no owner waits). Called under the condition."""
        now = time.monotonic()
        for owner in [o for o, at in self._later.items() if at <= now]:
            del self._later[owner]
            self._dirty[owner] = None
        return min(self._later.values()) - now if self._later else None


class IdleBuffers:
    """When each owner's sensory buffer last took a turn: a buffer with no new turn for
    ``seconds`` is due to be flushed (its open segment closed, its short-term segments
    extracted), as :meth:`lightmem.Memory.flush` would. Shared by the background threads and
    ``lightmem worker``; ``seconds`` 0 turns the idle flush off."""

    def __init__(self, store: Store, seconds: float) -> None:
        self.store = store
        self.seconds = seconds
        self._seen: dict[Scope, tuple[str, float]] = {}  # owner -> (newest turn, first seen)
        self._lock = threading.Lock()

    def due_in(self, owner: Scope) -> float | None:
        """Seconds until the owner's buffer is due (0: now); None when it holds no turn or
        the idle flush is off."""
        if self.seconds <= 0:
            return None
        buffered = self.store.list_turns(owner, stage=TurnStage.SENSORY)
        now = time.monotonic()
        with self._lock:
            if not buffered:
                self._seen.pop(owner, None)
                return None
            newest = buffered[-1].id
            seen = self._seen.get(owner)
            if seen is None or seen[0] != newest:
                self._seen[owner] = seen = (newest, now)
            return max(0.0, self.seconds - (now - seen[1]))


class PipelineThreads:
    """The background threads of a :class:`~lightmem.engine.pipeline.Pipeline`: each owner
    an ``add`` touched is stepped; more batches bring it back at once, an LLM outage after
    the cool-down, and a buffer left idle for ``worker.idle_flush_seconds`` is flushed (a
    chat's last messages do not wait for its next one). At start, every owner with buffered
    turns or pending batches (a crash or a stop left them) is handed to the threads."""

    def __init__(self, engine: Pipeline) -> None:
        self.engine = engine
        worker = engine.parts.config.worker
        self.idle = IdleBuffers(engine.store, worker.idle_flush_seconds)
        self.threads = BackgroundWorker(
            self._process, engine.record_failure, threads=worker.max_llm_calls
        )
        store = engine.store
        owners = [o for o, _ in store.buffered_owners()]
        owners += [b.scope.owner for b in store.list_batches(None, ("pending",))]
        for owner in dict.fromkeys(owners):
            self.threads.notify(owner)

    def notify(self, owner: Scope) -> None:
        self.threads.notify(owner)

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self.threads.wait_idle(timeout)

    def stop(self) -> None:
        self.threads.stop()

    def _process(self, owner: Scope) -> None:
        done = self.engine.step(owner)
        if done.more:  # more batches: after whoever waits for the owner
            self.threads.notify(owner)
            return
        if done.waiting:  # the LLM endpoint is down: try again after its cool-down
            self.threads.notify_after(owner, self.engine.llm_cooldown)
            return
        due = self.idle.due_in(owner)
        if due is None:
            return
        if due > 0:
            self.threads.notify_after(owner, due)
            return
        flushed = self.engine.process(owner, segment=True, extract=True)
        if flushed.waiting_batches:
            self.threads.notify_after(owner, self.engine.llm_cooldown)
