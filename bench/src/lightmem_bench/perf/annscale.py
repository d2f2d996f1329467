"""``bench perf --ann-scale``: one owner above the ANN threshold, after reopening its store.

On the cached one-owner store of the ANN section (``stores``), in this order:

* open the store and search once, so that its sidecar exists (the time is reported:
  ``prepare_s``; an earlier run may have left the sidecar, then it is short); close;
* reopen: the first ``search_dense`` of the owner, then the first ``Memory.search``
  (dense: query embedding, the retrieval layer's checks, the store, the hits fetched);
* ``writes`` single-entry writes to the owner (``Store.add_entries``), each followed by one
  ``search_dense``: p50/p95 of the write and of that search (a write must touch only what
  changed, and the search after it must not reload the owner);
* recall@10 of ``search_dense`` against the exact top 10 of the stored vectors (the
  written entries included), and the store's ANN counters (``ann_rebuilds`` must not move
  after the reopen).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lightmem.memory import Memory
from lightmem.types import Entry
from lightmem_bench.perf.data import owner
from lightmem_bench.perf.stats import recall_at, summary
from lightmem_bench.perf.stores import store_bytes

Progress = Callable[[str], None]
FIRST_SEARCH_TARGET_S = 1.0
WRITE_P95_TARGET_MS = 50.0
RECALL_TARGET = 0.99


def _stats(memory: Memory) -> dict[str, Any] | None:
    stats = getattr(memory.store, "cache_stats", None)
    return stats() if callable(stats) else None


def _wait(memory: Memory) -> None:
    wait = getattr(memory.store, "ann_wait", None)
    if callable(wait):
        wait()


def _with_written(
    base: tuple[npt.NDArray[np.float32], list[list[str]]],
    queries: npt.NDArray[np.float32],
    written: list[tuple[str, npt.NDArray[np.float32]]],
    k: int = 10,
) -> list[list[str]]:
    """The exact top ``k`` of the built entries (scores, ids) merged with the written ones
    (newer, so they lose ties)."""
    scores, ids = base
    if not written:
        return ids
    extra = queries @ np.stack([v for _, v in written]).T
    out = []
    for i, row in enumerate(ids):
        pairs = list(zip(scores[i].tolist(), row, strict=True))
        pairs += [(float(s), w[0]) for s, w in zip(extra[i], written, strict=True)]
        order = sorted(range(len(pairs)), key=lambda j: (-pairs[j][0], j))[:k]
        out.append([pairs[j][1] for j in order])
    return out


def ann_scale(
    folder: Path,
    config: dict[str, Any],
    texts: list[str],
    query_texts: list[str],
    query_vectors: npt.NDArray[np.float32],
    exact: Callable[[npt.NDArray[np.float32]], tuple[npt.NDArray[np.float32], list[list[str]]]],
    *,
    writes: int = 200,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The figures above on the store in ``folder`` (one owner, ``owner(0)``)."""
    say = progress or (lambda _msg: None)
    scope = owner(0)
    memory = Memory(folder, config=config)
    try:
        start = time.perf_counter()
        memory.store.search_dense(scope, query_vectors[0], 10)
        _wait(memory)  # a background build, where the store has one
        prepare_s = time.perf_counter() - start
    finally:
        memory.close()
    say(f"  sidecar ready in {prepare_s:.1f} s; reopening")
    start = time.perf_counter()
    memory = Memory(folder, config=config)
    open_s = time.perf_counter() - start
    out: dict[str, Any] = {"prepare_s": round(prepare_s, 2), "open_s": round(open_s, 3)}
    try:
        start = time.perf_counter()
        memory.store.search_dense(scope, query_vectors[1], 10)
        out["first_search_dense_s"] = round(time.perf_counter() - start, 3)
        start = time.perf_counter()
        memory.search(query_texts[2], user_id=scope.user_id, limit=10, mode="dense")
        out["first_memory_search_s"] = round(time.perf_counter() - start, 3)
        out["after_reopen"] = _stats(memory)
        say(f"  {writes} writes, each followed by a search")
        rng = np.random.default_rng(1)
        written: list[tuple[str, npt.NDArray[np.float32]]] = []
        write_t: list[float] = []
        search_t: list[float] = []
        for i in range(writes):
            v = query_vectors[i % len(query_vectors)] + rng.normal(0, 0.02, query_vectors.shape[1])
            v = (v / np.linalg.norm(v)).astype(np.float32)
            entry = Entry(id=f"w{i:06d}-{time.time_ns()}", scope=scope, text=texts[i % len(texts)])
            start = time.perf_counter()
            memory.store.add_entries([entry], v[None, :], actor="import")
            write_t.append(time.perf_counter() - start)
            start = time.perf_counter()
            memory.store.search_dense(scope, query_vectors[(i + 7) % len(query_vectors)], 10)
            search_t.append(time.perf_counter() - start)
            written.append((entry.id, v))
        out["write"] = summary(write_t)
        out["search_after_write"] = summary(search_t)
        say("  recall against the exact top 10")
        want = _with_written(exact(query_vectors), query_vectors, written)
        recalls, times = [], []
        for q, ids in zip(query_vectors, want, strict=True):
            start = time.perf_counter()
            found = [i for i, _ in memory.store.search_dense(scope, q, 10)]
            times.append(time.perf_counter() - start)
            recalls.append(recall_at(found, ids, 10))
        out["recall_at_10"] = round(float(np.mean(recalls)), 4)
        out["min_recall_at_10"] = round(float(np.min(recalls)), 4)
        out["queries"] = len(recalls)
        out["search"] = summary(times)
        out["cache"] = _stats(memory)
        for entry_id, _ in written:  # the cached store stays as built
            memory.store.delete_entry(entry_id, reason="bench", actor="bench")
    finally:
        memory.close()
    out["disk"] = store_bytes(folder)
    out["targets"] = {
        "first_search_s": FIRST_SEARCH_TARGET_S,
        "first_search_ok": out["first_search_dense_s"] <= FIRST_SEARCH_TARGET_S,
        "write_p95_ms": WRITE_P95_TARGET_MS,
        "write_ok": out["write"]["p95_ms"] <= WRITE_P95_TARGET_MS,
        "recall": RECALL_TARGET,
        "recall_ok": out["recall_at_10"] >= RECALL_TARGET,
    }
    return out
