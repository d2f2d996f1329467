"""One tenant's long read never holds the others up (issue 19, finding 1): reads run on
connections of their own beside the one writer, and an export reads in chunks whose work
grows with the tenant's size, not with its square (the consolidation pairs were a join of
the tenant's entries with themselves)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lightmem.stores.sqlite import SQLiteStore
from lightmem.types import Entry, Scope

DIM = 8
BIG = Scope("big")


def open_store(path: Path) -> SQLiteStore:
    store = SQLiteStore(SQLiteStore.Options(path=str(path)))
    store.open(DIM)
    return store


def fill(store: SQLiteStore, n: int) -> None:
    entries = [Entry(id=f"e{i:06d}", scope=BIG, text=f"word{i}") for i in range(n)]
    vectors = np.ones((n, DIM), dtype=np.float32)
    store.add_entries(entries, vectors, actor="import")
    pairs = [(f"e{i:06d}", [f"e{i + 1:06d}"]) for i in range(0, n - 1, 10)]
    for target, sources in pairs:
        store.apply_decision(target, sources, "ignore", reason="kept both")


def test_a_long_read_holds_up_neither_reads_nor_writes(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.sqlite3")
    inside, release = threading.Event(), threading.Event()

    def long_read(c: sqlite3.Connection) -> None:
        c.execute("SELECT count(*) FROM entries").fetchone()
        inside.set()
        release.wait(10)

    reader = threading.Thread(target=lambda: store._db.read("long", long_read))
    reader.start()
    try:
        assert inside.wait(10)
        t0 = time.monotonic()
        assert store.find_api_key("0" * 64) is None  # what every request does first
        store.set_meta("probe", "1")
        assert store.get_meta("probe") == "1"  # a write, then a read that sees it
        took = time.monotonic() - t0
    finally:
        release.set()
        reader.join()
        store.close()
    assert took < 2, f"a key lookup and a write waited {took:.1f} s behind a long read"


def steps_of_export(store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> int:
    """SQLite virtual-machine steps the tenant's export costs, on every connection."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    connect = sqlite3.connect

    def counted(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)
        conn.set_progress_handler(count, 100)
        return conn

    monkeypatch.setattr(sqlite3, "connect", counted)
    store._db.close()
    store._db.connect()
    records = list(store.export_records(BIG))
    assert sum(r["kind"] == "pair" for r in records) > 0
    return steps[0]


def test_export_work_grows_linearly_with_the_tenant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = {}
    for n in (1000, 4000):
        store = open_store(tmp_path / f"{n}.sqlite3")
        fill(store, n)
        steps[n] = steps_of_export(store, monkeypatch)
        store.close()
    ratio = steps[4000] / steps[1000]
    print(f"\nexport work, 1000 -> 4000 entries: {steps} ({ratio:.2f}x)")
    assert ratio < 6, f"4x the entries cost {ratio:.1f}x the work: {steps}"  # quadratic: ~16x
