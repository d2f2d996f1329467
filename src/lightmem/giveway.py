"""Long work that gives way to short requests in a server.

A server's requests share one interpreter lock. While a thread runs a long stretch of Python
(a large tenant's first search builds its index; a forget decodes and matches thousands of
rows), another tenant's short request gets the lock every other switch interval only and
runs at half speed: its p95 went to 2.4-2.7x its idle figure however short the interval.

Long work calls :func:`checkpoint` between small steps, inside a :func:`long_work` section.
Where a server counts its requests (:func:`request`, entered by its middleware) and another
request is in flight, a checkpoint naps until it is done, for at most :data:`MAX_NAP_S`, and
only after :data:`WORK_S` of work since the last nap: under a steady stream of requests the
long work still runs at a third of its speed or more, never starves. Outside a section, or
in a process that serves no requests (a library user's, the CLI's), a checkpoint is one
comparison of two integers.

Checkpoints sit where no store lock is held (decoding the rows a read returned, building an
index, matching a forget's candidates): a napping thread never holds up a writer.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: One nap, seconds.
NAP_S = 0.0005
#: The longest a checkpoint waits for other requests, seconds.
MAX_NAP_S = 0.004
#: Work between two naps, at least, seconds.
WORK_S = 0.002
#: The longest a step of background work waits to start while requests are in flight.
QUIET_WAIT_S = 0.1

_lock = threading.Lock()
_requests = 0  # requests in flight in this process
_last_start = float("-inf")  # when the newest of them started (perf_counter)
_long = 0  # of them, those inside a long section (they never wait for each other)
_in_request: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "lightmem_in_request", default=False
)
_local = threading.local()


def _others() -> bool:
    """Whether a request is in flight that is not itself long work."""
    return _requests > _long


@contextmanager
def request() -> Iterator[None]:
    """One request in flight, for as long as the block runs (a server's middleware)."""
    global _requests, _last_start
    token = _in_request.set(True)
    with _lock:
        _requests += 1
        _last_start = time.perf_counter()
    try:
        yield
    finally:
        with _lock:
            _requests -= 1
        _in_request.reset(token)


@contextmanager
def long_work() -> Iterator[None]:
    """A section whose :func:`checkpoint` calls give way (nested sections count once)."""
    global _long
    depth = getattr(_local, "depth", 0)
    counted = depth == 0 and _in_request.get()
    if depth == 0:
        _local.since = time.perf_counter()
    _local.depth = depth + 1
    if counted:
        with _lock:
            _long += 1
    try:
        yield
    finally:
        _local.depth = depth
        if counted:
            with _lock:
                _long -= 1


def checkpoint() -> None:
    """Give way to the other requests in flight, if this thread is in a long section and
    has worked :data:`WORK_S` since it last did."""
    if _requests > _long and getattr(_local, "depth", 0) > 0:
        _give_way()


def _give_way() -> None:
    now = time.perf_counter()
    if now - _local.since < WORK_S:
        return
    end = now + MAX_NAP_S
    while _others() and time.perf_counter() < end:
        time.sleep(NAP_S)
    _local.since = time.perf_counter()


def wait_quiet(max_s: float | None = None) -> None:
    """Before a step of background work (a thread that serves no request): wait while a
    request that started less than :data:`QUIET_WAIT_S` ago is in flight, for at most
    ``max_s`` (default :data:`QUIET_WAIT_S`). A request that writes (a proxied chat's turn,
    a REST add) wakes the pipeline while it still has its reply to record and its response
    to send: on a small machine the step's embedding took the cores from them (the proxy's
    reply 1.2 -> 2.7 ms p50). A long-lived request (an MCP session's event stream, a large
    export) holds nothing back, and under a steady stream of requests a step waits
    ``max_s`` at most, so the work is late, never starved."""
    if not _others():
        return
    end = time.perf_counter() + (QUIET_WAIT_S if max_s is None else max_s)
    while _others() and time.perf_counter() < min(end, _last_start + QUIET_WAIT_S):
        time.sleep(NAP_S)


def each(items: Iterable[T], fn: Callable[[T], R]) -> list[R]:
    """``[fn(x) for x in items]`` with a checkpoint before each."""
    out = []
    for x in items:
        checkpoint()
        out.append(fn(x))
    return out
