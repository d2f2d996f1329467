"""A lock per owner, so one user's pipeline run (LLM call included) never waits on
another's; the same owner's runs stay one at a time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from lightmem.types import Scope


class OwnerLocks:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[Scope, threading.RLock] = {}
        self._users: dict[Scope, int] = {}

    @contextmanager
    def hold(self, owner: Scope) -> Iterator[None]:
        """Hold ``owner``'s lock (re-entrant); the entry is dropped when nobody holds or
        waits for it, so the table stays as small as the owners running now."""
        with self._guard:
            lock = self._locks.setdefault(owner, threading.RLock())
            self._users[owner] = self._users.get(owner, 0) + 1
        try:
            with lock:
                yield
        finally:
            with self._guard:
                self._users[owner] -= 1
                if not self._users[owner]:
                    del self._users[owner], self._locks[owner]

    def __len__(self) -> int:
        with self._guard:
            return len(self._locks)
