"""The SQLite store at scale: the schema migration of an old store, per-owner BM25 and
cache revisions, and the ANN sidecar of a large owner (recall, rebuild, deletions).

No timing is asserted; ``lightmem bench perf`` measures speed."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from lightmem.stores.sqlite import SQLiteStore
from lightmem.stores.sqlite import migrations as mig
from lightmem.stores.sqlite.ann import usearch_available
from lightmem.stores.sqlite.lexical import bm25, build_postings, encode_terms, query_ids, tokens
from lightmem.types import Entry, Scope

DIM = 32
ALICE = Scope(user_id="alice")
BOB = Scope(user_id="bob")
DAY = datetime(2024, 5, 1)


def open_store(path: Path, **options: object) -> SQLiteStore:
    store = SQLiteStore(SQLiteStore.Options(path=str(path), **options))  # type: ignore[arg-type]
    store.open(DIM)
    return store


def unit_rows(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def add(
    store: SQLiteStore, scope: Scope, texts: list[str], vectors: np.ndarray, prefix: str
) -> None:
    entries = [
        Entry(id=f"{prefix}{i}", scope=scope, text=t, timestamp=DAY + timedelta(days=i))
        for i, t in enumerate(texts)
    ]
    store.add_entries(entries, vectors, actor="import")


def exact_top(vectors: np.ndarray, ids: list[str], query: np.ndarray, k: int) -> list[str]:
    scores = vectors @ query
    order = np.lexsort((np.arange(len(ids)), -scores))[:k]
    return [ids[i] for i in order]


# -- the migration of an old store ------------------------------------------------------------


def test_a_version_1_store_migrates_and_searches_the_same_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    with monkeypatch.context() as m:  # the schema as it was at version 1
        m.setattr(mig, "MIGRATIONS", {1: mig.MIGRATIONS[1]})
        old = open_store(path)
        old.close()
    conn = sqlite3.connect(path)
    # the rows as the code of version 1 wrote them (today's code writes newer columns)
    rows = [
        ("a0", ALICE, "Alice drinks espresso", unit_rows(2)[0]),
        ("a1", ALICE, "Alice hikes in the Alps", unit_rows(2)[1]),
        ("b0", BOB, "Bob drinks tea", unit_rows(1, seed=1)[0]),
    ]
    with conn:
        for i, (eid, scope, text, vector) in enumerate(rows):
            conn.execute(
                "INSERT INTO entries (id, user_id, text, timestamp, origin, status, created_at, "
                "updated_at, vector) VALUES (?, ?, ?, ?, 'manual', 'active', ?, ?, ?)",
                (
                    eid,
                    scope.user_id,
                    text,
                    (DAY + timedelta(days=i)).isoformat(),
                    "2024-01-01",
                    "2024-01-01",
                    np.asarray(vector, dtype="<f4").tobytes(),
                ),
            )
    # a tombstone, as the code of version 1 wrote it (today's code reads newer columns)
    with conn:
        conn.execute("UPDATE entries SET status = 'deleted' WHERE id = 'a1'")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("SELECT COUNT(*) FROM entries_fts").fetchone()[0] == 2
    conn.close()

    store = open_store(path)
    try:
        assert store._db.read("v", mig.schema_version) == mig.latest_version() >= 2
        assert [i for i, _ in store.search_bm25(ALICE, "espresso Alps", 10)] == ["a0"]
        assert [i for i, _ in store.search_bm25(BOB, "drinks", 10)] == ["b0"]
        assert [i for i, _ in store.search_dense(ALICE, unit_rows(2)[0], 10)] == ["a0"]
        # New writes keep the migrated index current.
        add(store, ALICE, ["Alice drinks more espresso"], unit_rows(1, seed=2), "c")
        assert [i for i, _ in store.search_bm25(ALICE, "espresso", 10)] == ["a0", "c0"]
    finally:
        store.close()
    conn = sqlite3.connect(path)
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "entries_fts" not in names and {"search_index", "owner_revs"} <= names
        # every entry ever written has its terms, the tombstone included
        assert conn.execute("SELECT COUNT(*) FROM search_index").fetchone()[0] == 4
        terms = conn.execute("SELECT terms FROM search_index WHERE pk = 1").fetchone()[0]
        assert terms == encode_terms("Alice drinks espresso", "[]")
    finally:
        conn.close()


# -- BM25 over stored terms ---------------------------------------------------------------------


def test_terms_fold_case_and_diacritics_and_read_keywords() -> None:
    assert tokens("Café au LAIT, naïve_user 42!") == ["cafe", "au", "lait", "naive", "user", "42"]
    assert encode_terms("x", '["hiking", "Zürich"]') == encode_terms("x hiking zurich")
    assert query_ids("a a A b").size == 2
    assert query_ids("!!! ???").size == 0


def test_bm25_matches_the_okapi_formula() -> None:
    docs = ["apple banana", "apple apple cherry", "banana"]
    index = build_postings([encode_terms(d) for d in docs])
    scores = bm25(index, query_ids("apple"), None)
    n, df, avgdl, k1, b = 3, 2, 2.0, 1.2, 0.75
    idf = np.log(1 + (n - df + 0.5) / (df + 0.5))

    def part(tf: float, dl: float) -> float:
        return float(idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)))

    assert scores == pytest.approx([part(1, 2), part(2, 3), 0.0])
    # The statistics are those of the documents in scope.
    only_first = bm25(index, query_ids("apple"), np.array([True, False, False]))
    assert only_first[1] == 0.0 and only_first[0] > 0


def test_a_write_to_one_owner_does_not_reload_another(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.db")
    try:
        add(store, ALICE, ["alice one", "alice two"], unit_rows(2), "a")
        add(store, BOB, ["bob one"], unit_rows(1, seed=1), "b")
        store.search_bm25(ALICE, "alice", 5)
        store.search_bm25(BOB, "bob", 5)
        before = store.cache_stats()
        add(store, BOB, ["bob two"], unit_rows(1, seed=2), "c")
        assert [i for i, _ in store.search_bm25(ALICE, "alice", 5)] == ["a0", "a1"]
        assert store.cache_stats()["deltas"] == before["deltas"]  # Alice's index stayed valid
        assert [i for i, _ in store.search_bm25(BOB, "two", 5)] == ["c0"]
        after = store.cache_stats()
        # Bob's index took the one change from the feed: no reload.
        assert (after["loads"], after["deltas"]) == (before["loads"], before["deltas"] + 1)
    finally:
        store.close()


def test_a_tiny_cache_budget_evicts_but_stays_correct(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.db", cache_mb=0)
    try:
        add(store, ALICE, ["alice coffee"], unit_rows(1), "a")
        add(store, BOB, ["bob coffee"], unit_rows(1, seed=1), "b")
        for _ in range(2):
            assert [i for i, _ in store.search_bm25(ALICE, "coffee", 5)] == ["a0"]
            assert [i for i, _ in store.search_bm25(BOB, "coffee", 5)] == ["b0"]
        stats = store.cache_stats()
        assert stats["owners"] == 1 and stats["evictions"] >= 3
    finally:
        store.close()


# -- the ANN sidecar ----------------------------------------------------------------------------

N = 3000
# Not importorskip: importing usearch before onnxruntime crashes a later onnxruntime import
# (see ann._index_class), so the check must not import it.
needs_usearch = pytest.mark.skipif(not usearch_available(), reason="usearch is not installed")


@pytest.fixture
def big(tmp_path: Path) -> tuple[Path, np.ndarray, list[str]]:
    """A store whose owner Alice has N random vectors (plus Bob with a few)."""
    path = tmp_path / "big.db"
    vectors = unit_rows(N, seed=7)
    store = open_store(path, ann_threshold=1000)
    try:
        add(store, ALICE, [f"fact {i}" for i in range(N)], vectors, "e")
        add(store, BOB, ["bob fact"] * 3, unit_rows(3, seed=8), "b")
    finally:
        store.close()
    return path, vectors, [f"e{i}" for i in range(N)]


def sidecar_files(path: Path) -> list[Path]:
    folder = Path(f"{path}.ann")
    return sorted(folder.glob("*.usearch")) if folder.is_dir() else []


def recall(store: SQLiteStore, vectors: np.ndarray, ids: list[str], queries: np.ndarray) -> float:
    hits = 0
    for q in queries:
        found = [i for i, _ in store.search_dense(ALICE, q, 10)]
        hits += len(set(found) & set(exact_top(vectors, ids, q, 10)))
    return hits / (10 * len(queries))


@needs_usearch
def test_a_large_owner_is_searched_through_the_sidecar_with_high_recall(
    big: tuple[Path, np.ndarray, list[str]],
) -> None:
    path, vectors, ids = big
    store = open_store(path, ann_threshold=1000)
    try:
        queries = unit_rows(50, seed=9)
        store.search_dense(ALICE, queries[0], 10)  # exact while the graph is built
        assert store.ann_wait(60)
        assert recall(store, vectors, ids, queries) >= 0.95
        assert store.cache_stats()["ann_owners"] == 1
        hits = store.search_dense(ALICE, queries[0], 5)
        exact_scores = sorted((vectors @ queries[0]).tolist(), reverse=True)[:5]
        assert [s for _, s in hits] == pytest.approx(exact_scores, abs=1e-5)  # exact scores
        # A small owner stays exact, and scopes do not mix.
        assert {i for i, _ in store.search_dense(BOB, queries[0], 10)} == {"b0", "b1", "b2"}
    finally:
        store.close()
    assert len(sidecar_files(path)) == 1


@needs_usearch
def test_a_deleted_sidecar_is_rebuilt(big: tuple[Path, np.ndarray, list[str]]) -> None:
    path, vectors, ids = big
    queries = unit_rows(20, seed=10)
    store = open_store(path, ann_threshold=1000)
    try:
        store.search_dense(ALICE, queries[0], 10)
        assert store.ann_wait(60)
        first = [store.search_dense(ALICE, q, 10) for q in queries]
    finally:
        store.close()
    shutil.rmtree(f"{path}.ann")
    store = open_store(path, ann_threshold=1000)
    try:
        assert recall(store, vectors, ids, queries) >= 0.99  # exact meanwhile
        assert store.ann_wait(60)
        assert store.cache_stats()["ann_rebuilds"] == 1
        again = [store.search_dense(ALICE, q, 10) for q in queries]
    finally:
        store.close()
    assert len(sidecar_files(path)) == 1
    same = sum(
        len({i for i, _ in a} & {i for i, _ in b}) for a, b in zip(first, again, strict=True)
    )
    assert same / (10 * len(queries)) >= 0.9
    # A corrupt sidecar is rebuilt too.
    sidecar_files(path)[0].write_bytes(b"not an index")
    store = open_store(path, ann_threshold=1000)
    try:
        assert recall(store, vectors, ids, queries) >= 0.95
        assert store.ann_wait(60)
        assert store.cache_stats()["ann_rebuilds"] == 1
    finally:
        store.close()


@needs_usearch
def test_deleted_entries_are_never_returned(big: tuple[Path, np.ndarray, list[str]]) -> None:
    path, vectors, _ = big
    query = vectors[42]
    store = open_store(path, ann_threshold=1000)
    try:
        top = [i for i, _ in store.search_dense(ALICE, query, 10)]
        assert top[0] == "e42"
        for eid in top[:5]:
            store.delete_entry(eid, reason=None, actor="user")
        after = [i for i, _ in store.search_dense(ALICE, query, 10)]
        assert not set(after) & set(top[:5])
        assert after[:5] == top[5:10]
    finally:
        store.close()
    # Another process deletes more while the sidecar on disk is older: it catches up.
    other = open_store(path, ann_threshold=None)
    try:
        other.delete_entry(top[5], reason=None, actor="user")
        other.delete_all(Scope(user_id="alice", run_id="no-such-run"))
    finally:
        other.close()
    store = open_store(path, ann_threshold=1000)
    try:
        found = [i for i, _ in store.search_dense(ALICE, query, 10)]
        assert not set(found) & set(top[:6])
        assert found[0] == top[6]
    finally:
        store.close()


@needs_usearch
def test_filters_on_a_large_owner_match_exact_search(
    big: tuple[Path, np.ndarray, list[str]],
) -> None:
    path, vectors, ids = big
    store = open_store(path, ann_threshold=1000)
    try:
        start, end = DAY + timedelta(days=100), DAY + timedelta(days=160)
        query = unit_rows(1, seed=11)[0]
        inside = [i for i in range(N) if 100 <= i <= 160]
        want = exact_top(vectors[inside], [ids[i] for i in inside], query, 10)
        found = store.search_dense(ALICE, query, 10, (start, end))
        assert [i for i, _ in found] == want
        # A new entry is found at once (the sidecar catches up from the change feed).
        add(store, ALICE, ["a new fact"], query[None, :], "new")
        assert store.search_dense(ALICE, query, 1)[0][0] == "new0"
    finally:
        store.close()


def ready(path: Path, **options: object) -> SQLiteStore:
    """The big store opened with its graph built (waited for)."""
    store = open_store(path, ann_threshold=1000, **options)
    store.search_dense(ALICE, unit_rows(1, seed=3)[0], 1)
    assert store.ann_wait(60)
    store.search_dense(ALICE, unit_rows(1, seed=3)[0], 1)  # swaps the graph in
    assert store.cache_stats()["ann_ready"] == 1
    return store


@needs_usearch
def test_a_reopened_store_uses_its_sidecar_and_entry_list_without_a_rebuild(
    big: tuple[Path, np.ndarray, list[str]],
) -> None:
    path, vectors, ids = big
    ready(path).close()
    store = open_store(path, ann_threshold=1000)
    try:
        queries = unit_rows(30, seed=12)
        assert recall(store, vectors, ids, queries) >= 0.95
        stats = store.cache_stats()
        assert (stats["ann_rebuilds"], stats["ann_loads"], stats["snapshot_loads"]) == (0, 1, 1)
        assert stats["ann_ready"] == 1
    finally:
        store.close()


@needs_usearch
def test_writes_reach_the_graph_without_a_rebuild_and_merge_in_the_background(
    big: tuple[Path, np.ndarray, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from lightmem.stores.sqlite import ann

    monkeypatch.setattr(ann, "MERGE_AT", 4)
    path, _, _ = big
    store = ready(path)
    try:
        before = store.cache_stats()
        fresh = unit_rows(6, seed=13)
        for i, v in enumerate(fresh):
            add(store, ALICE, [f"new fact {i}"], v[None, :], f"n{i}-")
            assert store.search_dense(ALICE, v, 1)[0][0] == f"n{i}-0"
        store.delete_entry("n0-0", reason=None, actor="user")
        assert "n0-0" not in {i for i, _ in store.search_dense(ALICE, fresh[0], 10)}
        assert store.ann_wait(60)
        store.search_dense(ALICE, fresh[1], 1)  # swaps the merged graph in
        stats = store.cache_stats()
        assert stats["ann_rebuilds"] == before["ann_rebuilds"]
        assert stats["ann_merges"] >= 1 and stats["ann_pending"] < 7
        assert stats["loads"] == before["loads"]  # the entry list took the changes too
        assert stats["ann_errors"] == []
    finally:
        store.close()
    store = open_store(path, ann_threshold=1000)
    try:
        assert store.search_dense(ALICE, fresh[5], 1)[0][0] == "n5-0"
        assert "n0-0" not in {i for i, _ in store.search_dense(ALICE, fresh[0], 10)}
        stats = store.cache_stats()
        assert (stats["ann_rebuilds"], stats["ann_loads"]) == (0, 1)
    finally:
        store.close()


@needs_usearch
def test_the_sidecar_of_an_owner_that_shrank_is_deleted(
    big: tuple[Path, np.ndarray, list[str]],
) -> None:
    path, _, _ = big
    ready(path).close()
    assert sidecar_files(path)
    other = open_store(path, ann_threshold=None)  # another process, without the ANN
    try:
        assert other.delete_all(ALICE) == N
    finally:
        other.close()
    store = open_store(path, ann_threshold=1000)
    try:
        assert store.cache_stats()["sidecars_removed"] >= 2  # by the sweep at open
        assert sidecar_files(path) == []
        assert list(Path(f"{path}.ann").iterdir()) == []
    finally:
        store.close()


@needs_usearch
def test_a_sidecar_whose_files_are_missing_or_torn_is_not_trusted(
    big: tuple[Path, np.ndarray, list[str]],
) -> None:
    path, vectors, ids = big
    ready(path).close()
    folder = Path(f"{path}.ann")
    for snapshot in folder.glob("*.slots.npz"):
        snapshot.write_bytes(snapshot.read_bytes()[:100])  # torn
    for graph in sidecar_files(path):
        graph.unlink()  # the metadata names a graph that is gone
    store = open_store(path, ann_threshold=1000)
    try:
        queries = unit_rows(20, seed=14)
        assert recall(store, vectors, ids, queries) >= 0.99  # exact meanwhile
        stats = store.cache_stats()
        assert stats["snapshot_loads"] == 0 and stats["loads"] == 1
        assert store.ann_wait(60)
        assert recall(store, vectors, ids, queries) >= 0.95
        assert store.cache_stats()["ann_rebuilds"] == 1
    finally:
        store.close()


def test_bm25_follows_writes_without_a_reload(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.db")
    try:
        add(store, ALICE, ["red apple", "green pear", "blue plum"], unit_rows(3), "a")
        assert [i for i, _ in store.search_bm25(ALICE, "apple", 5)] == ["a0"]
        loads = store.cache_stats()["loads"]
        add(store, ALICE, ["apple pie"], unit_rows(1, seed=1), "b")
        store.update_entry("a1", "apple tart", unit_rows(1, seed=2)[0], reason=None, actor="user")
        store.delete_entry("a0", reason=None, actor="user")
        assert {i for i, _ in store.search_bm25(ALICE, "apple", 5)} == {"b0", "a1"}
        assert [i for i, _ in store.search_bm25(ALICE, "tart", 5)] == ["a1"]
        assert store.search_bm25(ALICE, "pear", 5) == []
        assert [i for i, _ in store.search_dense(ALICE, unit_rows(1, seed=2)[0], 1)] == ["a1"]
        assert store.cache_stats()["loads"] == loads
        # The same scores as an index built from scratch.
        fresh = open_store(tmp_path / "s.db")
        try:
            want = fresh.search_bm25(ALICE, "apple tart plum", 5)
            got = store.search_bm25(ALICE, "apple tart plum", 5)
            assert [i for i, _ in got] == [i for i, _ in want]
            assert [s for _, s in got] == pytest.approx([s for _, s in want])
        finally:
            fresh.close()
    finally:
        store.close()


def test_owner_keys_read_back() -> None:
    from lightmem.stores.sqlite.search import owner_key, owner_of_key

    for scope in (ALICE, Scope(user_id="o'neil", agent_id="a b"), Scope(agent_id="x")):
        assert owner_of_key(owner_key(scope)) == scope
    assert owner_of_key("garbage") is None
