"""Forget, flush and consolidate of a user who keeps adding (issue 19, finding 5): each
waits for that user's background step in flight (the owner's lock is first come first
served, a step extracts a bounded number of batches), never for the background threads to
run dry, which under steady adds they never do."""

from __future__ import annotations

import threading
import time

from tests.support.memories import MakeMemory

CONFIG = {
    "llm": {"provider": "tests.fakes.echo_llm.EchoLLM", "options": {"delay": 0.25}},
    "segmenter": "similarity",
    "buffer": {"sensory_tokens": 60, "shortterm_tokens": 0},
    "worker": {"background": True},
}
RATE = 80  # adds a second, over two threads, all to one user


def test_forget_flush_and_consolidate_finish_while_adds_keep_coming(
    make_memory: MakeMemory,
) -> None:
    mem = make_memory(**CONFIG)
    stop = threading.Event()
    added: list[float] = []  # when each add returned

    def adder(n: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            text = f"note {n}-{i}: the kettle whistles at seven, zebra {i % 5}"
            mem.add({"role": "user", "content": text}, user_id="maya")
            added.append(time.monotonic())
            time.sleep(2 / RATE)

    took: dict[str, float] = {}
    ended: dict[str, float] = {}
    forgot: list[int] = []

    def calls() -> None:
        for name, call in (
            ("forget", lambda: forgot.append(len(mem.forget("zebra 3", user_id="maya").turns))),
            ("flush", lambda: mem.flush(user_id="maya")),
            ("consolidate", lambda: mem.consolidate(user_id="maya")),
            ("purge", lambda: mem.forget("zebra 4", user_id="maya", purge=True)),
        ):
            t0 = time.monotonic()
            call()
            ended[name] = time.monotonic()
            took[name] = ended[name] - t0

    adders = [threading.Thread(target=adder, args=(n,), daemon=True) for n in range(2)]
    caller = threading.Thread(target=calls, daemon=True)  # before the fix it never returns
    for t in adders:
        t.start()
    try:
        time.sleep(2.0)  # a backlog builds up
        caller.start()
        caller.join(timeout=45)  # the adds go on all the while
        finished = not caller.is_alive()
        time.sleep(0.5)
        last_add = added[-1]
    finally:
        stop.set()
        for t in adders:
            t.join()
    assert finished, f"still waiting after 45 s of steady adds; done: {took}"
    # every call ended while the adds still came (not when they stopped), each within 10 s
    assert all(at < last_add for at in ended.values()), (ended, last_add)
    assert all(s < 10 for s in took.values()), took
    assert mem.wait(timeout=120)  # and the backlog drains once the adds stop
    assert forgot[0] > 0  # the forget found the turns added before it
