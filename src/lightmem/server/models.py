"""What the REST API and the MCP server share: the limits of a text, and the models both
answer with (a scope, a grant, a consolidation result)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from lightmem.llm.circuit import LLMStatus
from lightmem.types import ConsolidationResult, PoolGrant

#: The most characters of an id (user, agent, session) a request may name.
MAX_ID = 256
Id = Annotated[str, Field(min_length=1, max_length=MAX_ID)]
#: The most characters one message, query or memory text may have (REST and MCP alike).
MAX_TEXT = 100_000
Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]


class StrictIn(BaseModel):
    """A request model: an unknown field is an error that names it."""

    model_config = ConfigDict(extra="forbid")


class ScopeOut(BaseModel):
    user_id: str | None
    agent_id: str | None


class ConsolidationOut(BaseModel):
    examined: int
    updated: int
    deleted: int
    merged: int
    ignored: int
    replaced: int = Field(0, description="Older memories a newer one replaced (validity).")
    expired: int = Field(0, description="Expired memories purged (sleep-time expiry).")
    failed: list[str]
    summaries: int = Field(0, description="Session summaries written or rebuilt.")
    failed_summaries: list[str] = Field(
        default_factory=list, description="Sessions whose summary failed (retried next time)."
    )

    @classmethod
    def of(cls, r: ConsolidationResult) -> ConsolidationOut:
        return cls(
            examined=r.examined,
            updated=r.updated,
            deleted=r.deleted,
            merged=r.merged,
            ignored=r.ignored,
            replaced=r.replaced,
            expired=r.expired,
            failed=r.failed,
            summaries=r.summaries,
            failed_summaries=r.failed_summaries,
        )


#: What a key that is not an admin key is told of an outage: not the endpoint's address.
UNREACHABLE = (
    "the server's LLM endpoint cannot be reached; extraction waits and nothing is lost: the "
    "turns are kept and extracted once it answers again (POST /v1/flush tries at once)"
)


class ExtractionOut(BaseModel):
    """Whether the server can extract memories now; any key may read it."""

    state: Literal["ok", "unreachable", "off"] = Field(
        description="ok; unreachable: the LLM endpoint did not answer, turns wait for it; "
        "off: no-LLM mode (memories are the turns)"
    )
    message: str | None = Field(
        None, description="What failed and what happens meanwhile (the endpoint: admin only)."
    )
    since: datetime | None = None
    retry_at: datetime | None = Field(None, description="When the next call may try it.")

    @classmethod
    def of(cls, status: LLMStatus, *, admin: bool) -> ExtractionOut:
        message = status.message if admin or status.state != "unreachable" else UNREACHABLE
        return cls(
            state=status.state, message=message, since=status.since, retry_at=status.retry_at
        )


class GrantOut(BaseModel):
    pool: ScopeOut
    to: ScopeOut
    level: Literal["read", "write"]

    @classmethod
    def of(cls, g: PoolGrant) -> GrantOut:
        return cls(
            pool=ScopeOut(user_id=g.pool.user_id, agent_id=g.pool.agent_id),
            to=ScopeOut(user_id=g.grantee.user_id, agent_id=g.grantee.agent_id),
            level=g.level,
        )


class GrantsOut(BaseModel):
    given: list[GrantOut] = Field(description="Grants on the key's scopes.")
    received: list[GrantOut] = Field(description="Pools granted to the key's scopes.")

    @classmethod
    def of(cls, given: list[PoolGrant], received: list[PoolGrant]) -> GrantsOut:
        return cls(
            given=[GrantOut.of(g) for g in given], received=[GrantOut.of(g) for g in received]
        )
