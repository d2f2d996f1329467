"""Store side of sleep-time consolidation: the queue, decided pairs, and decisions applied
atomically with their pairs, so a re-run never applies a decision twice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lightmem.errors import InputError, NotFoundError, StorageError
from lightmem.stores.base import Decision
from lightmem.stores.sql.codec import (
    ENTRY_FIELDS,
    Row,
    dump_images,
    dump_list,
    dump_meta,
    load_images,
    load_list,
    load_meta,
    load_time,
    scope_where,
)
from lightmem.stores.sql.dialect import Conn, Dialect
from lightmem.stores.sql.entries import add_history, tombstone
from lightmem.stores.sql.turns import rows_by_id
from lightmem.types import DecisionRecord, EntryStatus, HistoryEvent, ImageRef, Scope

ACTOR = "consolidation"
DECISIONS = ("update", "delete", "ignore", "merge", "replace")


def consolidation_queue(c: Conn, d: Dialect, scope: Scope | None, limit: int | None) -> list[str]:
    where = f"{d.queued('e')} AND e.status = 'active'"
    params: list[Any] = []
    if scope is not None:
        sw, params = scope_where(scope, "e")
        where += f" AND {sw}"
    sql = f"SELECT e.id FROM entries e WHERE {where} ORDER BY e.pk LIMIT ?"
    params.append(d.no_limit if limit is None else max(0, limit))
    return [r["id"] for r in c.execute(sql, params).fetchall()]


def pairs_done(c: Conn, d: Dialect, target_id: str, source_ids: list[str]) -> set[str]:
    done: set[str] = set()
    for where, params in d.any_of("source_id", list(dict.fromkeys(source_ids))):
        sql = f"SELECT source_id FROM consolidation_pairs WHERE target_id = ? AND {where}"
        done.update(r["source_id"] for r in c.execute(sql, [target_id, *params]).fetchall())
    return done


def check_decision(
    target_id: str, source_ids: list[str], decision: Decision, new_text: str | None, vector: Any
) -> None:
    """Refuse malformed decisions before anything is read or written."""
    if decision not in DECISIONS:
        raise InputError(f"apply_decision: unknown decision {decision!r}; use one of {DECISIONS}")
    if not source_ids:
        raise InputError("apply_decision: at least one source entry is required")
    if target_id in source_ids:
        raise InputError(f"apply_decision: entry {target_id!r} is both target and source")
    if decision == "update" and (not new_text or vector is None):
        raise InputError("apply_decision: 'update' needs new_text and a vector")


def apply_decision(
    c: Conn,
    d: Dialect,
    target_id: str,
    source_ids: list[str],
    decision: Decision,
    *,
    new_text: str | None,
    vector: Any,
    reason: str | None,
    now: datetime,
) -> bool:
    sources = list(dict.fromkeys(source_ids))
    check_decision(target_id, sources, decision, new_text, vector)
    # Lock the target and its sources before reading the pairs: a concurrent decision on
    # the same entries waits here, then sees this one's pairs.
    rows = rows_by_id(c, d, "entries", [target_id, *sources], ENTRY_FIELDS, lock=True)
    if pairs_done(c, d, target_id, sources):
        return False
    target = rows.get(target_id)
    if target is None:
        raise NotFoundError(f"apply_decision: no memory entry with id {target_id!r}")
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
    c.executemany(
        """INSERT INTO consolidation_pairs (target_id, source_id, decision, reason, decided_at)
           VALUES (?, ?, ?, ?, ?)""",
        [(target_id, s, decision, reason, d.dump_time(now)) for s in sources],
    )
    if target["status"] != EntryStatus.ACTIVE.value or target["pinned"]:
        # decided against an entry that is gone, or pinned (never changed by consolidation):
        # only the pairs are recorded
        return True
    if decision == "update":
        c.execute(
            f"""UPDATE entries SET text = ?, vector = {d.vector_param}, version = version + 1,
                updated_at = ? WHERE id = ?""",
            (new_text, vector, d.dump_time(now), target_id),
        )
        add_history(
            c, d, target_id, HistoryEvent.UPDATE, target["text"], new_text, reason, ACTOR, now
        )
    elif decision == "delete":
        tombstone(
            c, d, target, HistoryEvent.DELETE, new_text=None, reason=reason, actor=ACTOR, now=now
        )
    elif decision == "merge":
        _merge(c, d, target, [rows[s] for s in sources], reason=reason, now=now)
    elif decision == "replace":
        _replace(c, d, target, [rows[s] for s in sources], reason=reason, now=now)
    return True


def _replace(
    c: Conn, d: Dialect, target: Row, sources: list[Row], *, reason: str | None, now: datetime
) -> None:
    """The newest active source replaced the target: it held until that one's time."""
    active = [r for r in sources if r["status"] == EntryStatus.ACTIVE.value]
    if not active:
        return
    newest = max(active, key=lambda r: (load_time(r["timestamp"]) or datetime.min, r["id"]))
    c.execute(
        "UPDATE entries SET superseded_by = ?, valid_until = ? WHERE id = ?",
        (newest["id"], d.dump_time(load_time(newest["timestamp"])), target["id"]),
    )
    add_history(
        c,
        d,
        target["id"],
        HistoryEvent.SUPERSEDE,
        target["superseded_by"],
        newest["id"],
        reason,
        ACTOR,
        now,
    )


