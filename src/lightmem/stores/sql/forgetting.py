"""Forgetting in SQL: pins and expiry times (with history), and the erasure of entries and
turns for good: their rows, history, consolidation pairs, the batches that saw the turns (an
LLM's raw reply quotes them), the idempotency keys that stored them, the turn ids cited by
surviving entries, and the erased text quoted in the history reasons of those. One row per
erasure goes to ``erasures`` (counts, no text).

Whatever search keeps beside the rows follows by itself (triggers, generated columns); the
store scrubs its files after the transaction (``SQLStore._compact``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lightmem.errors import NotFoundError
from lightmem.stores.sql import entries, keys
from lightmem.stores.sql.candidates import contains
from lightmem.stores.sql.codec import (
    dump_list,
    in_scope,
    load_list,
    load_time,
    row_to_entry,
    scope_where,
)
from lightmem.stores.sql.dialect import Conn, Dialect
from lightmem.stores.sql.entries import add_history, entry_row
from lightmem.stores.sql.turns import rows_by_id
from lightmem.text import STOP_WORDS, scrub, word_runs
from lightmem.types import Entry, EraseResult, HistoryEvent, Scope

#: ``set_entry_flags`` leaves a value as it is when given this.
KEEP: Any = object()


def set_entry_flags(
    c: Conn,
    d: Dialect,
    entry_id: str,
    *,
    pinned: bool | None,
    expires_at: Any,
    actor: str,
    now: datetime,
) -> Entry:
    row = entry_row(c, d, entry_id, lock=True)
    if row is None:
        raise NotFoundError(f"no memory entry with id {entry_id!r}")
    if pinned is not None and bool(row["pinned"]) != pinned:
        c.execute("UPDATE entries SET pinned = ? WHERE id = ?", (int(pinned), entry_id))
        event = HistoryEvent.PIN if pinned else HistoryEvent.UNPIN
        add_history(c, d, entry_id, event, None, None, None, actor, now)
    if expires_at is not KEEP:
        c.execute(
            "UPDATE entries SET expires_at = ? WHERE id = ?", (d.dump_time(expires_at), entry_id)
        )
        stamp = None if expires_at is None else expires_at.isoformat(timespec="seconds")
        add_history(c, d, entry_id, HistoryEvent.EXPIRY, None, stamp, None, actor, now)
    return row_to_entry(entry_row(c, d, entry_id))


@dataclass(frozen=True, slots=True)
class Erasure:
    """What one erasure removes: the owner's entries and turns by id, why and by whom, and
    the texts whose word runs leave the history reasons of the entries that stay."""

    owner: Scope
    entry_ids: list[str]
    turn_ids: list[str]
    cause: str
    actor: str
    now: datetime
    private: tuple[str, ...] = ()


def erase(c: Conn, d: Dialect, what: Erasure) -> EraseResult:
    """Delete the owner's entries and turns with these ids (ids of other owners are
    :class:`NotFoundError`, with the message an unknown id gets)."""
    owner = what.owner.owner
    columns = "id, user_id, agent_id, run_id"
    entries = rows_by_id(c, d, "entries", what.entry_ids, columns, lock=True)
    turns = rows_by_id(c, d, "turns", what.turn_ids, columns, lock=True)
    for kind, wanted, rows in (
        ("memory entry", what.entry_ids, entries),
        ("turn", what.turn_ids, turns),
    ):
        for i in wanted:
            if i not in rows or not in_scope(rows[i], owner):
                raise NotFoundError(f"no {kind} with id {i!r}")
    result = EraseResult()
    for where, params in d.any_of("id", list(entries)):
        result.entries += int(c.execute(f"DELETE FROM entries WHERE {where}", params).rowcount)
    for where, params in d.any_of("superseded_by", list(entries)):
        # what an erased memory replaced holds again: nothing points at the erased id
        c.execute(
            f"UPDATE entries SET superseded_by = NULL, valid_until = NULL WHERE {where}", params
        )
    gone = set(turns)
    for where, params in d.any_of("id", list(gone)):
        result.turns += int(c.execute(f"DELETE FROM turns WHERE {where}", params).rowcount)
    if gone:
        _drop_cited_turns(c, d, owner, gone)
        result.batches = _scrub_batches(c, d, owner, gone)
        keys.drop_idempotency_keys(c, owner, gone)
    if what.private:
        _scrub_reasons(c, d, owner, what.private)
    c.execute(
        """INSERT INTO erasures (user_id, agent_id, cause, entries, turns, actor, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        (
            owner.user_id,
            owner.agent_id,
            what.cause,
            result.entries,
            result.turns,
            what.actor,
            d.dump_time(what.now),
        ),
    )
    return result


