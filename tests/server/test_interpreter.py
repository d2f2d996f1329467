"""A server's interpreter: the old generation collected on a clock, not in allocation bursts,
and a short switch interval."""

from __future__ import annotations

import gc
import sys
import threading
import time
import weakref
from typing import Any

import pytest

from lightmem.server.interpreter import NEVER, SWITCH_S, ServerInterpreter


class Node:
    """An object in a reference cycle."""

    def __init__(self) -> None:
        self.me = self


def test_the_old_generation_is_collected_on_a_clock_and_not_by_allocations() -> None:
    before, switch = gc.get_threshold(), sys.getswitchinterval()
    seen: list[tuple[str, int]] = []

    def watch(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            by_clock = threading.current_thread().name == "lightmem-gc"
            seen.append(("clock" if by_clock else "burst", info["generation"]))

    # watched before the clock starts, so that no tick goes unseen (late in a full test run
    # the first tick seen was once a full one)
    gc.collect()  # the burst below then grows the old generation well past a quarter
    gc.callbacks.append(watch)
    policy = ServerInterpreter(interval_s=0.3, full_every=3)
    try:
        assert gc.get_threshold() == (before[0], before[1], NEVER)
        assert sys.getswitchinterval() == pytest.approx(SWITCH_S)
        kept = [{"n": i, "items": [i]} for i in range(400_000)]  # a tenant's rows decoded
        assert ("burst", 2) not in seen
        deadline = time.monotonic() + 10
        while ("clock", 1) not in seen and time.monotonic() < deadline:
            time.sleep(0.05)
        while gc.get_freeze_count() <= len(kept) and time.monotonic() < deadline:
            time.sleep(0.05)  # the tick started; it freezes what survives when done
        # the first tick collected the young generations only and froze what survived:
        # it did not walk the 400,000 new objects of the old generation
        assert [s for s in seen if s[0] == "clock"][:1] == [("clock", 1)]
        assert gc.get_freeze_count() > len(kept)
        cycle = weakref.ref(Node())  # garbage in a cycle, frozen as a tick would
        gc.freeze()
        ticks = len(seen)
        while len(seen) == ticks and time.monotonic() < deadline:
            time.sleep(0.05)
        while ("clock", 2) not in seen and time.monotonic() < deadline:
            assert cycle() is not None  # a young-generation tick leaves it
            time.sleep(0.05)
        assert ("clock", 2) in seen  # every third tick walks the whole heap
        while cycle() is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cycle() is None  # ... and frees it
        assert ("burst", 2) not in seen
        del kept
    finally:
        gc.callbacks.remove(watch)
        policy.stop()
    assert gc.get_threshold() == before  # stop gives the interpreter's own policy back
    assert gc.get_freeze_count() == 0
    assert sys.getswitchinterval() == pytest.approx(switch)
