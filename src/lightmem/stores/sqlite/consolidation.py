"""Store side of sleep-time consolidation: the queue, decided pairs, and decisions applied
atomically with their pairs, so a re-run never applies a decision twice."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from lightmem.errors import InputError, NotFoundError, StorageError
from lightmem.stores.base import Decision
from lightmem.stores.sqlite.codec import (
    dump_list,
    load_list,
    placeholders,
    scope_where,
    to_iso,
)
from lightmem.stores.sqlite.entries import add_history, entry_row, tombstone
from lightmem.stores.sqlite.turns import chunks, rows_by_id
from lightmem.types import EntryStatus, HistoryEvent, Scope

ACTOR = "consolidation"
DECISIONS = ("update", "delete", "ignore", "merge")


def consolidation_queue(
    conn: sqlite3.Connection, scope: Scope | None, limit: int | None
) -> list[str]:
    where = "consolidated = 0 AND status = 'active'"
    params: list[object] = []
    if scope is not None:
        sw, params = scope_where(scope)
        where += f" AND {sw}"
    sql = f"SELECT id FROM entries WHERE {where} ORDER BY pk LIMIT ?"
    params.append(-1 if limit is None else max(0, limit))
    return [r["id"] for r in conn.execute(sql, params)]


def pairs_done(conn: sqlite3.Connection, target_id: str, source_ids: list[str]) -> set[str]:
    done: set[str] = set()
    for part in chunks(list(dict.fromkeys(source_ids))):
        sql = (
            "SELECT source_id FROM consolidation_pairs "
            f"WHERE target_id = ? AND source_id IN ({placeholders(len(part))})"
        )
        done.update(r["source_id"] for r in conn.execute(sql, [target_id, *part]))
    return done


def mark_consolidated(conn: sqlite3.Connection, entry_ids: list[str]) -> None:
    for part in chunks(list(dict.fromkeys(entry_ids))):
        sql = f"UPDATE entries SET consolidated = 1 WHERE id IN ({placeholders(len(part))})"
        conn.execute(sql, part)


def check_decision(
    target_id: str,
    source_ids: list[str],
    decision: Decision,
    new_text: str | None,
    blob: bytes | None,
) -> None:
    """Refuse malformed decisions before anything is read or written."""
    if decision not in DECISIONS:
        raise InputError(f"apply_decision: unknown decision {decision!r}; use one of {DECISIONS}")
    if not source_ids:
        raise InputError("apply_decision: at least one source entry is required")
    if target_id in source_ids:
        raise InputError(f"apply_decision: entry {target_id!r} is both target and source")
    if decision == "update" and (not new_text or blob is None):
        raise InputError("apply_decision: 'update' needs new_text and a vector")


def apply_decision(
    conn: sqlite3.Connection,
    target_id: str,
    source_ids: list[str],
    decision: Decision,
    *,
    new_text: str | None,
    blob: bytes | None,
    reason: str | None,
    now: datetime,
) -> bool:
    sources = list(dict.fromkeys(source_ids))
    check_decision(target_id, sources, decision, new_text, blob)
    if pairs_done(conn, target_id, sources):
        return False
    target = entry_row(conn, target_id)
    if target is None:
        raise NotFoundError(f"apply_decision: no memory entry with id {target_id!r}")
    rows = rows_by_id(conn, "entries", sources)
    missing = [s for s in sources if s not in rows]
    if missing:
        raise NotFoundError(f"apply_decision: no memory entry with id(s) {', '.join(missing)}")
    owner = (target["user_id"], target["agent_id"])
    foreign = [s for s in sources if (rows[s]["user_id"], rows[s]["agent_id"]) != owner]
    if foreign:
        raise StorageError(
            f"apply_decision: source(s) {', '.join(foreign)} belong to another scope than "
            f"target {target_id!r}"
        )
    conn.executemany(
        "INSERT INTO consolidation_pairs (target_id, source_id) VALUES (?, ?)",
        [(target_id, s) for s in sources],
    )
    if target["status"] != EntryStatus.ACTIVE.value:
        return True  # decided against an entry that is gone: only the pairs are recorded
    if decision == "update":
        assert new_text is not None
        conn.execute(
            """UPDATE entries SET text = ?, vector = ?, version = version + 1, updated_at = ?
               WHERE id = ?""",
            (new_text, blob, to_iso(now), target_id),
        )
        add_history(
            conn, target_id, HistoryEvent.UPDATE, target["text"], new_text, reason, ACTOR, now
        )
    elif decision == "delete":
        tombstone(
            conn, target, HistoryEvent.DELETE, new_text=None, reason=reason, actor=ACTOR, now=now
        )
    elif decision == "merge":
        _merge(conn, target, [rows[s] for s in sources], reason=reason, now=now)
    return True


def _merge(
    conn: sqlite3.Connection,
    target: sqlite3.Row,
    sources: list[sqlite3.Row],
    *,
    reason: str | None,
    now: datetime,
) -> None:
    """Tombstone the target and hand its source turns to the first *active* source entry
    (an earlier decision may have retired the first one). With no active source left the
    target stays as it is: retiring it would lose its fact."""
    receiver = next((r for r in sources if r["status"] == EntryStatus.ACTIVE.value), None)
    if receiver is None:
        return
    merged = list(dict.fromkeys(load_list(receiver["sources"]) + load_list(target["sources"])))
    conn.execute(
        "UPDATE entries SET sources = ?, updated_at = ? WHERE id = ?",
        (dump_list(merged), to_iso(now), receiver["id"]),
    )
    tombstone(
        conn,
        target,
        HistoryEvent.MERGE,
        new_text=receiver["text"],
        reason=reason if reason is not None else f"merged into {receiver['id']}",
        actor=ACTOR,
        now=now,
    )
