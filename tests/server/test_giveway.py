"""Long work gives way to other requests in a server (issue 19: another tenant's p95 was
2.4-2.7x its idle figure while a large tenant's first search or forget ran).

The clock is a fake one: a checkpoint's decisions (work since the last nap, the longest nap)
are asserted exactly, not timed on a shared machine."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lightmem import Memory, giveway
from lightmem.engine.background import BackgroundWorker
from lightmem.server.base import harden
from lightmem.types import Scope
from tests.server.conftest import CONFIG, seed


@dataclass
class Clock:
    """Advances ``step`` seconds each time it is read; a nap advances it by its length and
    may run ``on_nap`` (another request ending meanwhile)."""

    step: float = 0.0001
    now: float = 0.0
    naps: list[float] = field(default_factory=list)
    on_nap: Callable[[], None] | None = None

    def perf_counter(self) -> float:
        self.now += self.step
        return self.now

    def sleep(self, seconds: float) -> None:
        self.naps.append(seconds)
        self.now += seconds
        if self.on_nap is not None:
            self.on_nap()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(
        giveway, "time", SimpleNamespace(perf_counter=c.perf_counter, sleep=c.sleep)
    )
    return c


@pytest.fixture
def other_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another request in flight (what the server's middleware counts) for the whole test."""
    monkeypatch.setattr(giveway, "_requests", 1)


def as_request(job: Callable[[], Any]) -> Any:
    """``job`` run as a request's work is: on a thread of the server's pool, counted."""
    out: list[Any] = []

    def run() -> None:
        with giveway.request():
            out.append(job())

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out[0]


def spin(checkpoints: int) -> None:
    with giveway.long_work():
        for _ in range(checkpoints):
            giveway.checkpoint()


def test_without_other_requests_a_checkpoint_never_naps(clock: Clock) -> None:
    spin(2000)  # a library user's process: nothing is counted
    as_request(lambda: spin(2000))  # a server with this one request only
    assert clock.naps == []


@pytest.mark.usefixtures("other_request")
def test_long_work_naps_while_another_request_runs_and_still_gets_a_third(clock: Clock) -> None:
    spin(2000)  # background work (a worker thread): it gives way too
    napped = sum(clock.naps)
    worked = clock.now - napped
    assert napped > 0
    # each nap comes after WORK_S of work and lasts MAX_NAP_S at most (the other request
    # never ends here): the long work keeps a third of the time or more
    assert max(clock.naps) == giveway.NAP_S
    assert napped <= worked * giveway.MAX_NAP_S / giveway.WORK_S + giveway.MAX_NAP_S
    assert worked >= (clock.now - giveway.MAX_NAP_S) / 3


def test_a_nap_ends_when_the_other_request_does(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(giveway, "_requests", 1)
    clock.on_nap = lambda: setattr(giveway, "_requests", 0)
    spin(2000)
    assert clock.naps == [giveway.NAP_S]  # one nap, then no one to wait for


def test_two_long_requests_do_not_wait_for_each_other(clock: Clock) -> None:
    with giveway.request(), giveway.long_work():
        as_request(lambda: spin(2000))
    assert clock.naps == []
    with giveway.request():  # a short one in flight: the long one gives way
        as_request(lambda: spin(2000))
    assert clock.naps
    assert (giveway._requests, giveway._long) == (0, 0)  # every count was given back


def test_background_work_waits_to_start_while_a_request_is_in_flight(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    giveway.wait_quiet()  # no request: at once
    assert clock.naps == []
    monkeypatch.setattr(giveway, "_requests", 1)
    monkeypatch.setattr(giveway, "_last_start", clock.now - 10)
    giveway.wait_quiet()  # one in flight for long (an event stream): no wait
    assert clock.naps == []
    monkeypatch.setattr(giveway, "_last_start", clock.now)
    start = clock.now
    giveway.wait_quiet()  # one that just started and does not end: QUIET_WAIT_S at most
    waited = clock.now - start
    assert giveway.QUIET_WAIT_S <= waited <= giveway.QUIET_WAIT_S + 2 * giveway.NAP_S
    clock.naps.clear()
    monkeypatch.setattr(giveway, "_last_start", clock.now)
    clock.on_nap = lambda: setattr(giveway, "_requests", 0) if len(clock.naps) == 3 else None
    giveway.wait_quiet()  # one that ends: as soon as it does
    assert clock.naps == [giveway.NAP_S] * 3


def test_the_pipeline_a_request_wakes_runs_once_that_request_is_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A proxied chat's turn woke the pipeline while the request still had its reply to
    record and its response to send: the step's embedding took the cores from them."""
    monkeypatch.setattr(giveway, "QUIET_WAIT_S", 30.0)  # here only the request's end counts
    seen: list[int] = []
    worker = BackgroundWorker(lambda owner: seen.append(giveway._requests))
    try:
        done = threading.Event()

        def request() -> None:
            with giveway.request():
                worker.notify(Scope("alice"))
                done.wait(0.05)  # the rest of the request

        as_request(request)
        assert worker.wait_idle(10)
    finally:
        worker.stop()
    assert seen == [0]


def test_the_server_counts_each_request_while_it_runs() -> None:
    app = FastAPI()

    @app.get("/probe")
    def probe() -> dict[str, Any]:  # a sync route runs on the server's thread pool
        return {"requests": giveway._requests, "in_request": giveway._in_request.get()}

    harden(app, keyless=False, max_body_bytes=1024, body_timeout_s=5.0)
    with TestClient(app) as c:
        assert c.get("/probe").json() == {"requests": 1, "in_request": True}
        assert c.get("/nowhere").status_code == 404
    assert giveway._requests == 0


@pytest.mark.usefixtures("other_request")
def test_a_first_search_and_a_forget_give_way_and_find_the_same(
    memory: Memory, clock: Clock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    texts = [f"note {i} about the red kite and day {i % 7}" for i in range(60)]
    seed(memory, "alice", texts)
    clock.naps.clear()
    hits = memory.search("red kite day 3", user_id="alice", limit=5)
    assert clock.naps  # the owner's index was built in a long section
    searched = len(clock.naps)
    preview = memory.forget("day 3", user_id="alice", dry_run=True)
    naps = len(clock.naps)
    assert naps > searched  # the forget read and matched its candidates in one too
    monkeypatch.setattr(giveway, "_requests", 0)  # the same, alone
    memory.close()
    with Memory(tmp_path / "store", config=CONFIG) as again:
        assert [h.id for h in again.search("red kite day 3", user_id="alice", limit=5)] == [
            h.id for h in hits
        ]
        alone = again.forget("day 3", user_id="alice", dry_run=True)
    assert len(clock.naps) == naps  # nothing napped without another request
    assert [e.id for e in alone.memories] == [e.id for e in preview.memories]
    assert len(preview.memories) == len([t for t in texts if t.endswith("day 3")])