def _merge(
    c: Conn, d: Dialect, target: Row, sources: list[Row], *, reason: str | None, now: datetime
) -> None:
    """Tombstone the target and hand its source turns to the first *active* source entry
    (an earlier decision may have retired the first one). With no active source left the
    target stays as it is: retiring it would lose its fact."""
    receiver = next((r for r in sources if r["status"] == EntryStatus.ACTIVE.value), None)
    if receiver is None:
        return
    merged = list(dict.fromkeys(load_list(receiver["sources"]) + load_list(target["sources"])))
    kept: dict[str, ImageRef] = {}  # the receiver's images, then the target's new ones
    for image in [*load_images(receiver["images"]), *load_images(target["images"])]:
        kept.setdefault(image.url, image)
    c.execute(
        f"""UPDATE entries SET sources = {d.json_param}, images = {d.json_param}, updated_at = ?
            WHERE id = ?""",
        (dump_list(merged), dump_images(list(kept.values())), d.dump_time(now), receiver["id"]),
    )
    tombstone(
        c,
        d,
        target,
        HistoryEvent.MERGE,
        new_text=receiver["text"],
        reason=reason if reason is not None else f"merged into {receiver['id']}",
        actor=ACTOR,
        now=now,
    )
    _repoint_events(c, d, target, receiver["id"], now)


def _repoint_events(c: Conn, d: Dialect, target: Row, receiver_id: str, now: datetime) -> None:
    """The events of the owner that bind the merged entry bind its receiver instead, so an
    event keeps its facts through a merge (each fact once, in the event's order)."""
    gone = target["id"]
    pattern = '%"' + gone.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + '"%'
    sw, params = scope_where(Scope(target["user_id"], target["agent_id"]))
    rows = c.execute(
        f"""SELECT id, meta FROM entries WHERE kind = 'event' AND {sw}
            AND CAST(meta AS TEXT) LIKE ? ESCAPE '\\'""",
        [*params, pattern],
    ).fetchall()
    for row in rows:
        meta = load_meta(row["meta"])
        facts = meta.get("facts")
        if not isinstance(facts, list) or gone not in facts:
            continue
        meta["facts"] = list(dict.fromkeys(receiver_id if f == gone else f for f in facts))
        c.execute(
            f"UPDATE entries SET meta = {d.json_param}, updated_at = ? WHERE id = ?",
            (dump_meta(meta), d.dump_time(now), row["id"]),
        )


def decisions(c: Conn, d: Dialect, entry_id: str) -> list[DecisionRecord]:
    """Every decided pair the entry is in (as target or as source), oldest first; pairs
    decided before schema 6 (no time) first."""
    sql = f"""SELECT target_id, source_id, decision, reason, decided_at FROM consolidation_pairs
              WHERE target_id = ? OR source_id = ?
              ORDER BY decided_at NULLS FIRST, target_id{d.bytewise}, source_id{d.bytewise}"""
    return [
        DecisionRecord(
            r["target_id"], r["source_id"], r["decision"], r["reason"], load_time(r["decided_at"])
        )
        for r in c.execute(sql, (entry_id, entry_id)).fetchall()
    ]
