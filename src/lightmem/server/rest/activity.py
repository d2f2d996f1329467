"""REST routes of what happened when, for the memory browser's timeline and stats: a
scope's conversation turns (``GET /v1/turns``) and what entered the store per day
(``GET /v1/stats/activity``). Both read through the caller's scoped view or own scopes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from lightmem.server.models import Id, ScopeOut
from lightmem.server.rest.deps import ERRORS, Caller, Mem, View
from lightmem.server.rest.schemas import ScopeIn, TurnOut
from lightmem.types import DayActivity

router = APIRouter(prefix="/v1", responses=ERRORS)


class TurnsQuery(ScopeIn):
    session_id: Id | None = None
    limit: int | None = Field(None, ge=1, le=100_000, description="The first `limit` turns.")


class TurnListOut(BaseModel):
    turns: list[TurnOut] = Field(description="In conversation order.")
    total: int = Field(description="How many turns the scope (or session) holds.")


class DayOut(BaseModel):
    day: str = Field(description="YYYY-MM-DD (UTC), when the items were stored.")
    turns: int
    memories: int = Field(description="Memories created that day (later deleted ones too).")
    llm_calls: int | None = Field(description="Store-wide; null unless the key is an admin's.")
    failed_calls: int | None
    tokens: int | None

    @classmethod
    def of(cls, d: DayActivity, admin: bool) -> DayOut:
        llm = (d.llm_calls, d.failed_calls, d.tokens) if admin else (None, None, None)
        return cls(
            day=d.day,
            turns=d.turns,
            memories=d.memories,
            llm_calls=llm[0],
            failed_calls=llm[1],
            tokens=llm[2],
        )


class ActivityOut(BaseModel):
    scope: ScopeOut | None = Field(description="The user/agent counted; null: the whole store.")
    days: list[DayOut] = Field(description="Oldest first; days with nothing stored are left out.")
    turns: int = Field(description="Every turn of the scope (the days' sum).")


@router.get("/turns", tags=["memories"])
def turns(q: Annotated[TurnsQuery, Query()], view: View) -> TurnListOut:
    """The conversation turns of the key's scope or a granted pool, forgotten ones left out."""
    found = view.turns(user_id=q.user_id, agent_id=q.agent_id, session_id=q.session_id)
    shown = found if q.limit is None else found[: q.limit]
    return TurnListOut(turns=[TurnOut.of(t) for t in shown], total=len(found))


@router.get("/stats/activity", tags=["service"])
def activity(q: Annotated[ScopeIn, Query()], caller: Caller, memory: Mem) -> ActivityOut:
    """What entered the store per day: the scope's turns and memories, and (admin keys
    only) the store's LLM calls, failed calls and tokens."""
    scope = caller.optional_scope(q.user_id, q.agent_id)
    days = memory.activity(
        user_id=None if scope is None else scope.user_id,
        agent_id=None if scope is None else scope.agent_id,
    )
    return ActivityOut(
        scope=None if scope is None else ScopeOut(user_id=scope.user_id, agent_id=scope.agent_id),
        days=[DayOut.of(d, caller.admin) for d in days],
        turns=sum(d.turns for d in days),
    )
