"""LangGraph's long-term memory interface over LightMem: :class:`LightMemStore`, a
``BaseStore`` (``pip install 'lightmem[langgraph]'``).

    store = LightMemStore(memory, user_at=1)            # namespaces ("memories", user_id)
    graph = builder.compile(store=store)                # or create_react_agent(..., store=store)

Each item is a keyed memory (:mod:`lightmem.keyed`) of the scope its namespace maps to: with
``user_at=n`` the namespace's n-th label is the user (``("memories", "alice")``: alice's
memories, ``user_at=1``); without it, every namespace lives in the one scope the store was
opened for (``user_id=``/``agent_id=``, or a :class:`~lightmem.scoped.ScopedMemory` such as
``memory.as_actor(principal)``). Every operation goes through that scoped view, so a store
for alice never reads or writes bob's memories. The item's text (its ``index`` fields, or the
store's ``fields``) is what LightMem's retrieval ranks (hybrid, with a ``score``);
``index=False`` keeps it out of search. ``ttl`` is in minutes, refreshed on read.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from lightmem.errors import InputError, MissingDependencyError
from lightmem.integrations.values import matches, namespace_matches, value_text
from lightmem.memory import Memory
from lightmem.scoped import ScopedMemory
from lightmem.types import Entry, Scope

try:
    from langgraph.store.base import (
        BaseStore,
        GetOp,
        Item,
        ListNamespacesOp,
        Op,
        PutOp,
        Result,
        SearchItem,
        SearchOp,
        TTLConfig,
    )
except ImportError as exc:  # pragma: no cover - exercised with the package hidden
    raise MissingDependencyError("langgraph", extra="langgraph") from exc

__all__ = ["LightMemStore"]

#: Candidates asked of the retrieval per item wanted: other memories of the scope rank too.
OVERSAMPLE = 5


class LightMemStore(BaseStore):
    supports_ttl = True

    def __init__(
        self,
        memory: Memory | ScopedMemory,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        user_at: int | None = None,
        fields: list[str] | None = None,
        ttl_config: TTLConfig | None = None,
    ) -> None:
        if isinstance(memory, ScopedMemory):
            self.view = memory
        elif user_id is not None or agent_id is not None:
            self.view = memory.as_scope(user_id=user_id, agent_id=agent_id)
        elif user_at is not None:
            self.view = _app_view(memory)
        else:
            raise InputError(
                "LightMemStore needs a scope: user_id=/agent_id=, a ScopedMemory, or "
                "user_at=N (the namespace label that names the user)"
            )
        self.user_id, self.agent_id, self.user_at = user_id, agent_id, user_at
        self.fields = fields or ["$"]
        self.ttl_config = ttl_config

    # -- BaseStore --------------------------------------------------------------------------
    def batch(self, ops: Iterable[Op]) -> list[Result]:
        return [self._run(op) for op in ops]

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        return await asyncio.to_thread(self.batch, list(ops))

    def _run(self, op: Op) -> Result:
        if isinstance(op, GetOp):
            return self._get(op)
        if isinstance(op, PutOp):
            self._put(op)
            return None
        if isinstance(op, SearchOp):
            return self._search(op)
        if isinstance(op, ListNamespacesOp):
            return self._list_namespaces(op)
        raise InputError(f"unknown store operation {type(op).__name__}")

    # -- operations -------------------------------------------------------------------------
    def _get(self, op: GetOp) -> Item | None:
        scope = self._scope(op.namespace)
        entry = self.view.get_keyed(
            _key(op.namespace, op.key), refresh_ttl=op.refresh_ttl, pool=scope
        )
        return None if entry is None else _item(entry, Item)

    def _put(self, op: PutOp) -> None:
        scope, key = self._scope(op.namespace), _key(op.namespace, op.key)
        if op.value is None:
            self.view.delete_keyed(key, pool=scope)
            return
        value = dict(op.value)
        fields = self.fields if not op.index else list(op.index)
        data = {"namespace": list(op.namespace), "key": op.key, "value": value}
        ttl = None if op.ttl is None else op.ttl * 60
        text = value_text(value, fields)
        self.view.put_keyed(
            key, text, data=data, searchable=op.index is not False, ttl=ttl, pool=scope
        )

    def _search(self, op: SearchOp) -> list[SearchItem]:
        wanted = op.offset + op.limit
        found: list[tuple[float | None, Entry]] = []
        for scope in self._scopes(op.namespace_prefix):
            if op.query:
                found += self._ranked(op, scope, wanted)
            else:
                found += [(None, e) for e in self.view.list_keyed(pool=scope)]
        found = [(s, e) for s, e in found if _within(e, op.namespace_prefix, op.filter)]
        if op.query:
            found.sort(key=lambda pair: -(pair[0] or 0.0))
        page = found[op.offset : wanted]
        if op.refresh_ttl:
            for _, entry in page:
                self.view.get_keyed(entry.meta["key"], refresh_ttl=True, pool=entry.scope)
        return [_item(e, SearchItem, score) for score, e in page]

    def _ranked(self, op: SearchOp, scope: Scope, wanted: int) -> list[tuple[float | None, Entry]]:
        """The scope's items in retrieval order, then the unsearchable ones (no score)."""
        limit = min(1000, wanted * OVERSAMPLE + 20)
        hits = self.view.search(op.query or "", pool=scope, limit=limit, include_turns=False)
        ranked = [(h.relevance, h.entry) for h in hits if h.entry is not None and h.entry.keyed]
        seen = {e.id for _, e in ranked}
        rest = [
            e for e in self.view.list_keyed(pool=scope) if not e.searchable and e.id not in seen
        ]
        return ranked + [(None, e) for e in rest]

    def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        found: set[tuple[str, ...]] = set()
        for scope in self._scopes(()):
            for entry in self.view.list_keyed(pool=scope):
                namespace = _namespace(entry)
                if namespace is not None and all(
                    namespace_matches(c.match_type, c.path, namespace)
                    for c in op.match_conditions or ()
                ):
                    found.add(namespace if op.max_depth is None else namespace[: op.max_depth])
        return sorted(found)[op.offset : op.offset + op.limit]

    # -- scopes -----------------------------------------------------------------------------
    def _scope(self, namespace: tuple[str, ...]) -> Scope:
        """The scope a namespace maps to (checked by the view)."""
        if self.user_at is None:
            return self.view.where(self.user_id, self.agent_id)
        if not -len(namespace) <= self.user_at < len(namespace):
            raise InputError(
                f"the namespace {namespace!r} has no label at user_at={self.user_at} (the user)"
            )
        return self.view.where(namespace[self.user_at], self.agent_id)

    def _scopes(self, prefix: tuple[str, ...]) -> list[Scope]:
        """The scopes a namespace prefix may reach: one when it names the user."""
        if self.user_at is None or (0 <= self.user_at < len(prefix)):
            return [self._scope(prefix)]
        principal = self.view.principal
        owners = self.view.memory.scopes() if principal.admin else list(principal.scopes)
        return [s for s in owners if self.agent_id is None or s.agent_id == self.agent_id]


