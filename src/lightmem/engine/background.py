"""Background threads that run the pipeline for owners whose buffers changed, so that
``add()`` returns as soon as turns are durable. Several owners run at once (``threads``);
one owner is never run by two threads at a time. An owner whose work waits for something
(an LLM endpoint's cool-down) is handed back later with :meth:`BackgroundWorker.notify_after`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from lightmem.types import Scope

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
            try:
                self._process(owner)
            except Exception as exc:  # noqa: BLE001 - recorded; the turns stay buffered
                self._report(owner, exc)
            finally:
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
