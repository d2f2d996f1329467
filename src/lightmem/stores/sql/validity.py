"""Validity in time and the change log, in SQL.

``set_validity`` marks a memory as replaced by a newer one (``superseded_by``, ``valid_until``,
with a SUPERSEDE record in its history) or undoes that. ``changes`` is appended by triggers
(schema 9) on every write that can change what an owner's search indexes hold; the retrieval
layer reads it by delta.
"""

from __future__ import annotations

from datetime import datetime

from lightmem.errors import InputError, NotFoundError
from lightmem.stores.sql.codec import ENTRY_FIELDS, row_to_entry, scope_where
from lightmem.stores.sql.dialect import Conn, Dialect
from lightmem.stores.sql.entries import add_history, entry_row
from lightmem.types import Entry, EntryStatus, HistoryEvent, Scope

#: the meta key holding the highest change id pruned: a reader whose watermark is below it
#: rebuilds what it keeps
FLOOR_KEY = "changes_floor"
Change = tuple[int, str, str]  # (change id, kind: t|e|i, the row's id)


def set_validity(
    c: Conn,
    d: Dialect,
    entry_id: str,
    *,
    superseded_by: str | None,
    valid_until: datetime | None,
    reason: str | None,
    actor: str,
    now: datetime,
) -> Entry:
    """Replace ``entry_id`` by ``superseded_by`` (an active memory of the same owner, not the
    entry itself nor one it replaced) from ``valid_until`` on; None undoes it."""
    row = entry_row(c, d, entry_id, lock=True)
    if row is None:
        raise NotFoundError(f"no memory entry with id {entry_id!r}")
    if superseded_by is not None:
        _check_successor(c, d, row_to_entry(row), superseded_by)
    before = row["superseded_by"]
    if before == superseded_by and (superseded_by is None or _same(d, row, valid_until)):
        return row_to_entry(row)
    c.execute(
        "UPDATE entries SET superseded_by = ?, valid_until = ? WHERE id = ?",
        (superseded_by, d.dump_time(valid_until), entry_id),
    )
    add_history(c, d, entry_id, HistoryEvent.SUPERSEDE, before, superseded_by, reason, actor, now)
    return row_to_entry(entry_row(c, d, entry_id))


def _same(d: Dialect, row: object, valid_until: datetime | None) -> bool:
    return row["valid_until"] == d.dump_time(valid_until)  # type: ignore[index]


def _check_successor(c: Conn, d: Dialect, old: Entry, new_id: str) -> None:
    if new_id == old.id:
        raise InputError("a memory cannot replace itself")
    found = entry_row(c, d, new_id)
    new = None if found is None else row_to_entry(found)
    if new is None or new.scope.owner != old.scope.owner:
        raise NotFoundError(f"no memory entry with id {new_id!r}")
    if new.status != EntryStatus.ACTIVE:
        raise InputError(f"memory {new_id!r} is deleted: it cannot replace another")
    seen = {old.id}
    step: Entry | None = new
    while step is not None and step.superseded_by is not None:
        if step.superseded_by in seen:
            raise InputError("that would make a cycle of replacements: undo one first")
        seen.add(step.superseded_by)
        nxt = entry_row(c, d, step.superseded_by)
        step = None if nxt is None else row_to_entry(nxt)
    if step is not None and step.id == old.id:
        raise InputError("that would make a cycle of replacements: undo one first")


def replaced_by(c: Conn, entry_id: str) -> list[Entry]:
    """The memories ``entry_id`` replaced, oldest first."""
    rows = c.execute(
        f"SELECT {ENTRY_FIELDS} FROM entries WHERE superseded_by = ? ORDER BY pk", (entry_id,)
    ).fetchall()
    return [row_to_entry(r) for r in rows]


def last_change(c: Conn, owner: Scope) -> int:
    where, params = scope_where(owner.owner)
    row = c.execute(f"SELECT max(id) AS last FROM changes WHERE {where}", params).fetchone()
    return int(row["last"] or 0)


def changes_since(c: Conn, owner: Scope, after: int) -> list[Change]:
    where, params = scope_where(owner.owner)
    rows = c.execute(
        f"SELECT id, kind, row_id FROM changes WHERE {where} AND id > ? ORDER BY id",
        [*params, after],
    ).fetchall()
    return [(int(r["id"]), r["kind"], r["row_id"]) for r in rows]


def prune_changes(c: Conn, keep: int) -> int:
    """Drop all but the newest ``keep`` changes; the lowest id kept (indexes older than it
    rebuild)."""
    row = c.execute("SELECT max(id) AS last FROM changes").fetchone()
    floor = int(row["last"] or 0) - keep
    if floor > 0:
        c.execute("DELETE FROM changes WHERE id <= ?", (floor,))
        c.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (FLOOR_KEY, str(floor)),
        )
    return max(floor, 0)