def _app_view(memory: Memory) -> ScopedMemory:
    """The application itself acting for every user its namespaces name."""
    from lightmem.access import Principal

    return memory.as_actor(Principal("langgraph", admin=True, author="langgraph"))


def _key(namespace: tuple[str, ...], key: str) -> str:
    return json.dumps([*namespace, key], ensure_ascii=False)


def _namespace(entry: Entry) -> tuple[str, ...] | None:
    """The namespace of an item this store wrote (None: a keyed memory of other code)."""
    data = entry.meta.get("data")
    namespace = data.get("namespace") if isinstance(data, dict) else None
    return tuple(namespace) if isinstance(namespace, list) else None


def _within(entry: Entry, prefix: tuple[str, ...], filter: dict[str, Any] | None) -> bool:
    namespace = _namespace(entry)
    if namespace is None or namespace[: len(prefix)] != prefix:
        return False
    return matches(entry.meta["data"].get("value") or {}, filter or {})


def _item(entry: Entry, cls: type[Any], score: float | None = None) -> Any:
    data = entry.meta["data"]
    namespace, key, value = tuple(data["namespace"]), str(data["key"]), dict(data["value"])
    created = _aware(entry.created_at)
    updated = _aware(entry.updated_at or entry.created_at)
    if cls is SearchItem:
        return SearchItem(namespace, key, value, created, updated, score=score)
    return Item(value=value, key=key, namespace=namespace, created_at=created, updated_at=updated)


def _aware(at: datetime | None) -> datetime:
    return (at or datetime.now(UTC)).replace(tzinfo=UTC)
