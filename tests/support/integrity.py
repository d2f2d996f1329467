"""Whole-store consistency checks shared by the crash and concurrency tests.

They read the store only through :class:`~lightmem.Memory` and the store interface, plus
SQLite's own ``PRAGMA integrity_check`` for a SQLite store.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lightmem import Memory
from lightmem.engine.storedir import SQLITE_FILE
from lightmem.types import EntryStatus, HistoryEvent, Scope


@dataclass(slots=True)
class Checked:
    turns: int = 0
    entries: int = 0
    updates: int = 0


def sqlite_integrity(store_dir: Path) -> None:
    """SQLite's own check of the file, and the search index against the entries table
    (an FTS5 table in schema 1, stored term rows in later ones)."""
    conn = sqlite3.connect(store_dir / SQLITE_FILE)
    try:
        rows = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        problems = []
        if "entries_fts" in tables:
            conn.execute("INSERT INTO entries_fts (entries_fts) VALUES ('integrity-check')")
            stale = conn.execute(
                """SELECT COUNT(*) FROM entries e LEFT JOIN entries_fts f ON f.rowid = e.pk
                   WHERE e.status = 'active' AND (f.text IS NULL OR f.text != e.text)"""
            ).fetchone()[0]
            if stale:
                problems.append(f"{stale} active entries whose full-text row is missing or stale")
        if "search_index" in tables:
            missing = conn.execute(
                """SELECT COUNT(*) FROM entries e LEFT JOIN search_index s ON s.pk = e.pk
                   WHERE s.pk IS NULL"""
            ).fetchone()[0]
            if missing:
                problems.append(f"{missing} entries without a search index row")
    finally:
        conn.close()
    assert rows == ["ok"], rows[:10]
    assert not problems, problems


def turn_numbers(mem: Memory, owner: Scope, key: int = 2) -> list[str]:
    """Word ``key`` of every stored turn of ``owner`` (the test's label of the turn)."""
    return [t.content.split()[key] for t in mem.turns(user_id=owner.user_id)]


def assert_exactly_once(stored: list[str], acked: set[str]) -> None:
    twice = sorted(k for k, n in Counter(stored).items() if n > 1)
    assert not twice, f"turns stored more than once: {twice[:10]}"
    lost = sorted(acked - set(stored))
    assert not lost, f"acknowledged turns lost: {lost[:10]} ({len(lost)} in all)"


def assert_entries_whole(mem: Memory, owner: Scope) -> Checked:
    """No entry is half-updated: its vector is the embedding of its current text, its
    version counts its updates, and its history is one chain ending at its text."""
    out = Checked()
    turns = mem.turns(user_id=owner.user_id, agent_id=owner.agent_id)
    turn_ids = {t.id for t in turns}
    out.turns = len(turns)
    entries = mem.get_all(user_id=owner.user_id, agent_id=owner.agent_id, include_deleted=True)
    vectors = mem.store.entry_vectors([e.id for e in entries])
    for e in entries:
        out.entries += 1
        assert e.sources and set(e.sources) <= turn_ids, f"{e.id}: sources {e.sources}"
        assert e.id in vectors, f"{e.id}: no vector"
        expected = mem.embedder.embed([e.text])[0]
        assert np.allclose(vectors[e.id], expected, atol=1e-5), (
            f"{e.id}: the vector is not the embedding of the entry's text {e.text[:80]!r}"
        )
        history = mem.store.history(e.id)
        assert history and history[0].event == HistoryEvent.ADD, f"{e.id}: {history[:1]}"
        assert history[0].old_text is None
        text = history[0].new_text
        updates = 0
        for rec in history[1:]:
            assert rec.old_text == text, f"{e.id}: history chain broken at {rec.id}"
            if rec.event == HistoryEvent.UPDATE:
                updates += 1
                text = rec.new_text
        out.updates += updates
        assert text == e.text, f"{e.id}: last history text {text!r} is not {e.text!r}"
        assert e.version == 1 + updates, f"{e.id}: version {e.version}, {updates} update(s)"
        deleted = any(r.event in (HistoryEvent.DELETE, HistoryEvent.MERGE) for r in history)
        assert (e.status == EntryStatus.DELETED) == deleted, f"{e.id}: {e.status} {history}"
    covered = {s for e in entries for s in e.sources}
    extracted = {t.id for t in turns if t.stage.value == "extracted"}
    assert extracted <= covered, f"{len(extracted - covered)} extracted turn(s) in no entry"
    return out
