"""Acknowledged turns left waiting by a crash (issue 19, finding 14): a Memory whose
background worker starts (``lightmem serve``) picks up every owner with turns still to
process, and ``lightmem worker`` does in its first round, without the owners' next add or
flush."""

from __future__ import annotations

from pathlib import Path

from lightmem import Memory
from lightmem.engine.process import WorkerProcess
from tests.support.memories import MakeMemory

BUFFER = {"sensory_tokens": 20, "shortterm_tokens": 0}
TOPICS = [
    "the blue heron came back to the pond at dawn",
    "my tax return is due on the last day of April",
    "the new sourdough starter doubled overnight",
]
TEXTS = [f"note {i}: {TOPICS[i // 3]}" for i in range(9)]


def expected(make_memory: MakeMemory, path: Path) -> int:
    """How many of alice's turns the pipeline extracts when nothing crashes."""
    mem = make_memory(path, buffer=BUFFER)
    mem.add([{"role": "user", "content": t} for t in TEXTS], user_id="alice")
    n = len(mem.get_all(user_id="alice"))
    mem.close()
    assert 0 < n < len(TEXTS)  # the open topic segment waits for more turns
    return n


def left_behind(make_memory: MakeMemory, path: Path) -> None:
    """What a crash right after acknowledging leaves: alice's turns in the sensory buffer,
    bob's planned into a batch that was never extracted."""
    mem = make_memory(path, buffer=BUFFER, worker={"enabled": False})
    for user in ("alice", "bob"):
        mem.add([{"role": "user", "content": t} for t in TEXTS], user_id=user)
    mem.engine.plan(mem.scopes()[1], force=True)
    assert {b.scope.user_id for b in mem.store.list_batches(None, ("pending",))} == {"bob"}
    mem.close()


def test_a_background_worker_resumes_every_owner_at_start(
    make_memory: MakeMemory, tmp_path: Path
) -> None:
    path = tmp_path / "store"
    left_behind(make_memory, path)
    mem = make_memory(path, buffer=BUFFER, worker={"background": True})
    assert mem.wait(timeout=60)
    assert len(mem.get_all(user_id="alice")) == expected(make_memory, tmp_path / "ref")
    assert len(mem.get_all(user_id="bob")) == len(TEXTS)
    assert mem.store.list_batches(None, ("pending",)) == []


def test_a_worker_process_resumes_every_owner_in_its_first_round(
    make_memory: MakeMemory, tmp_path: Path
) -> None:
    path = tmp_path / "store"
    left_behind(make_memory, path)
    mem: Memory = make_memory(path, buffer=BUFFER, worker={"enabled": False})
    worker = WorkerProcess(mem.engine, "w1", consolidate=False)
    try:
        done = worker.run_round()
    finally:
        worker.close()
    assert done.batches_done >= 2
    assert len(mem.get_all(user_id="alice")) == expected(make_memory, tmp_path / "ref")
    assert len(mem.get_all(user_id="bob")) == len(TEXTS)
