"""Request and response models of the REST API. Requests forbid unknown fields, so a
misspelled field is a 422 that names it rather than a silently ignored filter."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, Field

from lightmem.retrieval.context import Context
from lightmem.server.models import (
    MAX_ID,
    MAX_TEXT,
    ConsolidationOut,
    ExtractionOut,
    Id,
    ScopeOut,
    StrictIn,
    Text,
)
from lightmem.types import (
    Entry,
    HistoryRecord,
    Hit,
    StageUsage,
    Turn,
    Usage,
)


# -- requests ---------------------------------------------------------------------------------
class ImageIn(StrictIn):
    url: Annotated[str, Field(min_length=1, max_length=4096)]
    caption: str | None = Field(None, max_length=MAX_TEXT, description="Searchable.")


class ImageOut(BaseModel):
    url: str
    caption: str | None


#: a memory id in a route's path: at most 256 characters, no control characters (422, as
#: any id; a longer one was a 404 that echoed it whole)
MemoryId = Annotated[str, Path(min_length=1, max_length=MAX_ID, pattern=r"^[^\x00-\x1f\x7f]+$")]
#: a time as a client writes it: ISO 8601, or a UNIX epoch (a number, or its digits)
Stamp = str | int | float | None


class MessageIn(StrictIn):
    role: Literal["user", "assistant", "system", "tool"]
    content: Text
    name: str | None = Field(None, description="Speaker name (same as speaker).")
    speaker: str | None = None
    timestamp: Stamp = Field(
        None, description="ISO 8601 or a UNIX epoch; default: the call's timestamp."
    )
    session_id: str | None = None
    ref: str | None = Field(None, description="Your own id of the message.")
    images: list[ImageIn] | None = Field(None, max_length=100, description="Images it shares.")


class AddIn(StrictIn):
    messages: Text | MessageIn | list[MessageIn] = Field(
        description="A string (one user message), a message, or a list of messages."
    )
    user_id: Id | None = None
    agent_id: Id | None = None
    run_id: Id | None = Field(None, description="The session the messages belong to.")
    timestamp: Stamp = Field(
        None, description="ISO 8601 or a UNIX epoch: the time of messages that carry none."
    )


class ScopeIn(StrictIn):
    """Which user/agent; omitted ids are completed from the API key."""

    user_id: Id | None = None
    agent_id: Id | None = None


class RunScopeIn(ScopeIn):
    run_id: Id | None = None


class QueryIn(RunScopeIn):
    query: Text
    mode: Literal["dense", "bm25", "hybrid", "hierarchical"] | None = None
    start: Stamp = Field(
        None, description="Only items at or after this time (ISO 8601 or a UNIX epoch)."
    )
    end: Stamp = Field(
        None, description="Only items at or before this time (ISO 8601 or a UNIX epoch)."
    )
    shared: bool = Field(
        False, strict=True, description="Also every pool granted to the key, in one ranking."
    )

    @property
    def time_range(self) -> tuple[Stamp, Stamp] | None:
        return (self.start, self.end) if (self.start, self.end) != (None, None) else None


class SearchIn(QueryIn):
    limit: int | None = Field(None, ge=1, le=1000, strict=True)


class ContextIn(QueryIn):
    budget_tokens: int | None = Field(
        None,
        ge=1,
        le=200_000,
        strict=True,
        description="Token budget (cl100k); default from config.",
    )
    hierarchical: bool | None = Field(
        None,
        strict=True,
        description="Sessions first: their summaries lead the block (default: when the "
        "mode is 'hierarchical').",
    )
    in_prompt: list[Annotated[str, Field(strict=True, max_length=200_000)]] = Field(
        default_factory=list,
        max_length=10_000,
        description="The texts of the messages the prompt already holds: what was drawn "
        "from them alone is not quoted again.",
    )


class ListQuery(RunScopeIn):
    limit: int | None = Field(None, ge=1, le=10_000)
    include_deleted: bool = False


class UpdateIn(StrictIn):
    text: Text
    reason: str | None = Field(None, max_length=1000)


class DeleteQuery(StrictIn):
    reason: str | None = Field(None, max_length=1000)


# -- responses --------------------------------------------------------------------------------
class MemoryOut(BaseModel):
    id: str
    user_id: str | None
    agent_id: str | None
    run_id: str | None
    text: str
    status: Literal["active", "deleted"]
    version: int
    origin: str
    sources: list[str] = Field(description="Ids of the turns the memory was extracted from.")
    speakers: list[str]
    keywords: list[str]
    topic_id: str | None
    timestamp: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    pinned: bool = Field(False, description="Never merged, changed or expired by consolidation.")
    expires_at: datetime | None = Field(None, description="The memory's own expiry time.")
    memory_kind: Literal["fact", "summary", "event"] = Field(
        "fact", description="An extracted fact (or note), a session summary, or an event."
    )
    meta: dict[str, Any] = Field(
        default_factory=dict,
        description="Structure: an event's when/who/where/why/outcome, bound `facts` and "
        "`links`; a summary's `session_id`, time span and `entries`.",
    )
    images: list[ImageOut] = Field(
        default_factory=list, description="The images of its source turns (by reference)."
    )
    valid_from: datetime | None = Field(
        None, description="Since when it holds: its evidence's time."
    )
    valid_until: datetime | None = Field(
        None, description="Until when it held, once a newer memory replaced it."
    )
    superseded_by: str | None = Field(
        None, description="The id of the memory that replaced it; null while it is current."
    )

    @classmethod
    def of(cls, e: Entry) -> MemoryOut:
        return cls(
            images=[ImageOut(url=i.url, caption=i.caption) for i in e.images],
            id=e.id,
            user_id=e.scope.user_id,
            agent_id=e.scope.agent_id,
            run_id=e.scope.run_id,
            text=e.text,
            status=e.status.value,
            version=e.version,
            origin=e.origin,
            sources=e.sources,
            speakers=e.speakers,
            keywords=e.keywords,
            topic_id=e.topic_id,
            timestamp=e.timestamp,
            created_at=e.created_at,
            updated_at=e.updated_at,
            pinned=e.pinned,
            expires_at=e.expires_at,
            memory_kind=e.kind,
            meta=e.meta,
            valid_from=e.valid_from,
            valid_until=e.valid_until,
            superseded_by=e.superseded_by,
        )


class SupersedeIn(StrictIn):
    by: Id | None = Field(
        description="The id of the newer memory (same user/agent) that replaced this one; "
        "null undoes a replacement."
    )
    reason: str | None = Field(None, max_length=1000)


class ChainOut(BaseModel):
    chain: list[MemoryOut] = Field(
        description="The memories of a fact that changed, oldest first: those it replaced, "
        "itself, and what replaced it since."
    )


class TurnOut(BaseModel):
    id: str
    role: str
    content: str
    speaker: str | None
    session_id: str | None
    timestamp: datetime | None
    images: list[ImageOut] = Field(default_factory=list)
    author: str | None = Field(None, description="Who wrote it into a shared pool.")

    @classmethod
    def of(cls, t: Turn) -> TurnOut:
        return cls(
            images=[ImageOut(url=i.url, caption=i.caption) for i in t.images],
            author=t.author,
            id=t.id,
            role=t.role,
            content=t.content,
            speaker=t.speaker,
            session_id=t.session_id,
            timestamp=t.timestamp,
        )


class HitOut(BaseModel):
    kind: Literal["memory", "turn"] = Field(
        description="A stored memory, or a raw conversation turn ranked in the same pool."
    )
    score: float = Field(description="Fused rank score (comparable within one response).")
    relevance: float = Field(description="The same order on a 0-1 scale (1 = the best hit).")
    memory: MemoryOut | None = Field(description="The memory (kind 'memory'), else null.")
    turn: TurnOut | None = Field(None, description="The turn (kind 'turn'), else null.")
    sources: list[TurnOut] = Field(description="The source turns, as evidence.")
    pool: ScopeOut | None = Field(None, description="The user/agent the hit belongs to.")
    facts: list[MemoryOut] = Field(
        default_factory=list, description="An event hit: the active facts it binds."
    )
    session: MemoryOut | None = Field(
        None, description="Hierarchical search: the summary of the session it was found in."
    )

    @classmethod
    def of(cls, h: Hit) -> HitOut:
        return cls(
            pool=ScopeOut(user_id=h.scope.user_id, agent_id=h.scope.agent_id),
            kind=h.kind,
            score=h.score,
            relevance=h.relevance,
            memory=MemoryOut.of(h.entry) if h.entry is not None else None,
            turn=TurnOut.of(h.turn) if h.turn is not None else None,
            sources=[TurnOut.of(t) for t in h.sources],
            facts=[MemoryOut.of(f) for f in h.facts],
            session=MemoryOut.of(h.session) if h.session is not None else None,
        )


class SearchOut(BaseModel):
    results: list[HitOut]


class ContextOut(BaseModel):
    text: str = Field(description="The prompt-ready block.")
    tokens: int = Field(description="cl100k tokens of `text`.")
    budget_tokens: int
    items: list[HitOut] = Field(description="What the block holds, in rank order.")
    supersedes: dict[str, int] = Field(
        description="Item index -> index of the older memory it supersedes."
    )

    @classmethod
    def of(cls, c: Context) -> ContextOut:
        return cls(
            text=c.text,
            tokens=c.tokens,
            budget_tokens=c.budget_tokens,
            items=[HitOut.of(h) for h in c.items],
            supersedes={str(k): v for k, v in sorted(c.supersedes.items())},
        )


class MemoriesOut(BaseModel):
    memories: list[MemoryOut]
    total: int | None = Field(None, description="How many match, beyond `limit` too.")


class AddOut(BaseModel):
    status: Literal["accepted"] = "accepted"
    turn_ids: list[str] = Field(description="The durable turns; extraction runs in background.")
    replayed: bool = Field(
        False, description="True: an earlier add with this Idempotency-Key stored them."
    )


class FlushOut(BaseModel):
    entries_created: int
    batches_done: int
    failed_batches: list[str]
    waiting_batches: list[str] = Field(
        default_factory=list,
        description="Batches left pending because the LLM endpoint cannot be reached "
        "(kept; extracted once it answers).",
    )
    extraction: ExtractionOut


class DeletedOut(BaseModel):
    deleted: int


class HistoryOut(BaseModel):
    id: int
    entry_id: str
    event: Literal[
        "ADD", "UPDATE", "DELETE", "MERGE", "FORGET", "PIN", "UNPIN", "EXPIRY", "SUPERSEDE"
    ]
    old_text: str | None
    new_text: str | None
    reason: str | None
    actor: str
    created_at: datetime

    @classmethod
    def of(cls, r: HistoryRecord) -> HistoryOut:
        return cls(
            id=r.id,
            entry_id=r.entry_id,
            event=r.event.value,
            old_text=r.old_text,
            new_text=r.new_text,
            reason=r.reason,
            actor=r.actor,
            created_at=r.created_at,
        )


class HistoryListOut(BaseModel):
    history: list[HistoryOut]


class ErrorDetail(BaseModel):
    code: str
    message: str


class JobOut(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed"]
    result: ConsolidationOut | None = None
    error: ErrorDetail | None = None


class StageUsageOut(BaseModel):
    calls: int
    failed_calls: int
    tokens_in: int
    tokens_out: int
    seconds: float

    @classmethod
    def of(cls, s: StageUsage) -> StageUsageOut:
        return cls(
            calls=s.calls,
            failed_calls=s.failed_calls,
            tokens_in=s.tokens_in,
            tokens_out=s.tokens_out,
            seconds=s.seconds,
        )


class FailureOut(BaseModel):
    where: Literal["extraction", "consolidation", "summary", "worker", "llm"]
    message: str = Field(description="The provider's or validator's message (no user text).")
    at: datetime | None
    ref: str | None = Field(description="The batch id, or the consolidation target's id.")
    attempts: int | None


class UsageOut(BaseModel):
    stages: dict[str, StageUsageOut]
    total: StageUsageOut
    failed_batches: int
    pending_batches: int
    buffered_turns: int
    invalid_sources: int
    repaired_sources: int = Field(description="Source links re-pointed by provenance checks.")
    failures: list[FailureOut] = Field(description="The most recent failures, newest first.")

    @classmethod
    def of(cls, u: Usage) -> UsageOut:
        return cls(
            stages={k: StageUsageOut.of(v) for k, v in u.stages.items()},
            total=StageUsageOut.of(u.total),
            failed_batches=u.failed_batches,
            pending_batches=u.pending_batches,
            buffered_turns=u.buffered_turns,
            invalid_sources=u.invalid_sources,
            repaired_sources=u.repaired_sources,
            failures=[
                FailureOut(
                    where=f.where, message=f.message, at=f.at, ref=f.ref, attempts=f.attempts
                )
                for f in u.failures
            ],
        )


class StatsOut(BaseModel):
    scope: ScopeOut | None = Field(description="The user/agent counted; null: the whole store.")
    memories: int = Field(description="Active memories.")
    deleted_memories: int
    llm_mode: str = Field(description="`none` (no-LLM mode), `openai`, `local`, ...")
    embedder: str = Field(description="The model id of the store's embedder.")
    usage: UsageOut | None = Field(
        None, description="Store-wide LLM usage and pipeline counters (admin keys only)."
    )
    extraction: ExtractionOut = Field(
        description="Whether memories can be extracted now (any key; the endpoint's "
        "address and the failure's details to admin keys only)."
    )


class ImportOut(BaseModel):
    imported: int


class HealthOut(BaseModel):
    status: Literal["ok"] = "ok"
    version: str


class ErrorOut(BaseModel):
    error: ErrorDetail
