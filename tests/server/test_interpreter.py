"""A server's interpreter: the old generation collected on a clock, not in allocation bursts,
and a short switch interval."""

from __future__ import annotations

import gc
import sys
import threading
import time
from typing import Any

import pytest

from lightmem.server.interpreter import NEVER, SWITCH_S, ServerInterpreter


def test_the_old_generation_is_collected_on_a_clock_and_not_by_allocations() -> None:
    before, switch = gc.get_threshold(), sys.getswitchinterval()
    full: list[str] = []

    def watch(phase: str, info: dict[str, Any]) -> None:
        if phase == "start" and info["generation"] == 2:
            full.append("clock" if threading.current_thread().name == "lightmem-gc" else "burst")

    policy = ServerInterpreter(interval_s=0.3)
    gc.collect()  # the burst below then grows the old generation well past a quarter
    gc.callbacks.append(watch)
    try:
        assert gc.get_threshold() == (before[0], before[1], NEVER)
        assert sys.getswitchinterval() == pytest.approx(SWITCH_S)
        kept = [{"n": i, "items": [i]} for i in range(400_000)]  # a tenant's rows decoded
        assert "burst" not in full
        deadline = time.monotonic() + 5
        while not full and time.monotonic() < deadline:
            time.sleep(0.05)
        assert full[:1] == ["clock"]
        while gc.get_freeze_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)  # the collection started; it freezes what survives when done
        assert gc.get_freeze_count() > len(kept)  # left out of the next walk
        del kept
    finally:
        gc.callbacks.remove(watch)
        policy.stop()
    assert gc.get_threshold() == before  # stop gives the interpreter's own policy back
    assert gc.get_freeze_count() == 0
    assert sys.getswitchinterval() == pytest.approx(switch)
