"""Keyed memories: what an application writes under a key of its own (a LangGraph store
item, a profile field), beside the facts extracted from turns.

A keyed memory is an entry of origin ``manual`` whose id comes from its owner and key, so a
put finds it again without a lookup; its ``meta`` holds the key, the application's data and,
when it is kept but not searched, ``"searchable": false`` (search and context skip it).
Consolidation never merges or rewrites one: the application owns its text. A put on a key
whose memory was forgotten (a tombstone) erases the tombstone and starts afresh; deleting a
key erases its memory for good. The scoped view (:meth:`ScopedMemory.put_keyed` and the
rest) checks who may do each.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from lightmem.errors import InputError
from lightmem.longterm.forgetting import as_ttl
from lightmem.types import Entry, EntryStatus, Scope

if TYPE_CHECKING:
    from lightmem.memory import Memory

KEY = "key"
DATA = "data"
SEARCHABLE = "searchable"
TTL = "ttl_seconds"
#: A TTL refreshed on read moves the expiry only when it gains more than this, or than a
#: tenth of the TTL when that is shorter (a read is not a write each time; a TTL of a
#: minute is refreshed by a read 6 s after the last one, not never).
REFRESH_STEP = timedelta(seconds=60)


def keyed_id(owner: Scope, key: str) -> str:
    """The entry id of ``key`` in ``owner``: the same key, the same memory."""
    raw = json.dumps([owner.user_id, owner.agent_id, key], ensure_ascii=False)
    return "k" + hashlib.sha256(raw.encode()).hexdigest()[:31]


def put(
    memory: Memory,
    owner: Scope,
    key: str,
    text: str,
    *,
    data: Any = None,
    searchable: bool = True,
    ttl: timedelta | float | None = None,
    actor: str,
) -> Entry:
    """Create or replace the memory of ``key``: ``text`` is what search sees, ``data`` (any
    JSON value) comes back with it; ``ttl`` (seconds) expires it that long from now."""
    meta = _meta(key, text, data, searchable, as_ttl(ttl))
    entry_id, store = keyed_id(owner, key), memory.store
    vector = memory.embedder.embed([text])[0]
    expires = _expiry(as_ttl(ttl))
    found = store.get_entries([entry_id])
    if found and found[0].status == EntryStatus.ACTIVE:
        old = found[0]
        if old.text != text or old.meta != meta:
            store.update_entry(entry_id, text, vector, reason="put", actor=actor, meta=meta)
        if old.expires_at != expires:
            store.set_entry_flags(entry_id, expires_at=expires, actor=actor)
        return store.get_entry(entry_id)
    if found:  # a tombstone left by forget: the key starts afresh
        store.erase(owner, [entry_id], [], cause="keyed put over a forgotten memory", actor=actor)
    now = _now()
    entry = Entry(id=entry_id, scope=owner, text=text, timestamp=now, origin="manual", meta=meta)
    store.add_entries([entry], vector[None, :], actor=actor)
    if expires is not None:  # with its history event, as every expiry
        store.set_entry_flags(entry_id, expires_at=expires, actor=actor)
    return store.get_entry(entry_id)


def get(memory: Memory, owner: Scope, key: str) -> Entry | None:
    """The active, unexpired memory of ``key``, or None."""
    found = memory.store.get_entries([keyed_id(owner, key)])
    if not found or found[0].status != EntryStatus.ACTIVE or memory.is_expired(found[0]):
        return None
    return found[0]


def listed(memory: Memory, owner: Scope) -> list[Entry]:
    """The owner's active, unexpired keyed memories in creation order."""
    return [e for e in memory.get_all(user_id=owner.user_id, agent_id=owner.agent_id) if e.keyed]


def delete(memory: Memory, owner: Scope, key: str, *, actor: str) -> bool:
    """Erase the memory of ``key`` for good (tombstone included); whether there was one."""
    entry_id = keyed_id(owner, key)
    if not memory.store.get_entries([entry_id]):
        return False
    memory.store.erase(owner, [entry_id], [], cause="keyed delete", actor=actor)
    return True


def touch(memory: Memory, entry: Entry, *, actor: str) -> None:
    """Refresh the TTL of a keyed memory that has one (read again: it lives on)."""
    seconds = entry.meta.get(TTL)
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return
    ttl = timedelta(seconds=seconds)
    expires = _expiry(ttl)
    if expires is not None and (
        entry.expires_at is None or expires - entry.expires_at > min(REFRESH_STEP, ttl / 10)
    ):
        memory.store.set_entry_flags(entry.id, expires_at=expires, actor=actor)


def _meta(
    key: str, text: str, data: Any, searchable: bool, ttl: timedelta | None
) -> dict[str, Any]:
    if not isinstance(key, str) or not key:
        raise InputError(f"a key is a non-empty string, got {key!r}")
    if not isinstance(text, str) or not text.strip():
        raise InputError("a keyed memory needs a non-empty text (what search sees)")
    try:
        json.dumps(data)
    except (TypeError, ValueError) as exc:
        raise InputError(f"a keyed memory's data must be JSON: {exc}") from None
    meta: dict[str, Any] = {KEY: key, DATA: data}
    if not searchable:
        meta[SEARCHABLE] = False
    if ttl is not None:
        meta[TTL] = ttl.total_seconds()
    return meta


def _expiry(ttl: timedelta | None) -> datetime | None:
    return None if ttl is None else _now() + ttl


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)