def _scrub_reasons(c: Conn, d: Dialect, owner: Scope, private: tuple[str, ...]) -> None:
    """The history reasons of the owner's remaining entries without the erased text (an
    edit's reason, a decision's, may quote it): its runs of words, and on its own each word
    of it that nothing the owner keeps says (a code, a name only the erased text held)."""
    where, params = scope_where(owner, "e")
    sql = f"""SELECT h.id, h.reason FROM history h JOIN entries e ON e.id = h.entry_id
              WHERE {where} AND h.reason IS NOT NULL"""
    rows = c.execute(sql, params).fetchall()
    erased = {w for text in private for w in word_runs(text) if w not in STOP_WORDS}
    quoted = sorted({w for r in rows for w in word_runs(str(r["reason"]))} & erased)
    alone = [w for w in quoted[:MAX_ALONE] if not _still_said(c, d, owner, w)]
    texts = (*private, *alone)
    for row in rows:
        reason = str(row["reason"])
        cleaned = scrub(reason, texts, limit=4 * len(reason) + 100)
        if cleaned != " ".join(reason.split()):
            c.execute("UPDATE history SET reason = ? WHERE id = ?", (cleaned, row["id"]))


#: erased words quoted in reasons that are looked up in what the owner keeps, at most
MAX_ALONE = 64


def _still_said(c: Conn, d: Dialect, owner: Scope, word: str) -> bool:
    """Whether a turn or memory the owner keeps may say ``word`` (a substring, in ASCII any
    case: when unsure it is said, and the word stays)."""
    where, params = scope_where(owner)
    for table, column in (("turns", "content"), ("entries", "text")):
        cond, pattern = contains(d, column, word)
        sql = f"SELECT 1 FROM {table} WHERE {where} AND {cond} LIMIT 1"
        if c.execute(sql, [*params, pattern]).fetchone() is not None:
            return True
    return False


def _drop_cited_turns(c: Conn, d: Dialect, owner: Scope, gone: set[str]) -> None:
    """Surviving entries stop citing erased turns."""
    where, params = scope_where(owner)
    for row in c.execute(f"SELECT id, sources FROM entries WHERE {where}", params).fetchall():
        sources = load_list(row["sources"])
        kept = [s for s in sources if s not in gone]
        if kept != sources:
            c.execute(
                f"UPDATE entries SET sources = {d.json_param} WHERE id = ?",
                (dump_list(kept), row["id"]),
            )


def forget_entries(
    c: Conn,
    d: Dialect,
    entry_ids: list[str],
    owner: Scope | None,
    turn_ids: list[str],
    reason: str | None,
    actor: str,
    now: datetime,
) -> int:
    """Tombstone the active entries ``entry_ids`` (FORGET in their history) and, within
    ``owner``, forget the turns ``turn_ids``; how many entries."""
    if turn_ids and owner is not None:
        forget_turns(c, d, owner, turn_ids)
    for entry_id in entry_ids:
        row = entries.active_row(c, d, entry_id, "forget")
        entries.tombstone(
            c, d, row, HistoryEvent.FORGET, new_text=None, reason=reason, actor=actor, now=now
        )
    return len(entry_ids)


def forget_turns(c: Conn, d: Dialect, owner: Scope, turn_ids: list[str]) -> int:
    """Tombstone the owner's turns: never searched again, and out of the pipeline (a turn
    not yet extracted leaves it as EXTRACTED, and the pending or failed batches that hold
    it lose it), so no memory is drawn from it later. Returns how many were not yet."""
    rows = rows_by_id(
        c, d, "turns", turn_ids, "id, user_id, agent_id, run_id, forgotten", lock=True
    )
    for i in turn_ids:
        if i not in rows or not in_scope(rows[i], owner.owner):
            raise NotFoundError(f"no turn with id {i!r}")
    fresh = [i for i in turn_ids if not rows[i]["forgotten"]]
    for where, params in d.any_of("id", fresh):
        c.execute(f"UPDATE turns SET forgotten = 1, stage = 'extracted' WHERE {where}", params)
    if fresh:
        _scrub_batches(c, d, owner.owner, set(fresh), statuses=("pending", "failed"))
    return len(fresh)


def _scrub_batches(
    c: Conn, d: Dialect, owner: Scope, gone: set[str], statuses: tuple[str, ...] | None = None
) -> int:
    """Batches (of ``statuses``, default all) that saw a turn of ``gone``: deleted when
    nothing else is left in them, else without the turn and without the raw reply and
    error (which may quote it)."""
    where, params = scope_where(owner)
    if statuses is not None:
        where += f" AND status IN ({', '.join('?' for _ in statuses)})"
        params = [*params, *statuses]
    changed = 0
    for row in c.execute(f"SELECT id, turn_ids FROM batches WHERE {where}", params).fetchall():
        ids = load_list(row["turn_ids"])
        kept = [t for t in ids if t not in gone]
        if kept == ids:
            continue
        changed += 1
        if kept:
            c.execute(
                f"""UPDATE batches SET turn_ids = {d.json_param}, raw_reply = NULL,
                    last_error = NULL WHERE id = ?""",
                (dump_list(kept), row["id"]),
            )
        else:
            c.execute("DELETE FROM batches WHERE id = ?", (row["id"],))
    return changed


def erasures(c: Conn, owner: Scope) -> list[dict[str, Any]]:
    where, params = scope_where(owner.owner)
    sql = f"""SELECT cause, entries, turns, actor, created_at FROM erasures WHERE {where}
              ORDER BY id"""
    return [
        {
            **{k: r[k] for k in ("cause", "entries", "turns", "actor")},
            "created_at": load_time(r["created_at"]),
        }
        for r in c.execute(sql, params).fetchall()
    ]
