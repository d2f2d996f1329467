"""The current-truth half of the :class:`~lightmem.Memory` facade: which memory replaced
which (validity in time), by hand and as a chain.

Sleep time records replacements (an LLM's ``replace`` decision, or without one the rule of
:mod:`lightmem.longterm.validity`); :meth:`Current.supersede` lets a person mark one or undo
it, and :meth:`Current.chain` shows what a fact was before it became what it is.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from lightmem.errors import InputError
from lightmem.messages import check_memory_id, check_note, make_scope
from lightmem.types import Entry

if TYPE_CHECKING:
    from lightmem.stores.base import Store

#: links followed at most each way (chains are short; this guards against a damaged store)
MAX_CHAIN = 100


class Current:
    """Mixed into :class:`~lightmem.Memory`, whose store it uses."""

    store: Store

    def supersede(
        self,
        memory_id: str,
        by: str | None,
        *,
        reason: str | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        actor: str = "user",
    ) -> Entry:
        """Mark the memory ``memory_id`` as replaced by the newer memory ``by`` (of the same
        owner), valid until that one's time; ``by=None`` undoes it. Recorded in the history
        (SUPERSEDE). With a scope, ids outside it are :class:`NotFoundError`."""
        check_memory_id(memory_id)
        if by is not None:
            check_memory_id(by)
        check_note(reason, "reason")
        check_note(actor, "actor", optional=False, max_chars=256)
        scope = make_scope(user_id, agent_id, None) if user_id or agent_id else None
        old = self.store.get_entry(memory_id, scope)
        until = None
        if by is not None:
            new = self.store.get_entry(by, scope)
            _check_successor(old, new)
            until = new.timestamp
        return self.store.set_validity(
            memory_id, superseded_by=by, valid_until=until, reason=reason, actor=actor
        )

    def chain(
        self, memory_id: str, *, user_id: str | None = None, agent_id: str | None = None
    ) -> list[Entry]:
        """The memories of a fact that changed, oldest first: those it replaced (and those
        they replaced), itself, and what replaced it since."""
        check_memory_id(memory_id)
        scope = make_scope(user_id, agent_id, None) if user_id or agent_id else None
        entry = self.store.get_entry(memory_id, scope)
        before: list[Entry] = []
        frontier = [entry.id]
        seen = {entry.id}
        while frontier and len(seen) < MAX_CHAIN:
            older = [e for i in frontier for e in self.store.replaced_by(i) if e.id not in seen]
            seen.update(e.id for e in older)
            # a link's order, not the clock's: what a memory replaced comes before it even
            # where both carry the same time
            before = sorted(older, key=_when) + before
            frontier = [e.id for e in older]
        after: list[Entry] = []
        step = entry
        while step.superseded_by is not None and step.superseded_by not in seen:
            seen.add(step.superseded_by)
            step = self.store.get_entry(step.superseded_by)
            after.append(step)
        return [*before, entry, *after]


def _when(e: Entry) -> tuple[datetime, str]:
    return (e.timestamp or datetime.min, e.id)


def _check_successor(old: Entry, new: Entry) -> None:
    """A memory is replaced by another of its own pool, not a summary, not itself, and not
    by an older one (its validity would end before it began)."""
    if new.id == old.id:
        raise InputError(f"memory {old.id} cannot replace itself")
    if old.kind == "summary" or new.kind == "summary":
        raise InputError("a session summary neither replaces nor is replaced")
    if new.scope.owner != old.scope.owner:
        raise InputError(
            f"memory {new.id} belongs to another scope than {old.id}: a memory is replaced "
            "only by a memory of its own user or agent"
        )
    if old.timestamp and new.timestamp and new.timestamp < old.timestamp:
        raise InputError(
            f"memory {new.id} ({new.timestamp:%Y-%m-%d %H:%M}) is older than {old.id} "
            f"({old.timestamp:%Y-%m-%d %H:%M}): a memory is replaced by a newer one; "
            "swap the two ids"
        )
