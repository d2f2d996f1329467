"""REST routes of forgetting and of what the memory browser shows: ``POST /v1/forget``
(preview, tombstone, purge), pins, TTLs (per memory and the scope's default), a memory's
source turns, and who the key is (``GET /v1/me``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from lightmem.server.models import Id, ScopeOut, StrictIn, Text
from lightmem.server.rest.deps import ERRORS, NOT_FOUND, Caller, Mem, View
from lightmem.server.rest.schemas import MemoryId, MemoryOut, ScopeIn, TurnOut

router = APIRouter(prefix="/v1", responses=ERRORS)


class ForgetIn(ScopeIn):
    query: Text | None = Field(None, description="Forget memories holding every word of it.")
    ids: list[Id] | None = Field(None, max_length=10_000, description="Memory ids to forget.")
    turn_ids: list[Id] | None = Field(
        None,
        max_length=10_000,
        description="Turn ids to forget, with the memories drawn from them. A preview's "
        "memory and turn ids, sent instead of its query, apply exactly that preview.",
    )
    purge: bool = Field(
        False, strict=True, description="Erase for good, with history and source turns."
    )
    confirm: bool = Field(False, strict=True, description="False: a preview that changes nothing.")
    reason: str | None = Field(None, max_length=1000)


class ForgetOut(BaseModel):
    done: bool = Field(description="False for a preview.")
    purged: bool
    memories: list[MemoryOut]
    turns: list[TurnOut]
    erased_memories: int
    erased_turns: int
    compacted: bool = Field(description="The store scrubbed its files after the purge.")


class PinIn(StrictIn):
    pinned: bool = Field(True, strict=True)


class TtlIn(StrictIn):
    ttl_seconds: float | None = Field(
        ..., gt=0, le=100 * 365 * 86400, strict=True, description="From now; null clears it."
    )


class DefaultTtlIn(ScopeIn):
    ttl_seconds: float | None = Field(..., gt=0, le=100 * 365 * 86400, strict=True)


class DefaultTtlOut(BaseModel):
    scope: ScopeOut
    ttl_seconds: float | None


class TurnsOut(BaseModel):
    turns: list[TurnOut]


class MeOut(BaseModel):
    name: str
    admin: bool
    scopes: list[ScopeOut] = Field(description="The partitions the key may touch.")


@router.post("/forget", tags=["forgetting"], responses=NOT_FOUND)
def forget(body: ForgetIn, view: View) -> ForgetOut:
    """Find the memories (and their source turns) a query or ids name; with ``confirm``
    forget them (tombstones), with ``purge`` too erase them for good (the owner's keys only:
    a write grant forgets, it never purges)."""
    r = view.forget(
        body.query,
        ids=body.ids,
        turn_ids=body.turn_ids,
        user_id=body.user_id,
        agent_id=body.agent_id,
        purge=body.purge,
        dry_run=not body.confirm,
        reason=body.reason,
    )
    return ForgetOut(
        done=r.done,
        purged=r.purged,
        memories=[MemoryOut.of(e) for e in r.memories],
        turns=[TurnOut.of(t) for t in r.turns],
        erased_memories=r.erased_entries,
        erased_turns=r.erased_turns,
        compacted=r.compacted,
    )


@router.post("/memories/{memory_id}/pin", tags=["forgetting"], responses=NOT_FOUND)
def pin(memory_id: MemoryId, body: PinIn, view: View) -> MemoryOut:
    return MemoryOut.of(view.pin(memory_id, body.pinned))


@router.post("/memories/{memory_id}/ttl", tags=["forgetting"], responses=NOT_FOUND)
def ttl(memory_id: MemoryId, body: TtlIn, view: View) -> MemoryOut:
    return MemoryOut.of(view.set_ttl(memory_id, body.ttl_seconds))


@router.get("/memories/{memory_id}/sources", tags=["memories"], responses=NOT_FOUND)
def sources(memory_id: MemoryId, view: View) -> TurnsOut:
    """The turns a memory was drawn from."""
    return TurnsOut(turns=[TurnOut.of(t) for t in view.sources(memory_id)])


@router.put("/ttl", tags=["forgetting"])
def set_default_ttl(body: DefaultTtlIn, caller: Caller, memory: Mem) -> DefaultTtlOut:
    """The default TTL of a user/agent's memories that have none of their own."""
    scope = caller.scope(body.user_id, body.agent_id)
    memory.set_default_ttl(body.ttl_seconds, user_id=scope.user_id, agent_id=scope.agent_id)
    return _default_ttl(memory, scope.user_id, scope.agent_id)


@router.get("/ttl", tags=["forgetting"])
def get_default_ttl(q: Annotated[ScopeIn, Query()], caller: Caller, memory: Mem) -> DefaultTtlOut:
    scope = caller.scope(q.user_id, q.agent_id)
    return _default_ttl(memory, scope.user_id, scope.agent_id)


@router.get("/me", tags=["service"])
def me(caller: Caller) -> MeOut:
    """The key's name and the partitions it may touch (an admin: every one)."""
    return MeOut(
        name=caller.name,
        admin=caller.admin,
        scopes=[ScopeOut(user_id=s.user_id, agent_id=s.agent_id) for s in caller.scopes],
    )


def _default_ttl(memory: Mem, user_id: str | None, agent_id: str | None) -> DefaultTtlOut:
    ttl = memory.default_ttl(user_id=user_id, agent_id=agent_id)
    return DefaultTtlOut(
        scope=ScopeOut(user_id=user_id, agent_id=agent_id),
        ttl_seconds=None if ttl is None else ttl.total_seconds(),
    )
