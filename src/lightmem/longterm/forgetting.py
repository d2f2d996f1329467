"""Forgetting: find what a request names, tombstone it or erase it for good, and expiry.

``forget("QUERY")`` matches a memory or a turn when its text holds every word of the query
(case-folded, accents kept): predictable, and what a preview shows is what goes. A match
brings along the turns the memory was drawn from, and the memories drawn from a matched
turn. Tombstoning keeps history (a FORGET event) and tombstones the turns (``forgotten``):
out of search, and when still buffered out of the pipeline, so no memory is drawn from them
later; a purge erases memories, history and turns from the store and scrubs its files.

Expiry: a memory expires at its own ``expires_at``, else at ``created_at`` plus its owner's
default TTL (kept in the store's meta). Expired memories are not returned; consolidation
(sleep time) purges them. Pinned memories never expire.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lightmem import giveway
from lightmem.errors import InputError, NotFoundError
from lightmem.failures import turn_texts
from lightmem.stores.base import Store
from lightmem.text import STOP_WORDS
from lightmem.types import Entry, EntryStatus, ForgetResult, Scope, Turn

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(text)]


def matches(query: str, text: str) -> bool:
    """True when ``text`` holds every word of ``query`` (as whole words)."""
    wanted = set(words(query))
    return bool(wanted) and wanted <= set(words(text))


def expiry_time(entry: Entry, default_ttl: timedelta | None) -> datetime | None:
    """When the entry expires, or None (pinned entries never do)."""
    return expires(entry.pinned, entry.expires_at, entry.created_at, default_ttl)


def expires(
    pinned: bool, at: datetime | None, created: datetime | None, default_ttl: timedelta | None
) -> datetime | None:
    """When a memory so pinned, with that expiry and creation time, expires (or None)."""
    if pinned:
        return None
    if at is not None:
        return at
    if default_ttl is None or created is None:
        return None
    try:
        return created + default_ttl
    except OverflowError:  # a TTL stored before the bound: past the last date, so never
        return None


def is_expired(entry: Entry, now: datetime, default_ttl: timedelta | None) -> bool:
    at = expiry_time(entry, default_ttl)
    return at is not None and at <= now


def ttl_key(owner: Scope) -> str:
    """The meta key of an owner's default TTL."""
    return "default_ttl:" + json.dumps([owner.user_id, owner.agent_id])


#: The longest TTL: 100 years, on every surface. A longer one would overflow the dates it
#: is added to (a memory's expiry); for "never", clear the TTL.
MAX_TTL = timedelta(days=100 * 365)


