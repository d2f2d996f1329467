"""Migration 4 (forgetting) on a store written before it: data and history kept, the new
columns and history events work, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lightmem.stores.base import Store
from lightmem.stores.postgres import migrations as pg_mig
from lightmem.stores.sqlite import SQLiteStore
from lightmem.stores.sqlite import migrations as sqlite_mig
from lightmem.types import Entry, HistoryEvent, Scope
from tests.pg import PgServer

DIM = 4
ALICE = Scope("alice")


def write_old(store: Store) -> None:
    store.open(DIM)
    vectors = np.eye(DIM, dtype=np.float32)[:2]
    entries = [Entry(f"e{i}", ALICE, f"fact {i}") for i in range(2)]
    store.add_entries(entries, vectors, actor="import")  # (the old schema: no reads back)
    store.close()


def check_new(store: Store) -> None:
    store.open(DIM)
    try:
        assert [r.event for r in store.history("e0")] == [HistoryEvent.ADD]
        assert [e.text for e in store.list_entries(ALICE)] == ["fact 0", "fact 1"]
        entry = store.set_entry_flags("e0", pinned=True, actor="user")
        assert entry.pinned and entry.expires_at is None
        assert store.history("e0")[-1].event == HistoryEvent.PIN
        assert store.forget_entries(["e1"], reason=None, actor="user") == 1
        assert store.history("e1")[-1].event == HistoryEvent.FORGET
        erased = store.erase(ALICE, ["e1"], [], cause="forget", actor="user")
        assert erased.entries == 1 and [e.id for e in store.list_entries(ALICE)] == ["e0"]
    finally:
        store.close()


def test_sqlite_store_of_version_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(tmp_path / "old.db")
    with monkeypatch.context() as m:
        m.setattr(sqlite_mig, "MIGRATIONS", {v: sqlite_mig.MIGRATIONS[v] for v in (1, 2)})
        write_old(SQLiteStore(SQLiteStore.Options(path=path)))
    check_new(SQLiteStore(SQLiteStore.Options(path=path)))


def test_postgres_store_of_version_2(
    pg_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as m:
        m.setattr(pg_mig, "MIGRATIONS", {v: pg_mig.MIGRATIONS[v] for v in (1, 2)})
        write_old(pg_server.store(tmp_path, "old"))
    check_new(pg_server.store(tmp_path, "old"))
