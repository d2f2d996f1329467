"""The timed parts of the performance benchmark, each on an opened :class:`Memory`.

Search goes through ``Memory.search`` (query embedding, ranking, the entries and their
source turns fetched for the hits); the embedder is wrapped so that the query-embedding
time is known apart. The online ``add`` runs with the background worker, so it measures
what a chat application waits for: the turns made durable, never an LLM.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lightmem.datasets import Conversation
from lightmem.embedders.base import Vectors
from lightmem.memory import Memory
from lightmem.stores.base import Store
from lightmem.types import Scope, SearchMode
from lightmem_bench.fake import install as install_fake_llm
from lightmem_bench.perf.stats import recall_at, rounds_summary, summary
from lightmem_bench.systems.base import message, sessions

MODES: tuple[SearchMode, ...] = ("dense", "bm25", "hybrid")
Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    user_id: str


def search_latency(
    memory: Memory, queries: Sequence[Query], *, rounds: int, limit: int = 10
) -> dict[str, Any]:
    """Per mode: total (embedding included), retrieval alone and embedding alone, pooled
    over ``rounds`` rounds after one untimed warm-up round; plus, as the cold figure, the
    first (hybrid) search of each owner, which loads its indexes."""
    out: dict[str, Any] = {}
    cold: list[float] = []
    seen: set[str] = set()
    for q in queries:  # warm-up: every queried owner's indexes get loaded
        if q.user_id not in seen:  # the owner's first search: a hybrid one loads it all
            seen.add(q.user_id)
            start = time.perf_counter()
            memory.search(q.text, user_id=q.user_id, limit=limit, mode="hybrid")
            cold.append(time.perf_counter() - start)
        for mode in MODES:
            memory.search(q.text, user_id=q.user_id, limit=limit, mode=mode)
    out["cold_first_search"] = summary(cold)
    for mode in MODES:
        totals: list[list[float]] = []
        retrieval: list[list[float]] = []
        embed: list[list[float]] = []
        for _ in range(rounds):
            t_r, r_r, e_r = [], [], []
            for q in queries:
                before = memory.timings.get("search_embedding", 0.0)
                start = time.perf_counter()
                memory.search(q.text, user_id=q.user_id, limit=limit, mode=mode)
                total = time.perf_counter() - start
                embedding = memory.timings.get("search_embedding", 0.0) - before
                t_r.append(total)
                r_r.append(total - embedding)
                e_r.append(embedding)
            totals.append(t_r)
            retrieval.append(r_r)
            embed.append(e_r)
        out[mode] = {
            "total": rounds_summary(totals),
            "retrieval": rounds_summary(retrieval),
            "embedding": rounds_summary(embed) if mode != "bm25" else None,
        }
    return out


def ann_recall(
    store: Store,
    scope: Scope,
    vectors: Vectors,
    truth: list[list[str]],
    *,
    rounds: int,
    k: int = 10,
) -> dict[str, Any]:
    """``store.search_dense`` against exact top-``k`` lists: recall@k and latency."""
    recalls: list[float] = []
    times: list[list[float]] = []
    for r in range(rounds):
        t_r: list[float] = []
        for v, want in zip(vectors, truth, strict=True):
            start = time.perf_counter()
            found = store.search_dense(scope, v, k)
            t_r.append(time.perf_counter() - start)
            if r == 0:
                recalls.append(recall_at([i for i, _ in found], want, k))
        times.append(t_r)
    return {
        f"recall_at_{k}": round(float(np.mean(recalls)), 4) if recalls else None,
        f"min_recall_at_{k}": round(float(np.min(recalls)), 4) if recalls else None,
        "queries": len(recalls),
        "search": rounds_summary(times),
    }


def add_latency(memory: Memory, texts: Sequence[str], *, user_id: str) -> dict[str, Any]:
    """``add()`` of one turn at a time (the worker processes in the background), then the
    time the worker needed to catch up."""
    times: list[float] = []
    for i, text in enumerate(texts):
        start = time.perf_counter()
        memory.add(
            [{"role": "user" if i % 2 == 0 else "assistant", "content": text}],
            user_id=user_id,
            session_id="s1",
        )
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    memory.wait()
    drain = time.perf_counter() - start
    return {**summary(times), "worker_drain_s": round(drain, 2)}


def ingest_and_consolidate(memory: Memory, conv: Conversation, *, user_id: str) -> dict[str, Any]:
    """One conversation through the whole pipeline (``add`` per session, then ``flush``),
    then the sleep-time consolidation of what it produced."""
    install_fake_llm(memory.llm)
    by_session = [
        (session_id, [message(t) for t in turns if t.content.strip()])
        for session_id, turns in sessions(conv)
    ]
    turns = sum(len(m) for _, m in by_session)
    start = time.perf_counter()
    for session_id, messages in by_session:
        if messages:
            memory.add(messages, user_id=user_id, session_id=session_id)
    flushed = memory.flush(user_id=user_id)
    ingest_s = time.perf_counter() - start
    created = memory.store.count_entries(Scope(user_id=user_id))
    calls_before = sum(s.calls for s in memory.usage().stages.values())
    start = time.perf_counter()
    result = memory.consolidate(user_id=user_id)
    consolidate_s = time.perf_counter() - start
    calls = sum(s.calls for s in memory.usage().stages.values()) - calls_before
    entries = memory.store.count_entries(Scope(user_id=user_id))
    return {
        "ingest": {
            "turns": turns,
            "entries": created,
            "seconds": round(ingest_s, 2),
            "turns_per_s": round(turns / max(ingest_s, 1e-9), 1),
            "failed_batches": len(flushed.failed_batches),
        },
        "consolidation": {
            "entries": result.examined,
            "active_after": entries,
            "llm_calls": calls,
            "seconds": round(consolidate_s, 2),
            "entries_per_s": round(result.examined / max(consolidate_s, 1e-9), 1),
            "failed": len(result.failed),
        },
    }
