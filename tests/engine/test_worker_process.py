"""``worker.enabled = false`` stores turns only, and a :class:`WorkerProcess` (what
``lightmem worker`` runs) then segments, extracts and consolidates them, here on SQLite (no
claims: the whole store each round)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from lightmem import Memory
from lightmem.engine.process import ClaimingStore, WorkerProcess
from lightmem.types import Scope

CONFIG: dict[str, Any] = {
    "embedder": {"provider": "hash", "options": {"dim": 32}},
    "llm": {"provider": "plausible", "options": {"decide": "update"}},
    "buffer": {"sensory_tokens": 30, "shortterm_tokens": 0},
    "consolidation": {"threshold": 0.3, "duplicate_threshold": 1.0},
}


def test_a_memory_without_its_pipeline_only_stores_and_a_worker_process_runs_it(
    tmp_path: Path,
) -> None:
    with Memory(tmp_path / "s", config=CONFIG, worker={"enabled": False}) as memory:
        for i in range(8):
            text = f"Ann keeps talking about green tea and lemon cake, story {i}"
            memory.add([{"role": "user", "content": text}], user_id="ann")
        assert memory.store.list_batches(None, ("pending", "done")) == []
        assert memory.get_all(user_id="ann") == []
        assert not isinstance(memory.store, ClaimingStore)
        proc = WorkerProcess(memory.engine, "w")
        try:
            total = proc.run(threading.Event(), once=True)
        finally:
            proc.close()
        assert total.batches_done > 0 and total.entries_created > 0
        assert total.examined == total.entries_created and total.decisions > 0
        assert memory.store.consolidation_queue() == []
        assert memory.store.list_batches(Scope("ann"), ("pending", "failed")) == []
