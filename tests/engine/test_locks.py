"""The owner lock is handed out first come first served (issue 19, finding 5): a thread
that releases it and at once takes it again does not keep out a thread that waited."""

from __future__ import annotations

import threading
import time

import pytest

from lightmem.engine.locks import FairLock, OwnerLocks
from lightmem.types import Scope

MAYA = Scope("maya")


def _until(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the other thread never queued"
        time.sleep(0.001)


def test_the_waiter_gets_the_owner_lock_before_the_holder_takes_it_again() -> None:
    locks = OwnerLocks()
    order: list[str] = []

    def waiter() -> None:
        with locks.hold(MAYA):
            order.append("waiter")

    thread = threading.Thread(target=waiter)
    with locks.hold(MAYA):
        thread.start()
        _until(lambda: locks.waiting(MAYA) == 1)
    with locks.hold(MAYA):  # released and taken again at once, as the worker does
        order.append("holder")
    thread.join()
    assert order == ["waiter", "holder"]
    assert len(locks) == 0  # nobody holds or waits: the entry is gone


def test_waiters_are_served_in_the_order_they_came() -> None:
    lock = FairLock()
    order: list[int] = []

    def waiter(n: int) -> None:
        with lock:
            order.append(n)

    threads = [threading.Thread(target=waiter, args=(n,)) for n in range(5)]
    with lock:
        for n, t in enumerate(threads):
            t.start()
            _until(lambda n=n: lock.waiting == n + 1)
    for t in threads:
        t.join()
    assert order == [0, 1, 2, 3, 4]


def test_the_lock_is_reentrant_and_only_its_holder_releases_it() -> None:
    lock = FairLock()
    with lock, lock:
        pass
    with lock:
        errors: list[Exception] = []

        def other() -> None:
            try:
                lock.release()
            except RuntimeError as exc:
                errors.append(exc)

        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert len(errors) == 1
    with pytest.raises(RuntimeError, match="does not hold"):
        lock.release()
