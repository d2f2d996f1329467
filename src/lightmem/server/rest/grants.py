"""REST routes of shared pools: a key grants ``read`` or ``write`` on a scope it owns to
another scope, lists the grants it gave and received, and revokes (at once)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from lightmem.server.models import GrantOut, GrantsOut, StrictIn
from lightmem.server.rest.deps import ERRORS, Caller, Mem, View
from lightmem.server.rest.schemas import ScopeIn

router = APIRouter(prefix="/v1", responses=ERRORS)


class GrantIn(StrictIn):
    pool: ScopeIn = Field(description="The scope shared: one the key owns.")
    to: ScopeIn = Field(description="Who may read or write it.")
    level: Literal["read", "write"]


class RevokeQuery(StrictIn):
    pool_user_id: str | None = None
    pool_agent_id: str | None = None
    to_user_id: str | None = None
    to_agent_id: str | None = None


class RevokedOut(BaseModel):
    revoked: bool


@router.post("/grants", tags=["sharing"])
def grant(body: GrantIn, caller: Caller, memory: Mem) -> GrantOut:
    """Share a scope the key owns (``403 forbidden`` otherwise)."""
    pool = caller.scope(body.pool.user_id, body.pool.agent_id)
    to = {"user_id": body.to.user_id, "agent_id": body.to.agent_id}
    made = memory.grant(body.level, pool=pool, to={k: v for k, v in to.items() if v})
    assert made is not None
    return GrantOut.of(made)


@router.delete("/grants", tags=["sharing"])
def revoke(q: Annotated[RevokeQuery, Query()], caller: Caller, memory: Mem) -> RevokedOut:
    pool = caller.scope(q.pool_user_id, q.pool_agent_id)
    to = {"user_id": q.to_user_id, "agent_id": q.to_agent_id}
    return RevokedOut(revoked=memory.revoke(pool=pool, to={k: v for k, v in to.items() if v}))


class GrantsQuery(StrictIn):
    """No parameters: the grants listed are those of the key's own scopes (an unknown
    parameter, such as another user's id, is a 422, not silently ignored)."""


@router.get("/grants", tags=["sharing"])
def grants(_: Annotated[GrantsQuery, Query()], view: View) -> GrantsOut:
    return GrantsOut.of(*view.grants())
