"""A :class:`~lightmem.Memory` as one principal sees it: the one access path.

``memory.as_actor(principal)`` (REST keys, MCP sessions) and ``memory.as_scope(...)``
(Python callers acting as one scope) return a :class:`ScopedMemory`. Every operation names
where it works by ids (``user_id``/``agent_id``/``run_id``) or ``pool=``: one of the
principal's own scopes (completed from it when it owns one), or a pool a grant opens to it
(:mod:`lightmem.access`). An entry outside both is :class:`NotFoundError`, exactly like an id
that does not exist, so other tenants' memories do not leak by existence.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from lightmem import access, keyed
from lightmem.access import Principal
from lightmem.errors import AccessDeniedError, ConflictError, NotFoundError
from lightmem.rekey import rekey
from lightmem.retrieval.context import Context
from lightmem.types import (
    AccessLevel,
    AddResult,
    DecisionRecord,
    Entry,
    ForgetResult,
    HistoryRecord,
    Hit,
    PoolGrant,
    Scope,
    Turn,
)

if TYPE_CHECKING:
    from lightmem.memory import Memory


class ScopedMemory:
    def __init__(self, memory: Memory, principal: Principal) -> None:
        self.memory = memory
        self.principal = principal

    # -- where an operation works ---------------------------------------------------------------
    def where(
        self,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        *,
        pool: Scope | None = None,
        need: AccessLevel = "read",
    ) -> Scope:
        """The scope an operation works in: one of the principal's own, or the pool it names
        when a grant lets the principal ``need`` it (else AccessDeniedError)."""
        if pool is not None:
            user_id, agent_id = pool.user_id, pool.agent_id
        try:
            return self.principal.scope(user_id, agent_id, run_id)
        except AccessDeniedError:
            if user_id is None and agent_id is None:
                raise
            target = Scope(user_id, agent_id)
            if not self.may(target, need):
                raise AccessDeniedError(
                    f"{_named(target)} is not this caller's own (its key or scope) and no "
                    f"grant lets it {need} there"
                ) from None
            return Scope(user_id, agent_id, run_id)

    def may(self, pool: Scope, need: AccessLevel) -> bool:
        grants = self.memory.store.list_grants(pool=pool.owner)
        return access.may(grants, self.principal, pool.owner, need)

    def pools(self, own: Scope | None = None) -> list[Scope]:
        """The own scope (``own``, or the principal's only one), then every granted pool."""
        first = own.owner if own is not None else self.principal.scope().owner
        granted = access.pools_of(self.memory.store.list_grants(), self.principal)
        return list(dict.fromkeys([first, *granted]))

    def entry(self, memory_id: str, need: AccessLevel = "read") -> Entry:
        """The entry, if it exists and the principal may ``need`` its pool; else the same
        NotFoundError as for a missing id; but a change to a memory the principal may read
        (a read grant on its pool) is an AccessDeniedError that says so."""
        missing = NotFoundError(f"no memory with id {memory_id!r}")
        try:
            entry = self.memory.get(memory_id)
        except NotFoundError:
            raise missing from None
        if not self.may(entry.scope.owner, need):
            if need == "write" and self.may(entry.scope.owner, "read"):
                raise AccessDeniedError(
                    f"memory {memory_id!r} is in a pool this key may only read: ask its "
                    "owner for a write grant"
                )
            raise missing
        return entry

    def _actor(self, scope: Scope) -> str:
        return self.principal.writer(scope) or "user"

    # -- reading ----------------------------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        pool: Scope | None = None,
        shared: bool = False,
        **kwargs: Any,
    ) -> list[Hit]:
        """With ``shared``: the own memories and every granted pool, in one ranking."""
        scope = self.where(user_id, agent_id, run_id, pool=pool)
        return self.memory.retriever.search(
            query, self.pools(scope) if shared else [scope], **kwargs
        )

    def context(
        self,
        query: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        pool: Scope | None = None,
        shared: bool = False,
        **kwargs: Any,
    ) -> Context:
        """The prompt-ready block; with ``shared`` over the own memories and every pool."""
        scope = self.where(user_id, agent_id, run_id, pool=pool)
        scopes = self.pools(scope) if shared else [scope]
        return self.memory.retriever.context(query, scopes, **kwargs)

    def get(self, memory_id: str) -> Entry:
        return self.entry(memory_id, "read")

    def get_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        pool: Scope | None = None,
        **kwargs: Any,
    ) -> list[Entry]:
        s = self.where(user_id, agent_id, run_id, pool=pool)
        return self.memory.get_all(
            user_id=s.user_id, agent_id=s.agent_id, run_id=s.run_id, **kwargs
        )

    def turns(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        pool: Scope | None = None,
    ) -> list[Turn]:
        """The conversation turns of one scope or pool (forgotten ones left out)."""
        s = self.where(user_id, agent_id, pool=pool)
        return self.memory.turns(user_id=s.user_id, agent_id=s.agent_id, session_id=session_id)

    def history(self, memory_id: str) -> list[HistoryRecord]:
        self.entry(memory_id)
        return self.memory.history(memory_id)

    def sources(self, memory_id: str) -> list[Turn]:
        return self.memory.sources(self.entry(memory_id).id)

    def decisions(self, memory_id: str) -> list[tuple[DecisionRecord, str | None]]:
        return self.memory.decisions(self.entry(memory_id).id)

    def chain(self, memory_id: str) -> list[Entry]:
        """The memories of a fact that changed, oldest first (all in the same pool)."""
        return self.memory.chain(self.entry(memory_id).id)

    def export(
        self, *, user_id: str | None = None, agent_id: str | None = None, pool: Scope | None = None
    ) -> Iterator[dict[str, Any]]:
        """The records of one scope or pool; an admin naming nobody: the whole store."""
        owner = self._exported(user_id, agent_id, pool)
        if owner is None:
            return self.memory.export()
        return self.memory.export(user_id=owner.user_id, agent_id=owner.agent_id)

    def export_lines(
        self, *, user_id: str | None = None, agent_id: str | None = None, pool: Scope | None = None
    ) -> Iterator[str]:
        """:meth:`export` as JSON Lines, a large one made in a process of its own (see
        :mod:`lightmem.exporting`)."""
        from lightmem.exporting import export_lines

        return export_lines(self.memory, self._exported(user_id, agent_id, pool))

    def _exported(
        self, user_id: str | None, agent_id: str | None, pool: Scope | None
    ) -> Scope | None:
        """The owner an export reads (None: the whole store, for an admin naming nobody)."""
        if self.principal.admin and user_id is None and agent_id is None and pool is None:
            return None
        s = self.where(user_id, agent_id, pool=pool)
        return Scope(user_id=s.user_id, agent_id=s.agent_id)

    def grants(self) -> tuple[list[PoolGrant], list[PoolGrant]]:
        """(given, received): the grants on the principal's scopes and those reaching it (an
        admin's: every grant given, none received, rather than each one twice)."""
        every = self.memory.store.list_grants()
        given = [g for g in every if self.principal.allows(g.pool)]
        if self.principal.admin:
            return given, []
        return given, [g for g in every if self.principal.reached_by(g.grantee)]

    # -- writing ----------------------------------------------------------------------------------
    def add(
        self,
        messages: Any,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        pool: Scope | None = None,
        **kwargs: Any,
    ) -> AddResult:
        s = self.where(user_id, agent_id, run_id, pool=pool, need="write")
        return self.memory.add(
            messages,
            user_id=s.user_id,
            agent_id=s.agent_id,
            run_id=s.run_id,
            author=self.principal.writer(s),
            **kwargs,
        )

    def update(self, memory_id: str, text: str, **kwargs: Any) -> Entry:
        entry = self.entry(memory_id, "write")
        return self.memory.update(memory_id, text, actor=self._actor(entry.scope), **kwargs)

    def delete(self, memory_id: str, **kwargs: Any) -> None:
        entry = self.entry(memory_id, "write")
        self.memory.delete(memory_id, actor=self._actor(entry.scope), **kwargs)

    def supersede(self, memory_id: str, by: str | None, **kwargs: Any) -> Entry:
        """Mark a memory replaced by a newer one of its pool (None: undo)."""
        entry = self.entry(memory_id, "write")
        if by is not None:
            self.entry(by, "read")
        return self.memory.supersede(entry.id, by, actor=self._actor(entry.scope), **kwargs)

    def pin(self, memory_id: str, pinned: bool = True) -> Entry:
        return self.memory.pin(self.entry(memory_id, "write").id, pinned)

    def set_ttl(self, memory_id: str, ttl: Any) -> Entry:
        return self.memory.set_ttl(self.entry(memory_id, "write").id, ttl)

    def forget(
        self,
        query: str | None = None,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        pool: Scope | None = None,
        purge: bool = False,
        dry_run: bool = False,
        **kwargs: Any,
    ) -> ForgetResult:
        """A write grant forgets (tombstones, authored); only the owner purges."""
        s = self.where(user_id, agent_id, pool=pool, need="write")
        if purge is True and not dry_run:
            access.check_purge(self.principal, s)
        return self.memory.forget(
            query,
            user_id=s.user_id,
            agent_id=s.agent_id,
            purge=purge,
            dry_run=dry_run,
            actor=self.principal.author,
            **kwargs,
        )

    # -- keyed memories (:mod:`lightmem.keyed`) --------------------------------------------------
    def put_keyed(
        self,
        key: str,
        text: str,
        *,
        data: Any = None,
        searchable: bool = True,
        ttl: Any = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        pool: Scope | None = None,
    ) -> Entry:
        """Create or replace the memory an application keeps under ``key``."""
        s = self.where(user_id, agent_id, pool=pool, need="write").owner
        return keyed.put(
            self.memory,
            s,
            key,
            text,
            data=data,
            searchable=searchable,
            ttl=ttl,
            actor=self._actor(s),
        )

    def get_keyed(
        self,
        key: str,
        *,
        refresh_ttl: bool = False,
        user_id: str | None = None,
        agent_id: str | None = None,
        pool: Scope | None = None,
    ) -> Entry | None:
        """The memory of ``key`` (None if there is none); ``refresh_ttl`` restarts its TTL."""
        s = self.where(user_id, agent_id, pool=pool).owner
        entry = keyed.get(self.memory, s, key)
        if entry is not None and refresh_ttl and self.may(s, "write"):
            keyed.touch(self.memory, entry, actor=self._actor(s))
        return entry

    def list_keyed(
        self, *, user_id: str | None = None, agent_id: str | None = None, pool: Scope | None = None
    ) -> list[Entry]:
        return keyed.listed(self.memory, self.where(user_id, agent_id, pool=pool).owner)

    def delete_keyed(
        self,
        key: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        pool: Scope | None = None,
    ) -> bool:
        """Erase the memory of ``key`` for good: only the pool's owner erases."""
        s = self.where(user_id, agent_id, pool=pool, need="write").owner
        access.check_purge(self.principal, s)
        return keyed.delete(self.memory, s, key, actor=self._actor(s))

    def erase_turns(
        self,
        turn_ids: list[str],
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        pool: Scope | None = None,
        cause: str = "turns erased",
    ) -> int:
        """Erase turns for good: only the pool's owner erases."""
        s = self.where(user_id, agent_id, pool=pool, need="write")
        access.check_purge(self.principal, s)
        return self.memory.erase_turns(
            turn_ids, user_id=s.user_id, agent_id=s.agent_id, cause=cause, actor=self._actor(s)
        )

    def import_records(self, records: list[dict[str, Any]]) -> int:
        """Import an export; every record must lie in the principal's own scopes. An admin
        keeps the file's ids; anyone else gets ids derived from them (:mod:`lightmem.rekey`),
        so no answer depends on rows outside the principal's scopes."""
        access.check_import(self.principal, records)
        if self.principal.admin:
            return self.memory.import_records(records)
        self._refuse_own(records)
        try:
            return self.memory.import_records(rekey(records))
        except ConflictError:
            raise ConflictError(
                "this import was made before: its records are in your scope already; import "
                "into another scope, or delete those first"
            ) from None

    def _refuse_own(self, records: list[dict[str, Any]]) -> None:
        """A conflict when the file's own ids name turns or memories of the principal's
        scopes (an export imported back where it came from); other ids reveal nothing."""
        store = self.memory.store
        turns = [str(r["id"]) for r in records if r.get("kind") == "turn"]
        entries = [str(r["id"]) for r in records if r.get("kind") == "entry"]
        found = [(t.id, t.scope) for t in store.get_turns(turns)]
        found += [(e.id, e.scope) for e in store.get_entries(entries)]
        mine = [i for i, scope in found if self.principal.allows(scope.owner)]
        if mine:
            raise ConflictError(
                f"id(s) already in your scope: {', '.join(mine[:10])}; import into another "
                f"scope, or delete those first"
            )


def _named(scope: Scope) -> str:
    """The scope as the caller named it (user 'bob', agent 'planner', agent 'planner' of
    user 'bob'); nothing is said of whether it holds any memory."""
    agent = f"agent {scope.agent_id!r}" if scope.agent_id is not None else ""
    user = f"user {scope.user_id!r}" if scope.user_id is not None else ""
    return f"{agent} of {user}" if agent and user else agent or user
