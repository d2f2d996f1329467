"""``lightmem worker`` processes sharing one PostgreSQL store: two racing workers complete
each batch once and apply each decision once; a worker killed (SIGKILL) while it holds
leases has its work taken over by another once the leases expire."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg

from lightmem import Memory
from lightmem_bench.perf.scaleout.audit import audit, read_journals, wait_drained
from lightmem_bench.perf.scaleout.cluster import Child, start_worker, write_config
from tests.pg import PgServer

OWNERS = ("ann", "bob", "cyd")
BUFFER = 40
TOPICS = ("green tea and lemon cake", "the trip to Lisbon in May", "the old blue bicycle")


def config(url: str, schema: str, *, ttl: int = 300, delay: float = 0.0) -> dict[str, Any]:
    return {
        "embedder": {"provider": "hash", "options": {"dim": 64}},
        "llm": {"provider": "plausible", "options": {"decide": "update", "delay_s": delay}},
        "buffer": {"sensory_tokens": BUFFER, "shortterm_tokens": 0},
        # similar enough to be decided by the LLM, never merged without it
        "consolidation": {"threshold": 0.3, "duplicate_threshold": 1.0},
        "store": {
            "provider": "postgres",
            "options": {"url": url, "schema": schema, "claim_ttl_seconds": ttl, "pool_size": 3},
        },
        "worker": {"enabled": False},
    }


def seed(path: Path, cfg: dict[str, Any], turns: int = 12) -> list[str]:
    """Turns for every owner, stored only (``worker.enabled`` false); their ids."""
    ids: list[str] = []
    with Memory(path, config=cfg) as memory:
        for owner in OWNERS:
            for i in range(turns):
                text = f"{owner.title()} told me about {TOPICS[i % 3]}, chapter {i} of {turns}"
                ids += memory.add([{"role": "user", "content": text}], user_id=owner).turn_ids
        assert not memory.store.list_batches(None, ("pending", "done"))  # nothing processed
    return ids


def count(url: str, schema: str, sql: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}", public')
        row = conn.execute(sql).fetchone()
        return int(row[0]) if row else 0


def wait_for(check: Any, timeout_s: float, what: str, child: Child | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if child is not None and child.proc.poll() is not None:
            raise AssertionError(f"{child.name} exited while waiting for {what}: {child.tail()}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def stop_all(children: list[Child]) -> None:
    for child in children:
        assert child.stop() == 0, child.tail()


def test_two_racing_workers_complete_each_batch_and_apply_each_decision_once(
    pg_server: PgServer, tmp_path: Path
) -> None:
    schema = pg_server.schema(tmp_path, "race")
    cfg = config(pg_server.url, schema)
    turn_ids = seed(tmp_path / "seed", cfg)
    path = write_config(tmp_path / "config.json", cfg)
    workers = [start_worker(tmp_path, path, f"w{i}", poll_s=0.05) for i in range(2)]
    try:
        with Memory(tmp_path / "check", config=cfg) as memory:
            wait_drained(memory.store, BUFFER, timeout_s=180)
            stop_all(workers)
            found = audit(read_journals(w.journal for w in workers if w.journal), memory.store)
            stored = {t.id for o in OWNERS for t in memory.store.list_turns(memory_scope(o))}
    finally:
        for w in workers:
            w.stop()
    assert found.decisions > 0 and found.batches > 0
    assert found.decided_twice == 0 and found.batches_twice == 0
    # every decision the store applied is in exactly one journal, and the other way round
    assert found.pairs_journaled == found.pairs_stored and found.pairs_unjournaled == 0
    assert found.batches == found.batches_done
    extracted = count(pg_server.url, schema, "SELECT count(*) FROM entries WHERE origin = 'llm'")
    assert extracted == found.entries_journaled
    assert set(turn_ids) <= stored
    totals = [w.totals() for w in workers]
    assert all(t is not None for t in totals)
    assert sum(t["decisions"] for t in totals if t) == found.decisions


def memory_scope(owner: str) -> Any:
    from lightmem.types import Scope

    return Scope(owner)


def test_a_killed_workers_leases_expire_and_another_worker_takes_over(
    pg_server: PgServer, tmp_path: Path
) -> None:
    schema = pg_server.schema(tmp_path, "kill")
    fast = config(pg_server.url, schema, ttl=2)
    slow = config(pg_server.url, schema, ttl=2, delay=60.0)  # stuck in its first LLM call
    seed(tmp_path / "seed", fast)
    fast_cfg = write_config(tmp_path / "fast.json", fast)
    slow_cfg = write_config(tmp_path / "slow.json", slow)
    url = pg_server.url

    def held(table: str, worker: str) -> int:
        return count(url, schema, f"SELECT count(*) FROM {table} WHERE worker_id = '{worker}'")

    # 1. extraction: the doomed worker claims batches, hangs in the call, is killed
    doomed = start_worker(tmp_path, slow_cfg, "doomed", args=("--no-consolidate",))
    wait_for(lambda: held("batches", "doomed") > 0, 120, "the doomed worker's batch claims")
    doomed.kill()
    heir = start_worker(tmp_path, fast_cfg, "heir", args=("--no-consolidate",))
    # 2. consolidation: another doomed worker claims the queue, hangs, is killed
    with Memory(tmp_path / "check", config=fast) as memory:
        wait_drained_batches(memory)
        assert heir.stop() == 0, heir.tail()
        queued = len(memory.store.consolidation_queue())
        assert queued > 0
        sleeper = start_worker(tmp_path, slow_cfg, "sleeper")
        wait_for(lambda: held("consolidation_queue", "sleeper") > 0, 120, "queue claims")
        sleeper.kill()
        taker = start_worker(tmp_path, fast_cfg, "taker")
        try:
            wait_drained(memory.store, BUFFER, timeout_s=180)
        finally:
            assert taker.stop() == 0, taker.tail()
        journals = [w.journal for w in (doomed, heir, sleeper, taker) if w.journal]
        found = audit(read_journals(journals), memory.store)
    assert read_journals([doomed.journal, sleeper.journal]) == []  # killed before any commit
    assert found.batches == found.batches_done > 0 and found.batches_twice == 0
    assert found.decisions > 0 and found.decided_twice == 0
    assert found.pairs_journaled == found.pairs_stored
    assert count(url, schema, "SELECT count(*) FROM consolidation_queue") == 0
    extracted = count(url, schema, "SELECT count(*) FROM entries WHERE origin = 'llm'")
    assert extracted == found.entries_journaled


def wait_drained_batches(memory: Memory) -> None:
    wait_for(lambda: not memory.store.list_batches(None, ("pending", "failed")), 180, "extraction")


def test_a_live_worker_renews_its_leases_so_a_slow_call_is_not_taken_over(
    pg_server: PgServer, tmp_path: Path
) -> None:
    """A worker whose LLM call lasts longer than its lease keeps the batch: its heartbeat
    renews the claim, so a second worker started once the first lease ran out neither
    takes the batch over nor pays its call again; the slow worker completes it."""
    schema = pg_server.schema(tmp_path, "renew")
    ttl = 2
    fast = config(pg_server.url, schema, ttl=ttl)
    slow = config(pg_server.url, schema, ttl=ttl, delay=3.0 * ttl)
    seed(tmp_path / "seed", fast)
    fast_cfg = write_config(tmp_path / "fast-config.json", fast)
    slow_cfg = write_config(tmp_path / "slow-config.json", slow)
    url = pg_server.url
    held = "SELECT count(*) FROM batches WHERE worker_id = 'slow' AND status <> 'done'"
    live = held + " AND claimed_until > (now() AT TIME ZONE 'utc')"
    sleeper = start_worker(tmp_path, slow_cfg, "slow", args=("--no-consolidate", "--batches", "1"))
    heir = None
    try:
        wait_for(lambda: count(url, schema, held) > 0, 120, "the slow worker's claim", sleeper)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{schema}", public')
            row = conn.execute(
                "SELECT id FROM batches WHERE worker_id = 'slow' AND status <> 'done'"
            ).fetchone()
        assert row is not None
        slow_batch = str(row[0])
        time.sleep(ttl + 0.5)  # the first lease has run out; the call is still in flight
        assert count(url, schema, live) == 1, "the slow worker's lease was not renewed"
        heir = start_worker(tmp_path, fast_cfg, "heir", args=("--no-consolidate",))
        with Memory(tmp_path / "check", config=fast) as memory:
            wait_drained_batches(memory)
            assert heir.stop() == 0, heir.tail()
            assert sleeper.stop() == 0, sleeper.tail()
            journals = [w.journal for w in (sleeper, heir) if w.journal]
            records = read_journals(journals)
            found = audit(records, memory.store)
    finally:
        for child in (sleeper, heir):
            if child is not None:
                child.stop()
    done_by = [r["worker"] for r in records if r["event"] == "batch" and r["batch"] == slow_batch]
    assert done_by == ["slow"]  # completed once, by the worker that kept its lease
    assert found.batches == found.batches_done > 0 and found.batches_twice == 0
