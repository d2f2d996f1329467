"""Right to erasure: after ``forget(..., purge=True)`` the text is in no table, index,
export or backup made afterwards, on every backend, and in no byte of any file of a SQLite
store (database, -wal, -shm, sidecars)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lightmem import Memory

SECRET = "Quetzalcoatlus"  # a word no other text holds
TEXTS = [
    f"my locker code is hidden under the {SECRET} poster",
    "I water the ferns on Sundays",
    f"the {SECRET} poster came from the museum shop",
]


def store_files(mem: Memory) -> list[Path]:
    return sorted(p for p in Path(mem.path).rglob("*") if p.is_file())


def secret_in_files(mem: Memory) -> list[str]:
    needle = SECRET.encode()
    found = []
    for p in store_files(mem):
        data = p.read_bytes()
        if needle in data or needle.lower() in data.lower():
            found.append(p.name)
    return found


def postgres_rows_with_secret(mem: Memory) -> dict[str, int]:
    """Rows of every table of the store's schema whose text form holds the secret."""
    store: Any = mem.store
    pool = store._db._pool

    with pool.connection() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            ).fetchall()
        ]
        out = {}
        for t in tables:
            sql = f'SELECT count(*) FROM "{t}" AS r WHERE r::text ILIKE %s'
            out[t] = conn.execute(sql.encode(), (f"%{SECRET}%",)).fetchone()[0]
        fts = conn.execute(
            "SELECT count(*) FROM entries WHERE tsv @@ to_tsquery('simple', %s)", (SECRET.lower(),)
        ).fetchone()[0]
        out["entries.tsv"] = fts
    return {t: n for t, n in out.items() if n}


def test_purge_erases_everywhere(backend: str, open_memory: Callable[[], Memory]) -> None:
    mem = open_memory()
    mem.add([{"role": "user", "content": t} for t in TEXTS[:2]], user_id="alice")
    # an idempotency key (and the digest of its request) names the secret too
    mem.add(TEXTS[2], user_id="alice", idempotency_key=f"note-{SECRET}-1")
    mem.add([{"role": "user", "content": "bob also likes museum posters"}], user_id="bob")
    mem.flush()
    first, ferns = mem.get_all(user_id="alice")[:2]
    # an edit puts the secret in history too; a search fills the per-owner indexes
    mem.update(first.id, f"locker code: under the {SECRET} poster (edited)", reason="typo")
    # and another memory's edit reason quotes it: that memory stays, the words go
    mem.update(ferns.id, "I water the ferns on Sundays and Wednesdays", reason=f"not {SECRET}")
    assert any(SECRET in h.text for h in mem.search(SECRET, user_id="alice"))
    assert SECRET in "".join(str(r) for r in mem.export(user_id="alice"))
    if backend == "sqlite":
        assert secret_in_files(mem), "the test must see the secret in the files first"

    preview = mem.forget(SECRET, user_id="alice", purge=True, dry_run=True)
    assert len(preview.memories) == 2 and len(preview.turns) == 2
    result = mem.forget(SECRET, user_id="alice", purge=True)
    assert result.purged and result.compacted
    assert (result.erased_entries, result.erased_turns) == (2, 2)

    for query in (SECRET, "locker code poster", "museum poster"):
        for mode in ("dense", "bm25", "hybrid"):
            hits = mem.search(query, user_id="alice", mode=mode, limit=20)
            assert not any(SECRET in h.text for h in hits), (query, mode)
    exported = "".join(str(r) for r in mem.export())
    assert SECRET not in exported and SECRET.lower() not in exported.lower()
    assert len(mem.get_all(user_id="alice", include_deleted=True)) == 1
    assert len(mem.turns(user_id="alice")) == 1
    assert [h.reason for h in mem.history(ferns.id)][-1] == "not [user text removed]"
    assert len(mem.get_all(user_id="bob")) == 1  # bob untouched
    assert mem.erasures(user_id="alice")[-1]["entries"] == 2
    # the key is gone with the turn it stored: a retry stores the turn again
    again = mem.add(TEXTS[2], user_id="alice", idempotency_key=f"note-{SECRET}-1")
    assert not again.replayed
    assert mem.forget(SECRET, user_id="alice", purge=True).erased_turns == 1

    if backend == "sqlite":
        assert secret_in_files(mem) == []  # while open: database, -wal, -shm
        backup = Path(mem.path) / "backup.sqlite3"
        src = sqlite3.connect(Path(mem.path) / "lightmem.sqlite3")
        dst = sqlite3.connect(backup)
        src.backup(dst)
        src.close()
        dst.close()
        assert SECRET.encode() not in backup.read_bytes()
        mem.close()
        assert secret_in_files(mem) == []  # after close (sidecars written)
        reopened = open_memory()
        assert not any(SECRET in h.text for h in reopened.search(SECRET, user_id="alice"))
    else:
        assert postgres_rows_with_secret(mem) == {}


def test_a_purge_by_id_takes_a_word_only_the_erased_text_said_out_of_other_reasons(
    backend: str, open_memory: Callable[[], Memory]
) -> None:
    """Erased by id (no query words): a reason quoting one word of it kept that word, as it
    is no run of three (black-box probe, round 3). A word nothing kept says goes alone; a
    word the kept memories say too stays."""
    mem = open_memory()
    mem.add("my gym locker code is zq7731 this month", user_id="alice")
    mem.add("I go to the gym on Mondays", user_id="alice")
    mem.flush()
    code, gym = mem.get_all(user_id="alice")
    mem.update(gym.id, "I go to the gym on Mondays and Fridays", reason="gym days, see zq7731")
    result = mem.forget(ids=[code.id], user_id="alice", purge=True)
    assert result.erased_entries == 1 and result.erased_turns == 1
    assert [h.reason for h in mem.history(gym.id)][-1] == "gym days, see [user text removed]"
    assert "zq7731" not in "".join(str(r) for r in mem.export(user_id="alice"))
