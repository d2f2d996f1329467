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
            new = self.store.get_entry(by, old.scope.owner)
            if old.kind == "summary" or new.kind == "summary":
                raise InputError("a session summary neither replaces nor is replaced")
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
            before = older + before
            frontier = [e.id for e in older]
        after: list[Entry] = []
        step = entry
        while step.superseded_by is not None and step.superseded_by not in seen:
            seen.add(step.superseded_by)
            step = self.store.get_entry(step.superseded_by)
            after.append(step)
        ordered = sorted(before, key=lambda e: (e.timestamp or datetime.min, e.id))
        return [*ordered, entry, *after]
