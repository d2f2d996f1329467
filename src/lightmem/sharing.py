"""Shared memory: pools several agents (and users) share, through grants.

A **pool** is an owner scope (``user_id`` and/or ``agent_id``): its owner grants ``read`` or
``write`` on it to another scope (:meth:`Memory.grant`); a grant to a user alone covers that
user's agents. The one check is :func:`allowed`; the Python API (:class:`ScopedMemory`), the
REST keys and the MCP sessions all go through it. A revoked grant is deleted, so the next
call is refused. Writes into a pool carry their author: the turns' ``author`` and the
history's ``actor``. Outside grants, scopes stay partitions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from lightmem.errors import AccessDeniedError, InputError, NotFoundError
from lightmem.retrieval.context import Context, build_context
from lightmem.retrieval.fusion import rrf
from lightmem.stores.base import Store
from lightmem.types import AccessLevel, Entry, ForgetResult, Hit, PoolGrant, Scope

if TYPE_CHECKING:
    from lightmem.memory import Memory

LEVELS: tuple[AccessLevel, ...] = ("read", "write")


def check_level(level: object) -> AccessLevel:
    if level not in LEVELS:
        raise InputError(f"a grant level is 'read' or 'write', got {level!r}")
    return level


def covers(grantee: Scope, actor: Scope) -> bool:
    """Whether a grant to ``grantee`` applies to ``actor``."""
    if grantee.owner == actor.owner:
        return True
    return (
        grantee.agent_id is None
        and grantee.user_id is not None
        and (grantee.user_id == actor.user_id)
    )


def grant_allows(grant: PoolGrant, need: AccessLevel) -> bool:
    return grant.level == "write" or need == "read"


def allowed(store: Store, pool: Scope, need: AccessLevel, acts_as: Callable[[Scope], bool]) -> bool:
    """Whether someone who can act as the scopes ``acts_as`` accepts may ``need`` the
    pool: as its owner, or through a grant to one of those scopes."""
    if acts_as(pool.owner):
        return True
    return any(acts_as(g.grantee) and grant_allows(g, need) for g in store.list_grants(pool=pool))


def require(store: Store, actor: Scope, pool: Scope, need: AccessLevel) -> None:
    if not allowed(store, pool, need, lambda s: covers(s, actor)):
        raise AccessDeniedError(f"this scope may not {need} that pool (no grant)")


def pools_of(store: Store, acts_as: Callable[[Scope], bool]) -> list[Scope]:
    """The pools granted (read or write) to scopes ``acts_as`` accepts."""
    return list(dict.fromkeys(g.pool for g in store.list_grants() if acts_as(g.grantee)))


def author_label(actor: Scope) -> str:
    parts = [f"user:{actor.user_id}" if actor.user_id else "", f"agent:{actor.agent_id}" if
             actor.agent_id else ""]  # fmt: skip
    return " ".join(p for p in parts if p)


def search_pools(
    memory: Memory, query: str, pools: list[Scope], *, limit: int, **kwargs: Any
) -> list[Hit]:
    """One ranked list over several pools: each pool searched in its own partition, the
    lists fused by reciprocal rank. A hit's ``scope`` is the pool it came from."""
    by_key: dict[str, Hit] = {}
    lists = []
    for pool in dict.fromkeys(pools):
        hits = memory.search(
            query, user_id=pool.user_id, agent_id=pool.agent_id, limit=limit, **kwargs
        )
        lists.append([f"{h.kind}:{h.id}" for h in hits])
        by_key.update((f"{h.kind}:{h.id}", h) for h in hits)
    fused = rrf(lists, k=memory.config.retrieval.rrf_k)[:limit]
    out = [by_key[k] for k, _ in fused]
    top = fused[0][1] if fused else 1.0
    for hit, (_, score) in zip(out, fused, strict=True):
        hit.score, hit.relevance = score, round(score / top, 4) if top > 0 else 0.0
    return out


