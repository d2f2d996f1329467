"""REST routes of memories: add, search, context, list, one memory (get, edit, delete, its
history) and the purge of a scope. Every route works through the scoped view of the
caller's key (:class:`~lightmem.scoped.ScopedMemory`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response

from lightmem.server.rest.deps import ERRORS, NOT_FOUND, Caller, Mem, View
from lightmem.server.rest.schemas import (
    AddIn,
    AddOut,
    ChainOut,
    ContextIn,
    ContextOut,
    DeletedOut,
    DeleteQuery,
    HistoryListOut,
    HistoryOut,
    HitOut,
    ListQuery,
    MemoriesOut,
    MemoryId,
    MemoryOut,
    RunScopeIn,
    SearchIn,
    SearchOut,
    SupersedeIn,
    UpdateIn,
)

router = APIRouter(prefix="/v1", responses=ERRORS)


@router.post("/memories", status_code=202, tags=["memories"])
def add(
    body: AddIn,
    view: View,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=256,
            description="Retry-safe adds: the same key and body store once and answer the "
            "first result; the same key with another body is 409 conflict.",
        ),
    ] = None,
) -> AddOut:
    """Store messages durably; extraction runs in the background."""
    messages: Any = (
        body.messages
        if isinstance(body.messages, str)
        else [m.model_dump(exclude_none=True) for m in _as_list(body.messages)]
    )
    result = view.add(
        messages,
        user_id=body.user_id,
        agent_id=body.agent_id,
        run_id=body.run_id,
        timestamp=body.timestamp,
        idempotency_key=idempotency_key,
    )
    return AddOut(turn_ids=result.turn_ids, replayed=result.replayed)


@router.post("/search", tags=["memories"])
def search(body: SearchIn, view: View) -> SearchOut:
    """With ``shared``: the key's scope and every pool granted to it, in one ranking."""
    hits = view.search(
        body.query,
        user_id=body.user_id,
        agent_id=body.agent_id,
        run_id=body.run_id,
        shared=body.shared,
        limit=body.limit,
        mode=body.mode,
        time_range=body.time_range,
    )
    return SearchOut(results=[HitOut.of(h) for h in hits])


@router.post("/context", tags=["memories"])
def context(body: ContextIn, view: View) -> ContextOut:
    """The prompt-ready block for a query, packed into a token budget."""
    block = view.context(
        body.query,
        user_id=body.user_id,
        agent_id=body.agent_id,
        run_id=body.run_id,
        shared=body.shared,
        budget_tokens=body.budget_tokens,
        mode=body.mode,
        time_range=body.time_range,
        hierarchical=body.hierarchical,
        in_prompt=body.in_prompt,
    )
    return ContextOut.of(block)


@router.get("/memories", tags=["memories"])
def list_memories(q: Annotated[ListQuery, Query()], view: View) -> MemoriesOut:
    """The scope's memories in creation order, the first ``limit``; ``total`` counts all."""
    entries = view.get_all(
        user_id=q.user_id, agent_id=q.agent_id, run_id=q.run_id, include_deleted=q.include_deleted
    )
    shown = entries if q.limit is None else entries[: q.limit]
    return MemoriesOut(memories=[MemoryOut.of(e) for e in shown], total=len(entries))


@router.delete("/memories", tags=["memories"])
def delete_all(q: Annotated[RunScopeIn, Query()], caller: Caller, memory: Mem) -> DeletedOut:
    """Purge a user/agent (or one run of it): turns, memories, history. Only the key's own
    scopes: a grant never opens this."""
    scope = caller.scope(q.user_id, q.agent_id, q.run_id)
    n = memory.delete_all(user_id=scope.user_id, agent_id=scope.agent_id, run_id=scope.run_id)
    return DeletedOut(deleted=n)


@router.get("/memories/{memory_id}", tags=["memories"], responses=NOT_FOUND)
def get(memory_id: MemoryId, view: View) -> MemoryOut:
    return MemoryOut.of(view.get(memory_id))


@router.patch("/memories/{memory_id}", tags=["memories"], responses=NOT_FOUND)
def update(memory_id: MemoryId, body: UpdateIn, view: View) -> MemoryOut:
    return MemoryOut.of(view.update(memory_id, body.text, reason=body.reason))


@router.delete(
    "/memories/{memory_id}",
    status_code=204,
    response_class=Response,
    tags=["memories"],
    responses=NOT_FOUND,
)
def delete(memory_id: MemoryId, q: Annotated[DeleteQuery, Query()], view: View) -> None:
    """Soft delete: the memory is kept as a tombstone with its history."""
    view.delete(memory_id, reason=q.reason)


@router.get("/memories/{memory_id}/chain", tags=["memories"], responses=NOT_FOUND)
def chain(memory_id: MemoryId, view: View) -> ChainOut:
    """The chain of a fact that changed (validity in time), oldest first."""
    return ChainOut(chain=[MemoryOut.of(e) for e in view.chain(memory_id)])


@router.post("/memories/{memory_id}/supersede", tags=["memories"], responses=NOT_FOUND)
def supersede(memory_id: MemoryId, body: SupersedeIn, view: View) -> MemoryOut:
    """Mark the memory replaced by a newer one (``by``), or undo it (``by: null``)."""
    return MemoryOut.of(view.supersede(memory_id, body.by, reason=body.reason))


@router.get("/memories/{memory_id}/history", tags=["memories"], responses=NOT_FOUND)
def history(memory_id: MemoryId, view: View) -> HistoryListOut:
    return HistoryListOut(history=[HistoryOut.of(r) for r in view.history(memory_id)])


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
