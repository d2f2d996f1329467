"""Migrations 4 (forgetting) and 6 (images, forgotten turns, decisions) on a store written
before them: data and history kept, the new columns work, on SQLite and PostgreSQL. The
version numbers have a gap (5 belongs to another change): a store passes over it, and a
LightMem that defines 5 later applies it to a store already at 6."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lightmem.stores.base import Store
from lightmem.stores.postgres import migrations as pg_mig
from lightmem.stores.sql.codec import utcnow
from lightmem.stores.sql.store import SQLStore
from lightmem.stores.sqlite import SQLiteStore
from lightmem.stores.sqlite import migrations as sqlite_mig
from lightmem.types import HistoryEvent, ImageRef, Scope, Turn
from tests.pg import PgServer

DIM = 4
ALICE = Scope("alice")


def write_old(store: SQLStore) -> None:
    """Two entries and their history, as a store of the old schema holds them (raw SQL:
    today's write paths know columns the old schema lacks)."""
    store.open(DIM)
    now = store.dialect.dump_time(utcnow())

    def run(c: Any) -> None:
        for i in range(2):
            c.execute(
                """INSERT INTO entries (id, user_id, text, origin, status, created_at,
                   updated_at) VALUES (?, 'alice', ?, 'manual', 'active', ?, ?)""",
                (f"e{i}", f"fact {i}", now, now),
            )
            c.execute(
                """INSERT INTO history (entry_id, event, new_text, actor, created_at)
                   VALUES (?, 'ADD', ?, 'import', ?)""",
                (f"e{i}", f"fact {i}", now),
            )

    store._db.write("old rows", run)
    store.close()


def check_new(store: Store) -> None:
    store.open(DIM)
    try:
        assert [r.event for r in store.history("e0")] == [HistoryEvent.ADD]
        assert [e.text for e in store.list_entries(ALICE)] == ["fact 0", "fact 1"]
        assert all(e.images == [] for e in store.list_entries(ALICE))
        # schema 8: old memories are current until something replaces them; the change log
        # follows every write from the migration on
        assert all(e.current and e.valid_until is None for e in store.list_entries(ALICE))
        before = store.last_change(ALICE) or 0
        moved = store.set_validity(
            "e1", superseded_by="e0", valid_until=None, reason=None, actor="user"
        )
        assert moved.superseded_by == "e0" and store.history("e1")[-1].event.value == "SUPERSEDE"
        assert [row for _, _, row in store.changes_since(ALICE, before)] == ["e1"]
        store.set_validity("e1", superseded_by=None, valid_until=None, reason=None, actor="user")
        entry = store.set_entry_flags("e0", pinned=True, actor="user")
        assert entry.pinned and entry.expires_at is None
        assert store.history("e0")[-1].event == HistoryEvent.PIN
        # schema 6: turns with images, their vectors, forgotten turns, decided pairs
        store.add_turns(
            [Turn("t1", ALICE, 0, "user", "look", images=[ImageRef("a.png", "a red kite")])]
        )
        store.set_image_vectors([("t1", 0)], "m", np.ones((1, 3), dtype=np.float32))
        assert list(store.image_vectors(ALICE, "m")) == [("t1", 0)]
        assert store.apply_decision("e0", ["e1"], "ignore", reason="unrelated")
        assert [d.decision for d in store.decisions("e1")] == ["ignore"]
        assert (
            store.forget_entries(["e1"], reason=None, actor="user", owner=ALICE, turn_ids=["t1"])
            == 1
        )
        assert store.history("e1")[-1].event == HistoryEvent.FORGET
        assert store.get_turns(["t1"])[0].forgotten
        erased = store.erase(ALICE, ["e1"], ["t1"], cause="forget", actor="user")
        assert erased.entries == 1 and [e.id for e in store.list_entries(ALICE)] == ["e0"]
        assert store.image_vectors(ALICE, "m") == {}  # gone with its turn
    finally:
        store.close()


def without(migrations: dict[int, Any], *left_out: int) -> dict[int, Any]:
    return {v: fn for v, fn in migrations.items() if v not in left_out}


def columns(store: Any, table: str, sqlite: bool) -> set[str]:
    sql = (
        f"SELECT name FROM pragma_table_info('{table}')"
        if sqlite
        else f"SELECT column_name AS name FROM information_schema.columns "
        f"WHERE table_name = '{table}' AND table_schema = current_schema()"
    )
    return store._db.read("cols", lambda c: {r["name"] for r in c.execute(sql).fetchall()})


def test_sqlite_store_of_version_2_then_a_late_migration_5(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "old.db")
    with monkeypatch.context() as m:
        m.setattr(sqlite_mig, "MIGRATIONS", {v: sqlite_mig.MIGRATIONS[v] for v in (1, 2)})
        write_old(SQLiteStore(SQLiteStore.Options(path=path)))
    # a LightMem without migration 5 (merged later) takes the store past it to 6
    with monkeypatch.context() as m:
        m.setattr(sqlite_mig, "MIGRATIONS", without(sqlite_mig.MIGRATIONS, 5))
        store = SQLiteStore(SQLiteStore.Options(path=path))
        store.open(DIM)
        assert store.get_meta("skipped_migrations") == "[5]"
        assert "images" in columns(store, "entries", True)
        assert "kind" not in columns(store, "entries", True)
        store.close()
    # the LightMem that defines 5 applies it once, to a store already at 6
    for _ in range(2):
        store = SQLiteStore(SQLiteStore.Options(path=path))
        store.open(DIM)
        assert store.get_meta("skipped_migrations") == "[]"
        assert {"kind", "meta", "images"} <= columns(store, "entries", True)
        store.close()
    check_new(SQLiteStore(SQLiteStore.Options(path=path)))


def test_postgres_store_of_version_2_then_a_late_migration_5(
    pg_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as m:
        m.setattr(pg_mig, "MIGRATIONS", {v: pg_mig.MIGRATIONS[v] for v in (1, 2)})
        write_old(pg_server.store(tmp_path, "old"))
    with monkeypatch.context() as m:
        m.setattr(pg_mig, "MIGRATIONS", without(pg_mig.MIGRATIONS, 5))
        store = pg_server.store(tmp_path, "old")
        store.open(DIM)
        assert "images" in columns(store, "entries", False)
        assert "kind" not in columns(store, "entries", False)
        store.close()
    for _ in range(2):
        store = pg_server.store(tmp_path, "old")
        store.open(DIM)
        assert {"kind", "meta", "images"} <= columns(store, "entries", False)
        store.close()
    check_new(pg_server.store(tmp_path, "old"))