def context_pools(
    memory: Memory, query: str, pools: list[Scope], *, budget_tokens: int | None = None,
    hierarchical: bool | None = None, **kwargs: Any,
) -> Context:  # fmt: skip
    """``Memory.context`` over several pools: their fused hits packed into the budget."""
    budget = memory.config.retrieval.context_tokens if budget_tokens is None else budget_tokens
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
        raise InputError(f"budget_tokens must be an integer >= 1, got {budget!r}")
    mode = kwargs.get("mode") or memory.config.retrieval.mode
    if hierarchical:
        kwargs["mode"] = mode = "hierarchical"
    limit = min(1000, max(20, budget // 10))
    hits = search_pools(memory, query, pools, limit=limit, **kwargs)
    vectors = memory.store.entry_vectors
    return build_context(
        hits, budget, vectors, memory.config.consolidation.threshold,
        sessions=mode == "hierarchical",
    )  # fmt: skip


class ScopedMemory:
    """A :class:`Memory` as one scope sees it: its own memories plus the pools granted to
    it. ``pool`` names the pool an operation works on (default: the scope's own)."""

    def __init__(self, memory: Memory, actor: Scope) -> None:
        self.memory = memory
        self.actor = actor
        self.author = author_label(actor)

    def _pool(self, pool: Scope | None, need: AccessLevel) -> Scope:
        target = self.actor.owner if pool is None else pool.owner
        require(self.memory.store, self.actor, target, need)
        return target

    def pools(self) -> list[Scope]:
        """The own scope, then every pool granted to it."""
        return list(dict.fromkeys([self.actor.owner, *pools_of(self.memory.store, self._acts_as)]))

    def search(self, query: str, *, pool: Scope | None = None, shared: bool = False,
               limit: int = 10, **kwargs: Any) -> list[Hit]:  # fmt: skip
        """With ``shared``: the own memories and every granted pool, in one ranking."""
        pools = self.pools() if shared else [self._pool(pool, "read")]
        return search_pools(self.memory, query, pools, limit=limit, **kwargs)

    def _entry(self, memory_id: str, need: AccessLevel) -> Entry:
        """The entry, if the scope may ``need`` its pool; else NotFoundError, exactly like
        an id that does not exist."""
        entry = self.memory.get(memory_id)
        if not allowed(self.memory.store, entry.scope.owner, need, self._acts_as):
            raise NotFoundError(f"no memory entry with id {memory_id!r}")
        return entry

    def _acts_as(self, scope: Scope) -> bool:
        return covers(scope, self.actor)

    def context(self, query: str, *, pool: Scope | None = None, shared: bool = False,
                budget_tokens: int | None = None, **kwargs: Any) -> Context:  # fmt: skip
        """The prompt-ready block; with ``shared`` over the own memories and every pool."""
        pools = self.pools() if shared else [self._pool(pool, "read")]
        return context_pools(self.memory, query, pools, budget_tokens=budget_tokens, **kwargs)

    def get(self, memory_id: str) -> Entry:
        return self._entry(memory_id, "read")

    def get_all(self, *, pool: Scope | None = None, **kwargs: Any) -> list[Entry]:
        p = self._pool(pool, "read")
        return self.memory.get_all(user_id=p.user_id, agent_id=p.agent_id, **kwargs)

    def export(self, *, pool: Scope | None = None) -> Iterator[dict[str, Any]]:
        p = self._pool(pool, "read")
        return self.memory.export(user_id=p.user_id, agent_id=p.agent_id)

    def add(self, messages: Any, *, pool: Scope | None = None, **kwargs: Any) -> Any:
        p = self._pool(pool, "write")
        author = None if p == self.actor.owner else self.author
        return self.memory.add(
            messages, user_id=p.user_id, agent_id=p.agent_id, author=author, **kwargs
        )

    def update(self, memory_id: str, text: str, **kwargs: Any) -> Entry:
        self._entry(memory_id, "write")
        return self.memory.update(memory_id, text, actor=self.author, **kwargs)

    def delete(self, memory_id: str, **kwargs: Any) -> None:
        self._entry(memory_id, "write")
        self.memory.delete(memory_id, actor=self.author, **kwargs)

    def forget(self, query: str | None = None, *, pool: Scope | None = None,
               **kwargs: Any) -> ForgetResult:  # fmt: skip
        p = self._pool(pool, "write")
        return self.memory.forget(
            query, user_id=p.user_id, agent_id=p.agent_id, actor=self.author, **kwargs
        )