def as_ttl(value: timedelta | float | int | None, what: str = "ttl") -> timedelta | None:
    """A TTL from a timedelta or seconds: positive, finite, at most :data:`MAX_TTL`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, timedelta | int | float):
        raise InputError(f"{what} must be a number of seconds or a timedelta, got {value!r}")
    if not isinstance(value, timedelta) and not math.isfinite(value):
        raise InputError(f"{what} must be a finite number of seconds, got {value!r}")
    if not isinstance(value, timedelta) and value > MAX_TTL.total_seconds():
        raise InputError(_too_long(what, value))
    ttl = value if isinstance(value, timedelta) else timedelta(seconds=float(value))
    if ttl <= timedelta(0):
        raise InputError(f"{what} must be positive, got {value!r}")
    if ttl > MAX_TTL:
        raise InputError(_too_long(what, value))
    return ttl


def _too_long(what: str, value: object) -> str:
    return (
        f"{what} must be at most {MAX_TTL.total_seconds():.0f} s (100 years), got {value!r}; "
        f"to keep memories forever, clear the TTL instead"
    )


@dataclass(slots=True)
class Forgetter:
    store: Store

    def default_ttl(self, owner: Scope) -> timedelta | None:
        raw = self.store.get_meta(ttl_key(owner))
        if raw in (None, ""):
            return None
        try:
            return timedelta(seconds=float(raw))
        except (OverflowError, ValueError):  # stored before the bound: it reads as "never"
            return None

    def set_default_ttl(self, owner: Scope, ttl: timedelta | None) -> None:
        self.store.set_meta(ttl_key(owner), "" if ttl is None else repr(ttl.total_seconds()))

    def hidden(self, owner: Scope, now: datetime) -> Callable[[Entry], bool]:
        """The test search applies to the owner's entries: expired ones are hidden."""
        ttl = self.default_ttl(owner)
        return lambda e: is_expired(e, now, ttl)

    def unexpired(
        self, records: Iterable[dict[str, Any]], now: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """Export records without the memories that expired (not yet purged by sleep time)
        and without their history and consolidation pairs; read as they stream by."""
        now = now if now is not None else datetime.now(UTC).replace(tzinfo=None)
        ttls: dict[Scope, timedelta | None] = {}
        gone: set[str] = set()
        for rec in records:
            if rec.get("kind") == "entry":
                owner = Scope(rec.get("user_id"), rec.get("agent_id"))
                if owner not in ttls:
                    ttls[owner] = self.default_ttl(owner)
                if _record_expired(rec, now, ttls[owner]):
                    gone.add(rec["id"])
            if not {rec.get("id"), rec.get("entry_id"), rec.get("target_id")} & gone and (
                rec.get("source_id") not in gone
            ):
                yield rec

    def find(
        self,
        owner: Scope,
        query: str | None,
        ids: list[str] | None,
        *,
        tombstones: bool,
        turn_ids: list[str] | None = None,
    ) -> ForgetResult:
        """The owner's memories and turns a forget request names (``tombstones``: deleted
        memories too, which a purge erases): by a query, and/or by the ids of memories and
        of turns (what a preview showed, so that confirming it takes exactly that, and what
        is drawn from it: a memory extracted from a named turn since)."""
        if query is not None and (not isinstance(query, str) or not words(query)):
            raise InputError("the forget query must hold at least one word")
        if query is None and not ids and not turn_ids:
            raise InputError("forget needs a query, memory ids or turn ids")
        wanted = words(query) if query is not None else None
        chosen: dict[str, Entry] = {}
        for i in ids or []:
            entry = self.store.get_entry(i, owner)  # NotFoundError outside the owner
            if tombstones or entry.status == EntryStatus.ACTIVE:
                chosen[i] = entry
        named: dict[str, None] = {}
        by_turn = self._owned_turns(owner, turn_ids or [])
        for t in turn_ids or []:
            if t not in by_turn:  # outside the owner, or gone
                raise NotFoundError(f"no turn with id {t!r}")
            named[t] = None
        if query is not None and wanted:
            # the store narrows the rows down in its database; the match here is exact
            for turn in self.store.forget_turn_candidates(owner, wanted):
                giveway.checkpoint()
                if matches(query, turn.content):
                    named[turn.id] = None
                    by_turn[turn.id] = turn
        entries = self.store.forget_entry_candidates(owner, wanted, list(named), tombstones)
        by_id = {e.id: e for e in entries}
        facts = [e for e in entries if e.kind == "fact"]
        if query is not None:
            for e in facts:
                giveway.checkpoint()
                if matches(query, e.text):
                    chosen[e.id] = e
        # Memories drawn from a named or matched turn carry what it said.
        chosen.update((e.id, e) for e in facts if set(e.sources) & named.keys())
        if query is not None:
            # A memory edited away from the words still holds them in its history.
            for e in facts:
                if e.id not in chosen and e.version > 1 and self._history_matches(e.id, query):
                    chosen[e.id] = e
        for e in chosen.values():
            if e.kind == "fact":  # a summary's or event's sources are other facts' turns
                named.update((t, None) for t in e.sources)
        # Structure drawn from what goes (a session summary quoting a forgotten turn, an
        # event binding a forgotten fact, or one that names the words itself) goes too; a
        # summary is rebuilt at sleep time from the turns that stay.
        for e in entries:
            if e.kind == "fact" or e.id in chosen:
                continue
            bound = e.meta.get("facts") if e.kind == "event" else None
            if (
                set(e.sources) & named.keys()
                or (isinstance(bound, list) and set(bound) & chosen.keys())
                or (query is not None and matches(query, e.text))
                or (query is not None and e.version > 1 and self._history_matches(e.id, query))
            ):
                chosen[e.id] = e
        ordered = [by_id.get(i, e) for i, e in chosen.items()]
        by_turn.update(self._owned_turns(owner, [t for t in named if t not in by_turn]))
        return ForgetResult(
            memories=sorted(ordered, key=_created),
            turns=[by_turn[t] for t in named if t in by_turn],
        )

    def _owned_turns(self, owner: Scope, turn_ids: list[str]) -> dict[str, Turn]:
        """The turns of ``turn_ids`` that the owner has (others, and erased ones, absent)."""
        found = self.store.get_turns(turn_ids) if turn_ids else []
        return {
            t.id: t
            for t in found
            if (t.scope.user_id, t.scope.agent_id) == (owner.user_id, owner.agent_id)
        }

    def _history_matches(self, entry_id: str, query: str) -> bool:
        return any(
            matches(query, text)
            for r in self.store.history(entry_id)
            for text in (r.old_text, r.new_text)
            if text
        )

    def apply(
        self,
        owner: Scope,
        found: ForgetResult,
        *,
        purge: bool,
        actor: str,
        reason: str | None,
        query: str | None = None,
    ) -> ForgetResult:
        found.done = True
        if purge:
            r = self.store.erase(
                owner,
                [e.id for e in found.memories],
                [t.id for t in found.turns],
                cause="forget",
                actor=actor,
                private=erased_texts(found, query),
            )
            found.purged = True
            found.erased_entries, found.erased_turns = r.entries, r.turns
            found.compacted = r.compacted
        else:
            # The turns go too, extracted or not: a turn still in the buffer is neither
            # searched nor extracted into a new memory later.
            active = [e.id for e in found.memories if e.status == EntryStatus.ACTIVE]
            self.store.forget_entries(
                active,
                reason=reason,
                actor=actor,
                owner=owner,
                turn_ids=[t.id for t in found.turns],
            )
        return found

    def purge_expired(self, owner: Scope, now: datetime) -> int:
        """Erase the owner's expired memories (active or tombstoned, never pinned), the
        turns no other fact cites, and the structure drawn from those turns (a session
        summary quoting one, an event binding an expired fact: the summary is rebuilt from
        the turns that stay). Returns the expired memories erased."""
        ttl = self.default_ttl(owner)
        for attempt in range(3):
            entries = self.store.list_entries(owner, include_deleted=True)
            expired = [e for e in entries if is_expired(e, now, ttl)]
            if not expired:
                return 0
            gone = {e.id for e in expired}
            cited_elsewhere = {
                t for e in entries if e.id not in gone and e.kind == "fact" for t in e.sources
            }
            turns = {t for e in expired for t in e.sources if t not in cited_elsewhere}
            drawn = [e.id for e in entries if e.id not in gone and _draws_on(e, turns, gone)]
            known = {t.id for t in self.store.get_turns(sorted(turns))}
            try:
                r = self.store.erase(
                    owner,
                    sorted(gone | set(drawn)),
                    sorted(known),
                    cause="expiry",
                    actor="consolidation",
                )
            except NotFoundError:
                # another run (a concurrent consolidation, a forget) erased some of them
                # first: read again what is left to erase
                if attempt == 2:
                    raise
                continue
            return r.entries - len(drawn)
        raise AssertionError("unreachable")  # pragma: no cover


def _draws_on(entry: Entry, turns: set[str], facts: set[str]) -> bool:
    """Whether ``entry`` is structure drawn from these turns or facts (a summary quoting a
    turn, an event binding a fact)."""
    if entry.kind == "fact":
        return False
    bound = entry.meta.get("facts") if entry.kind == "event" else None
    return bool(set(entry.sources) & turns) or (
        isinstance(bound, list) and bool(set(bound) & facts)
    )


def erased_texts(found: ForgetResult, query: str | None) -> list[str]:
    """What a purge erases, as texts to take out of what stays: each word of the query
    (but function words), the memories' texts and the turns' speakers and contents."""
    out = [w for w in words(query or "") if w not in STOP_WORDS]
    return out + [e.text for e in found.memories] + turn_texts(found.turns)


def _record_expired(rec: dict[str, Any], now: datetime, ttl: timedelta | None) -> bool:
    """:func:`is_expired` of an exported entry record (times as ISO strings)."""
    at, created = rec.get("expires_at"), rec.get("created_at")
    when = expires(
        bool(rec.get("pinned")),
        datetime.fromisoformat(at) if at else None,
        datetime.fromisoformat(created) if created else None,
        ttl,
    )
    return when is not None and when <= now


def _created(e: Entry) -> tuple[datetime, str]:
    return (e.created_at or datetime.min, e.id)
