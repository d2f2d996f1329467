"""What only the SQLite store does: migrations, WAL and pragmas, several connections on one
file, locks, read-only and foreign files. The shared behaviour is in ``tests/stores/contract``."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lightmem.config import parse_options
from lightmem.errors import ConfigError, InputError, StorageError
from lightmem.registry import registry
from lightmem.stores.base import Store
from lightmem.stores.sqlite import SQLiteStore
from lightmem.stores.sqlite import migrations as mig
from lightmem.types import Entry, Scope, Turn

DIM = 8
ALICE = Scope(user_id="alice")


def unit(i: int, dim: int = DIM) -> np.ndarray:
    v = np.zeros(dim, dtype=np.float32)
    v[i % dim] = 1.0
    return v


def make(path: Path, busy_timeout_ms: int = 30000, dim: int = DIM) -> SQLiteStore:
    store = SQLiteStore(SQLiteStore.Options(path=str(path), busy_timeout_ms=busy_timeout_ms))
    store.open(dim)
    return store


def add_entry(store: Store, eid: str, text: str, i: int) -> None:
    store.add_entries([Entry(id=eid, scope=ALICE, text=text)], unit(i)[None, :], actor="user")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[SQLiteStore]:
    s = make(db_path)
    yield s
    s.close()


def test_registered_under_its_provider_name() -> None:
    assert registry.resolve("store", "sqlite", Store) is SQLiteStore


def test_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="busy_timout_ms"):
        parse_options(SQLiteStore.Options, {"path": "x.db", "busy_timout_ms": 5}, "store")
    opts = parse_options(SQLiteStore.Options, {"path": "x.db"}, "store")
    assert opts.busy_timeout_ms == 30000
    with pytest.raises(ConfigError, match="path"):
        SQLiteStore()


def test_schema_version_pragmas_and_dimension_are_recorded(
    store: SQLiteStore, db_path: Path
) -> None:
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == mig.latest_version()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT value FROM meta WHERE key = 'dim'").fetchone()[0] == str(DIM)
    finally:
        conn.close()
    assert store.dim == DIM
    # foreign keys are enforced where rows are written; reads run on connections that
    # cannot write
    assert store._db.write("fk", lambda c: c.execute("PRAGMA foreign_keys").fetchone()[0]) == 1
    assert store._db.read("ro", lambda c: c.execute("PRAGMA query_only").fetchone()[0]) == 1


def test_reserved_meta_keys_are_refused(store: SQLiteStore) -> None:
    with pytest.raises(InputError):
        store.set_meta("dim", "3")
    assert store.get_meta("dim") == str(DIM)


def test_a_new_migration_upgrades_an_old_store(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = make(db_path)
    add_entry(old, "e1", "kept across the upgrade", 0)
    old.close()
    latest = mig.latest_version()

    def add_notes_table(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")

    monkeypatch.setitem(mig.MIGRATIONS, latest + 1, add_notes_table)
    new = make(db_path)
    try:
        assert new.get_entry("e1").text == "kept across the upgrade"
        version = new._db.read("v", mig.schema_version)
        assert version == latest + 1
        assert (
            new._db.read("t", lambda c: c.execute("SELECT COUNT(*) FROM notes").fetchone()[0]) == 0
        )
    finally:
        new.close()


def test_a_failing_migration_rolls_back_and_the_store_is_not_opened(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(db_path).close()
    latest = mig.latest_version()

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x INTEGER)")
        conn.execute("INSERT INTO no_such_table VALUES (1)")

    monkeypatch.setitem(mig.MIGRATIONS, latest + 1, broken)
    store = SQLiteStore(SQLiteStore.Options(path=str(db_path)))
    with pytest.raises(StorageError, match="migration"):
        store.open(DIM)
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == latest
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "half_done" not in tables
    finally:
        conn.close()


def test_a_store_from_a_newer_version_is_refused(db_path: Path) -> None:
    make(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {mig.latest_version() + 1}")
    conn.close()
    with pytest.raises(StorageError, match="upgrade LightMem"):
        make(db_path)


def test_two_instances_on_one_file_see_each_others_writes(db_path: Path) -> None:
    a, b = make(db_path), make(db_path)
    try:
        add_entry(a, "e1", "written by a", 0)
        assert [i for i, _ in a.search_dense(ALICE, unit(1), 5)] == ["e1"]  # a's cache is warm
        add_entry(b, "e2", "written by b", 1)
        assert [i for i, _ in a.search_dense(ALICE, unit(1), 5)] == ["e2", "e1"]
        b.update_entry("e1", "changed by b", unit(2), reason=None, actor="user")
        assert [i for i, _ in a.search_dense(ALICE, unit(2), 1)] == ["e1"]
        b.delete_entry("e2", reason=None, actor="user")
        assert [i for i, _ in a.search_dense(ALICE, unit(1), 5)] == ["e1"]
        assert [i for i, _ in a.search_bm25(ALICE, "changed", 5)] == ["e1"]
    finally:
        a.close()
        b.close()


def test_a_held_lock_times_out_with_a_clear_error_then_recovers(db_path: Path) -> None:
    store = make(db_path, busy_timeout_ms=20)
    other = sqlite3.connect(db_path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StorageError, match="locked"):
            store.add_turns([Turn(id="t1", scope=ALICE, seq=0, role="user", content="hi")])
        other.execute("ROLLBACK")
        store.add_turns([Turn(id="t1", scope=ALICE, seq=0, role="user", content="hi")])
        assert [t.id for t in store.list_turns(ALICE)] == ["t1"]
    finally:
        other.close()
        store.close()


def test_a_lock_released_during_the_retries_is_waited_for(db_path: Path) -> None:
    store = make(db_path, busy_timeout_ms=20)
    other = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.08, lambda: other.execute("ROLLBACK"))
    release.start()
    try:
        store.add_turns([Turn(id="t1", scope=ALICE, seq=0, role="user", content="hi")])
        assert len(store.list_turns(ALICE)) == 1
    finally:
        release.join()
        other.close()
        store.close()


def test_a_closed_store_raises_storage_error(db_path: Path) -> None:
    store = make(db_path)
    store.close()
    store.close()  # closing twice is harmless
    with pytest.raises(StorageError, match="not open"):
        store.list_turns(ALICE)


def test_a_foreign_file_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all" * 200)
    with pytest.raises(StorageError, match="not a SQLite database"):
        make(junk)
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE turns (x)")
    conn.close()
    with pytest.raises(StorageError):
        make(other)


_READ_ONLY_PROBE = textwrap.dedent(
    """
    import sys
    from lightmem.errors import StorageError
    from lightmem.stores.sqlite import SQLiteStore
    from lightmem.types import Scope, Turn
    store = SQLiteStore(SQLiteStore.Options(path=sys.argv[1]))
    try:
        store.open(8)
        store.add_turns([Turn(id="t", scope=Scope("u"), seq=0, role="user", content="x")])
    except StorageError as exc:
        print(exc)
        sys.exit(3)
    sys.exit(0)
    """
)


def test_a_read_only_file_gives_a_clear_storage_error() -> None:
    # Root ignores file modes, so as root the probe runs as 'nobody' in a world-readable dir.
    as_root = os.geteuid() == 0
    if as_root and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot make a file read-only")
    folder = Path(tempfile.mkdtemp(prefix="lightmem-ro-"))
    try:
        folder.chmod(0o755)
        path = folder / "store.db"
        make(path).close()
        path.chmod(0o444)
        folder.chmod(0o555)
        cmd = [sys.executable, "-c", _READ_ONLY_PROBE, str(path)]
        if as_root:
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
        src = str(Path(__file__).resolve().parents[3] / "src")
        env = {**os.environ, "PYTHONPATH": src}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
        if as_root and done.returncode not in (0, 3):
            pytest.skip(f"cannot run the probe as nobody: {done.stderr.strip()[-300:]}")
        assert done.returncode == 3, done.stdout + done.stderr
        assert "read-only" in done.stdout
        assert str(path) in done.stdout
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder, ignore_errors=True)


def test_warm_dense_search_over_10k_entries_is_fast(tmp_path: Path) -> None:
    dim, n = 384, 10_000
    store = make(tmp_path / "big.db", dim=dim)
    try:
        rng = np.random.default_rng(0)
        vectors = rng.standard_normal((n, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        entries = [Entry(id=f"e{i}", scope=ALICE, text=f"fact {i}") for i in range(n)]
        store.add_entries(entries, vectors, actor="import")
        store.search_dense(ALICE, vectors[0], 10)  # warm the cache
        timings = []
        for i in range(20):
            t0 = time.perf_counter()
            hits = store.search_dense(ALICE, vectors[i], 10)
            timings.append(time.perf_counter() - t0)
            assert hits[0][0] == f"e{i}"
        # ~1-2 ms on a laptop; the bound is loose so a busy CI machine does not flake.
        assert sorted(timings)[len(timings) // 2] < 0.05
    finally:
        store.close()


class _Said:
    """A connection that keeps the SQL it is given and finds nothing."""

    def __init__(self) -> None:
        self.sql: list[tuple[str, list[object]]] = []

    def execute(self, sql: str, params: list[object]) -> _Said:
        self.sql.append((sql, list(params)))
        return self

    def fetchall(self) -> list[object]:
        return []


@pytest.mark.parametrize(
    ("which", "index"),
    [({"pinned": True}, "entries_pinned"), ({"kind": "summary"}, "entries_kind")],
)
def test_a_listing_of_pinned_or_one_kind_is_served_by_its_partial_index(
    store: SQLiteStore, db_path: Path, which: dict[str, object], index: str
) -> None:
    """The proxy lists a user's pinned memories and latest summaries with every request:
    by a partial index, not a scan (and a sort) of every memory of the owner."""
    from lightmem.stores.sql import entries
    from lightmem.stores.sqlite.dialect import SQLiteDialect

    said = _Said()
    entries.list_entries(
        said, SQLiteDialect(), Scope("alice"), False, 5, 0, newest_first=True, **which
    )
    ((sql, params),) = said.sql
    with sqlite3.connect(db_path) as conn:
        plan = " ".join(str(row[-1]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
    assert f"USING INDEX {index}" in plan and "TEMP B-TREE" not in plan
