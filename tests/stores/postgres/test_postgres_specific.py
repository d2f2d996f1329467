"""What only the PostgreSQL store does: options, lazy driver import, migrations under an
advisory lock, claims on the consolidation queue shared by worker processes, filtered HNSW
search, error translation. The shared behaviour is in ``tests/stores/contract``."""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lightmem.config import parse_options
from lightmem.errors import ConfigError, MissingDependencyError, StorageError
from lightmem.registry import registry
from lightmem.stores.base import Store
from lightmem.stores.postgres import PostgresStore
from lightmem.stores.postgres import migrations as mig
from lightmem.stores.postgres import search as pg_search
from lightmem.stores.postgres.db import format_style
from lightmem.stores.postgres.dialect import vector_literal
from lightmem.types import Entry, Scope
from tests.pg import PgServer

DIM = 8
ALICE = Scope(user_id="alice")
BOB = Scope(user_id="bob")


def unit(i: int, dim: int = DIM) -> np.ndarray:
    v = np.zeros(dim, dtype=np.float32)
    v[i % dim] = 1.0
    return v


def add_entries(store: Store, ids: list[str], scope: Scope = ALICE) -> None:
    entries = [Entry(id=i, scope=scope, text=f"fact {i}") for i in ids]
    store.add_entries(entries, np.stack([unit(n) for n in range(len(ids))]), actor="user")


@pytest.fixture
def make(pg_server: PgServer, tmp_path: Path) -> Iterator[Any]:
    """``make(name="main", dim=DIM, **options)``: an opened store; closed at teardown."""
    opened: list[PostgresStore] = []

    def open_store(name: str = "main", dim: int = DIM, **options: Any) -> PostgresStore:
        store = pg_server.store(tmp_path, name, **options)
        store.open(dim)
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.close()


