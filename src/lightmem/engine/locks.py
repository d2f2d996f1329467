"""A lock per owner, so one user's pipeline run (LLM call included) never waits on
another's; the same owner's runs stay one at a time, and are handed out first come first
served (:class:`FairLock`), so a forget or a flush that waits behind the background
threads gets its turn while adds keep coming."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from lightmem.types import Scope


class FairLock:
    """A re-entrant lock handed to its waiters in the order they asked for it.

    ``threading.RLock`` is not: a thread that releases it and at once takes it again
    (the background worker of an owner who keeps adding) usually wins over a thread that
    has waited all along, which then waits as long as the adds go on."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._holder: int | None = None
        self._depth = 0
        self._queue: deque[int] = deque()  # tickets of the waiting threads, oldest first
        self._tickets = 0

    def acquire(self) -> None:
        me = threading.get_ident()
        with self._cond:
            if self._holder == me:
                self._depth += 1
                return
            if self._holder is None and not self._queue:
                self._holder, self._depth = me, 1
                return
            self._tickets += 1
            ticket = self._tickets
            self._queue.append(ticket)
            try:
                self._cond.wait_for(lambda: self._holder is None and self._queue[0] == ticket)
            except BaseException:  # interrupted: leave the queue, let the next one in
                self._queue.remove(ticket)
                self._cond.notify_all()
                raise
            self._queue.popleft()
            self._holder, self._depth = me, 1

    def release(self) -> None:
        with self._cond:
            if self._holder != threading.get_ident():
                raise RuntimeError("release of a FairLock this thread does not hold")
            self._depth -= 1
            if not self._depth:
                self._holder = None
                self._cond.notify_all()

    @property
    def waiting(self) -> int:
        """How many threads wait for the lock now."""
        with self._cond:
            return len(self._queue)

    def __enter__(self) -> FairLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class OwnerLocks:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[Scope, FairLock] = {}
        self._users: dict[Scope, int] = {}

    @contextmanager
    def hold(self, owner: Scope) -> Iterator[None]:
        """Hold ``owner``'s lock (re-entrant, first come first served); the entry is dropped
        when nobody holds or waits for it, so the table stays as small as the owners
        running now."""
        with self._guard:
            lock = self._locks.setdefault(owner, FairLock())
            self._users[owner] = self._users.get(owner, 0) + 1
        try:
            with lock:
                yield
        finally:
            with self._guard:
                self._users[owner] -= 1
                if not self._users[owner]:
                    del self._users[owner], self._locks[owner]

    def waiting(self, owner: Scope) -> int:
        """How many threads wait for ``owner``'s lock now."""
        with self._guard:
            lock = self._locks.get(owner)
        return 0 if lock is None else lock.waiting

    def __len__(self) -> int:
        with self._guard:
            return len(self._locks)
