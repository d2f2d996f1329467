"""A buffer left idle is flushed by the background threads (``lightmem serve``, ``mcp``,
``proxy``), as ``lightmem worker`` does: a chat's last messages become memories after
``worker.idle_flush_seconds`` without the chat's next message or a flush call."""

from __future__ import annotations

import time
from pathlib import Path

from lightmem import Memory
from tests.engine.test_resume import BUFFER, TEXTS
from tests.support.memories import MakeMemory


def add_and_settle(mem: Memory) -> int:
    mem.add([{"role": "user", "content": t} for t in TEXTS], user_id="alice")
    assert mem.wait(timeout=60)
    return len(mem.get_all(user_id="alice"))


def test_an_idle_buffer_is_flushed_without_a_flush_call(
    make_memory: MakeMemory, tmp_path: Path
) -> None:
    mem = make_memory(
        tmp_path / "store", buffer=BUFFER, worker={"background": True, "idle_flush_seconds": 1}
    )
    assert add_and_settle(mem) < len(TEXTS)  # the open topic segment waits for more turns
    deadline = time.monotonic() + 30
    while len(mem.get_all(user_id="alice")) < len(TEXTS):
        assert time.monotonic() < deadline, "the idle buffer was never flushed"
        time.sleep(0.1)
    assert mem.store.list_batches(None, ("pending", "failed")) == []


def test_no_idle_flush_when_it_is_off(make_memory: MakeMemory, tmp_path: Path) -> None:
    mem = make_memory(
        tmp_path / "store", buffer=BUFFER, worker={"background": True, "idle_flush_seconds": 0}
    )
    waiting = add_and_settle(mem)
    assert waiting < len(TEXTS)
    time.sleep(1.5)
    assert len(mem.get_all(user_id="alice")) == waiting
