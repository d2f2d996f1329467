"""Many users at once: owners are extracted concurrently, at most worker.max_llm_calls
calls in flight, and one owner's slow call never blocks another owner."""

from __future__ import annotations

import threading
from typing import Any

from lightmem.engine.locks import OwnerLocks
from lightmem.llm.base import ChatMessage
from lightmem.llm.scripted import ScriptedLLM
from lightmem.messages import make_scope
from tests.support.memories import MakeMemory


class InFlight:
    """A responder that holds each call until ``release`` and counts calls in flight."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.now = self.peak = 0
        self.released = threading.Event()

    def __call__(self, messages: list[ChatMessage], schema: Any) -> dict[str, Any]:
        with self.cond:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.cond.notify_all()
        self.released.wait(30)
        with self.cond:
            self.now -= 1
        return {"memories": [{"text": "Maya has a cat called Pixel.", "sources": [1]}]}

    def wait_for(self, n: int) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.now >= n, 10)


def buffered(make_memory: MakeMemory, owners: int, max_llm_calls: int) -> Any:
    mem = make_memory(
        llm="scripted",
        buffer={"sensory_tokens": 10_000, "shortterm_tokens": 10_000},
        worker={"max_llm_calls": max_llm_calls},
    )
    for i in range(owners):
        mem.add("My cat is called Pixel.", user_id=f"u{i}")
    return mem


def test_owners_are_extracted_concurrently_within_the_bound(make_memory: MakeMemory) -> None:
    mem = buffered(make_memory, owners=6, max_llm_calls=4)
    gate = InFlight()
    llm = mem.llm
    assert isinstance(llm, ScriptedLLM)
    llm.respond_with(gate)
    done: dict[str, Any] = {}
    flusher = threading.Thread(target=lambda: done.update(r=mem.flush()))
    flusher.start()
    assert gate.wait_for(4), "owners were extracted one at a time"
    gate.released.set()
    flusher.join(30)
    assert done["r"].entries_created == 6 and not done["r"].failed_batches
    assert gate.peak == 4  # never more than worker.max_llm_calls in flight
    assert all(len(mem.get_all(user_id=f"u{i}")) == 1 for i in range(6))


def test_a_slow_owner_does_not_block_another(make_memory: MakeMemory) -> None:
    mem = buffered(make_memory, owners=1, max_llm_calls=2)
    gate = InFlight()
    llm = mem.llm
    assert isinstance(llm, ScriptedLLM)
    llm.respond_with(gate)
    slow = threading.Thread(target=lambda: mem.flush(user_id="u0"))
    slow.start()
    assert gate.wait_for(1)  # u0's call is in flight and stays there
    llm.enqueue({"memories": [{"text": "Jonas has a dog called Bruno.", "sources": [1]}]})
    mem.add("My dog is called Bruno.", user_id="u1")
    mem.flush(user_id="u1")  # would hang behind u0 with one lock around everything
    assert [e.text for e in mem.get_all(user_id="u1")] == ["Jonas has a dog called Bruno."]
    gate.released.set()
    slow.join(30)
    assert len(mem.get_all(user_id="u0")) == 1


def test_background_threads_extract_owners_concurrently(make_memory: MakeMemory) -> None:
    mem = make_memory(
        llm="scripted",
        buffer={"sensory_tokens": 1, "max_segment_tokens": 1, "shortterm_tokens": 0},
        worker={"background": True, "max_llm_calls": 3},
    )
    gate = InFlight()
    llm = mem.llm
    assert isinstance(llm, ScriptedLLM)
    llm.respond_with(gate)
    for i in range(3):
        mem.add("My cat is called Pixel.", user_id=f"u{i}")
    assert gate.wait_for(3), "the background worker ran one owner at a time"
    gate.released.set()
    assert mem.wait(30)
    assert all(len(mem.get_all(user_id=f"u{i}")) == 1 for i in range(3))


def test_owner_locks_exclude_the_same_owner_only() -> None:
    locks = OwnerLocks()
    a, b = make_scope("a", None, None).owner, make_scope("b", None, None).owner

    def enter(owner: Any, entered: threading.Event) -> None:
        with locks.hold(owner):
            entered.set()

    with locks.hold(a):
        other, same = threading.Event(), threading.Event()
        threading.Thread(target=enter, args=(b, other)).start()
        assert other.wait(5)  # b is not held up by a
        waiter = threading.Thread(target=enter, args=(a, same))
        waiter.start()
        assert not same.wait(0.2)  # a waits for a
    assert same.wait(5)
    waiter.join(5)
    assert len(locks) == 0  # nothing kept for owners nobody holds