def sql(server: PgServer, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(server.url, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description is not None else []


# -- options and the driver -----------------------------------------------------------------


def test_importable_by_dotted_path_and_entry_point() -> None:
    path = "lightmem.stores.postgres.PostgresStore"
    assert registry.resolve("store", path, Store) is PostgresStore
    assert registry.resolve("store", "postgres", Store) is PostgresStore


def test_options_are_validated_and_the_url_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LIGHTMEM_POSTGRES_URL", raising=False)
    with pytest.raises(ConfigError, match="LIGHTMEM_POSTGRES_URL"):
        PostgresStore()
    with pytest.raises(ConfigError, match="pool_sise"):
        parse_options(PostgresStore.Options, {"url": "postgresql://x", "pool_sise": 3}, "store")
    with pytest.raises(ConfigError, match="schema"):
        parse_options(PostgresStore.Options, {"url": "postgresql://x", "schema": "a;b"}, "store")
    monkeypatch.setenv("LIGHTMEM_POSTGRES_URL", "postgresql://u@db.example/mem")
    opts = parse_options(PostgresStore.Options, {"schema": "team_a"}, "store")
    assert (opts.url, opts.db_schema, opts.claim_ttl_seconds) == (
        "postgresql://u@db.example/mem",
        "team_a",
        300,
    )


def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg -> ImportError
    store = PostgresStore(PostgresStore.Options(url="postgresql://localhost/x"))
    with pytest.raises(MissingDependencyError, match=r"pip install 'lightmem\[postgres\]'"):
        store.open(DIM)


def test_unreachable_server_is_a_storage_error_without_the_password() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    url = f"postgresql://lightmem:s3cret-pw@127.0.0.1:{port}/db"
    store = PostgresStore(PostgresStore.Options(url=url, connect_timeout_s=2))
    with pytest.raises(StorageError, match="connection") as err:
        store.open(DIM)
    assert "s3cret-pw" not in str(err.value)


def test_nul_characters_are_refused_as_a_storage_error(make: Any) -> None:
    store = make()
    with pytest.raises(StorageError, match="rejected"):
        add_entries(store, ["bad\x00id"])
    assert store.count_entries(None) == 0


# -- migrations ------------------------------------------------------------------------------


def test_schema_is_versioned_and_concurrent_openers_migrate_once(
    pg_server: PgServer, tmp_path: Path
) -> None:
    schema = pg_server.schema(tmp_path, "race")
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []
    stores: list[PostgresStore] = []

    def open_one() -> None:
        store = pg_server.store(tmp_path, "race")
        barrier.wait()
        try:
            store.open(DIM)
            stores.append(store)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for store in stores:
        store.close()
    assert errors == []
    versions = sql(pg_server, f'SELECT version FROM "{schema}".migrations ORDER BY version')
    assert [v for (v,) in versions] == sorted(mig.MIGRATIONS)
    assert {1, 2, 3, 4} <= set(mig.MIGRATIONS)
    meta = sql(pg_server, f"SELECT value FROM \"{schema}\".meta WHERE key = 'dim'")
    assert meta == [(str(DIM),)]
    indexes = sql(
        pg_server,
        "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND indexname = 'entries_hnsw'",
        (schema,),
    )
    assert len(indexes) == 1


def test_an_old_schema_is_upgraded_and_keeps_its_data(pg_server: PgServer, tmp_path: Path) -> None:
    import psycopg

    schema = pg_server.schema(tmp_path, "old")
    with psycopg.connect(pg_server.url, autocommit=True) as conn:
        mig.prepare(conn, schema, DIM, "test", upto=1)
        conn.execute(
            f"""INSERT INTO "{schema}".turns (id, user_id, role, content, stage, created_at)
                VALUES ('t1', 'alice', 'user', 'hello', 'sensory', now())"""
        )
    store = pg_server.store(tmp_path, "old")
    store.open(DIM)
    try:
        assert [t.id for t in store.list_turns(ALICE)] == ["t1"]
        add_entries(store, ["e1"])
        assert store.claim_consolidation("w", 5) == ["e1"]  # migration 2's columns
    finally:
        store.close()
    versions = sql(pg_server, f'SELECT version FROM "{schema}".migrations ORDER BY version')
    assert [v for (v,) in versions] == sorted(mig.MIGRATIONS)


def test_a_newer_schema_is_refused(make: Any, pg_server: PgServer, tmp_path: Path) -> None:
    make("future").close()
    schema = pg_server.schema(tmp_path, "future")
    sql(pg_server, f'INSERT INTO "{schema}".migrations (version) VALUES (99)')
    with pytest.raises(StorageError, match="upgrade LightMem"):
        pg_server.store(tmp_path, "future").open(DIM)


def test_stored_dim_reads_without_creating(pg_server: PgServer, tmp_path: Path) -> None:
    assert pg_server.store(tmp_path, "nothing").stored_dim() is None
    schema = pg_server.schema(tmp_path, "nothing")
    assert sql(pg_server, "SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)) == []
    store = pg_server.store(tmp_path, "nothing")
    store.open(12)
    store.close()
    assert pg_server.store(tmp_path, "nothing").stored_dim() == 12


def test_a_dimension_beyond_hnsw_searches_exactly(make: Any) -> None:
    dim = mig.HNSW_MAX_DIM + 48
    store = make("wide", dim=dim)
    entries = [Entry(id=f"e{i}", scope=ALICE, text=f"x{i}") for i in range(3)]
    store.add_entries(entries, np.stack([unit(i, dim) for i in range(3)]), actor="user")
    assert [i for i, _ in store.search_dense(ALICE, unit(1, dim), 2)] == ["e1", "e0"]


# -- concurrent writers -----------------------------------------------------------------------


def _race(*calls: Any) -> list[Any]:
    """Run the calls at once, each in its own thread; their results or exceptions."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(n: int) -> None:
        barrier.wait()
        try:
            results[n] = calls[n]()
        except Exception as exc:  # noqa: BLE001 - returned to the test, which asserts on it
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_processes_racing_on_one_transition_one_wins(make: Any) -> None:
    """Separate stores (pools), as two API processes would have: the row locks let exactly
    one complete the batch or apply the decision; the other gets a conflict, or False."""
    from lightmem.errors import ConflictError
    from lightmem.types import Batch, Turn

    first, second = make("shared"), make("shared")
    first.add_turns([Turn(id="t1", scope=ALICE, seq=0, role="user", content="hi")])
    first.assign_segments([("s1", ["t1"])])
    first.create_batch(Batch(id="b1", scope=ALICE, turn_ids=["t1"]))
    outcomes = _race(
        *(
            lambda store=store, n=n: store.complete_batch(
                "b1", [Entry(id=f"e{n}", scope=ALICE, text="x")], unit(n)[None, :]
            )
            for n, store in enumerate((first, second))
        )
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["ConflictError", "NoneType"]
    assert any(isinstance(o, ConflictError) for o in outcomes)
    assert first.count_entries(ALICE) == 1
    add_entries(first, ["t", "s"])
    decided = _race(
        lambda: first.apply_decision("t", ["s"], "delete"),
        lambda: second.apply_decision("t", ["s"], "delete"),
    )
    assert sorted(decided) == [False, True]
    assert [h.event for h in first.history("t")].count("DELETE") == 1


# -- claims ----------------------------------------------------------------------------------


def test_claims_hand_out_the_queue_once_and_end_with_consolidation(make: Any) -> None:
    store = make()
    add_entries(store, [f"e{i}" for i in range(6)])
    add_entries(store, ["b0"], BOB)
    first = store.claim_consolidation("w1", 4)
    assert first == ["e0", "e1", "e2", "e3"]
    assert store.claim_consolidation("w2", 10, scope=ALICE) == ["e4", "e5"]
    assert store.claim_consolidation("w3", 10) == ["b0"]
    assert store.claim_consolidation("w3", 10) == []  # its own claims are not handed out again
    assert store.claim_consolidation("w4", 10) == []
    assert store.consolidation_queue() == [f"e{i}" for i in range(6)] + ["b0"]  # unchanged
    assert store.release_claims("w1", ["e1", "ghost"]) == 1
    store.mark_consolidated(["e0"])
    store.delete_entry("e2", reason=None, actor="user")
    assert store.claim_consolidation("w4", 10) == ["e1"]
    assert store.release_claims("w2") == 2
    assert store.claim_consolidation("w4", 10) == ["e4", "e5"]
    with pytest.raises(Exception, match="worker_id"):
        store.claim_consolidation("", 1)


def _worker(url: str, schema: str, worker_id: str, ready: Any, go: Any, out: Any) -> None:
    """A consolidation worker in its own process: claim small batches until none are left,
    mark some consolidated (the rest stay claimed, as after a failed decision), report
    everything it claimed."""
    store = PostgresStore(PostgresStore.Options(url=url, schema=schema, pool_size=2))
    store.open(DIM)
    ready.put(worker_id)  # the store is open: start together, not whoever spawned first
    go.wait()
    claimed: list[str] = []
    while batch := store.claim_consolidation(worker_id, 3):
        claimed += batch
        store.mark_consolidated(batch[::2])  # some done, the rest stay claimed
    store.close()
    out.put((worker_id, claimed))


def test_worker_processes_never_claim_the_same_entry(
    make: Any, pg_server: PgServer, tmp_path: Path
) -> None:
    store = make("queue")
    ids = [f"e{i:03d}" for i in range(240)]
    for start in range(0, len(ids), 60):
        add_entries(store, ids[start : start + 60])
    ctx = mp.get_context("spawn")
    ready, go, out = ctx.Queue(), ctx.Event(), ctx.Queue()
    schema = pg_server.schema(tmp_path, "queue")
    procs = [
        ctx.Process(target=_worker, args=(pg_server.url, schema, f"w{n}", ready, go, out))
        for n in range(3)
    ]
    for p in procs:
        p.start()
    for _ in procs:  # a fixed sleep let one worker drain the queue on a loaded machine
        ready.get(timeout=120)
    go.set()
    results = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    everything = [i for claimed in results.values() for i in claimed]
    assert sorted(everything) == ids  # each entry claimed exactly once
    assert all(results.values()), "every worker got a share"


def _claim_and_die(url: str, schema: str) -> None:
    store = PostgresStore(PostgresStore.Options(url=url, schema=schema, claim_ttl_seconds=1))
    store.open(DIM)
    store.claim_consolidation("doomed", 10)
    os._exit(0)  # no release, no close: a worker killed mid-run


def test_a_dead_workers_claims_expire(make: Any, pg_server: PgServer, tmp_path: Path) -> None:
    store = make("ttl", claim_ttl_seconds=1)
    add_entries(store, ["e0", "e1"])
    proc = mp.get_context("spawn").Process(
        target=_claim_and_die, args=(pg_server.url, pg_server.schema(tmp_path, "ttl"))
    )
    proc.start()
    proc.join(timeout=60)
    assert store.claim_consolidation("heir", 10) == []  # still claimed
    time.sleep(1.2)
    assert store.claim_consolidation("heir", 10) == ["e0", "e1"]


# -- search ----------------------------------------------------------------------------------


def test_bm25_weighs_rare_terms_and_folds_case_and_accents_consistently(make: Any) -> None:
    store = make()
    texts = ["Alice met Bob", "Alice likes tea", "Alice drinks espresso", "Café Élysée"]
    entries = [Entry(id=f"e{i}", scope=ALICE, text=t) for i, t in enumerate(texts)]
    store.add_entries(entries, np.stack([unit(i) for i in range(4)]), actor="user")
    hits = store.search_bm25(ALICE, "alice espresso", 10)
    assert hits[0][0] == "e2" and len(hits) == 3
    assert hits[1][1] < hits[0][1] / 2  # "alice" is in most entries: it weighs little
    assert [i for i, _ in store.search_bm25(ALICE, "CAFÉ", 10)] == ["e3"]


def _random_unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_filtered_hnsw_search_recall_matches_exact_search(
    make: Any, pg_server: PgServer, tmp_path: Path
) -> None:
    """A few thousand random vectors in one scope among several: HNSW with the scope and
    time filters returns k rows with the exact search's recall, and a tiny scope among the
    large ones still gets all its rows."""
    dim, k = 32, 10
    rng = np.random.default_rng(7)
    approx = make("recall", dim=dim, exact_search_max_rows=0)  # always through HNSW
    exact = make("recall", dim=dim)  # the same schema, searched exactly
    sizes = {Scope("big"): 2000, Scope("other"): 1000, Scope("third"): 1000, Scope("tiny"): 7}
    day = datetime(2024, 1, 1)
    for scope, n in sizes.items():
        vectors = _random_unit(rng, n, dim)
        for start in range(0, n, 500):
            part = range(start, min(n, start + 500))
            entries = [
                Entry(
                    id=f"{scope.user_id}-{i}",
                    scope=scope,
                    text="x",
                    timestamp=day + timedelta(days=i % 100),
                )
                for i in part
            ]
            approx.add_entries(entries, vectors[part.start : part.stop], actor="user")
    sql(pg_server, "ANALYZE")
    queries = _random_unit(rng, 30, dim)
    for scope, time_range in [
        (Scope("big"), None),
        (Scope("big"), (day, day + timedelta(days=9))),
        (Scope("tiny"), None),
    ]:
        found = total = 0
        for q in queries:
            want = exact.search_dense(scope, q, k, time_range)
            got = approx.search_dense(scope, q, k, time_range)
            assert len(got) == len(want) == min(k, sizes[scope])
            found += len({i for i, _ in got} & {i for i, _ in want})
            total += len(want)
        assert found / total >= 0.95, (scope, time_range, found / total)
    # The approximate path really walks the index.
    where, params = pg_search.dense_filter(Scope("big"), None)
    query = vector_literal(queries[0])
    plan = _explain(pg_server, tmp_path, where, [query, *params, query, k])
    assert "entries_hnsw" in plan


def _explain(server: PgServer, tmp_path: Path, where: str, params: list[Any]) -> str:
    import psycopg

    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{server.schema(tmp_path, "recall")}", public')
        explain = format_style("EXPLAIN " + pg_search.approximate_sql(where))
        rows = conn.execute(explain, params).fetchall()
    return "\n".join(r[0] for r in rows)
