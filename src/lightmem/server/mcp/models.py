"""The MCP tools' result models (structured output): what a tool answers, never a bare dict."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from lightmem.access import author_label
from lightmem.types import Entry, Hit, ImageRef


class ImageItem(BaseModel):
    url: str = Field(description="Where the image is (never fetched by LightMem).")
    caption: str | None = None

    @classmethod
    def all(cls, images: list[ImageRef]) -> list[ImageItem]:
        return [cls(url=i.url, caption=i.caption) for i in images]


SearchModeArg = Literal["dense", "bm25", "hybrid", "hierarchical"] | None


class MemoryItem(BaseModel):
    id: str
    text: str
    timestamp: str | None = None
    score: float | None = None

    kind: str = "memory"
    pool: str | None = Field(None, description="The pool (user/agent) it belongs to.")
    images: list[ImageItem] = Field(default_factory=list, description="Images it shows.")
    memory_kind: str = Field("fact", description="fact, summary or event")
    facts: list[str] = Field(default_factory=list, description="An event's bound facts.")
    session: str | None = Field(None, description="Hierarchical: the session's summary.")

    @classmethod
    def of(cls, e: Entry, score: float | None = None) -> MemoryItem:
        ts = e.timestamp.isoformat() if e.timestamp is not None else None
        return cls(
            id=e.id,
            text=e.text,
            timestamp=ts,
            score=score,
            pool=author_label(e.scope),
            images=ImageItem.all(e.images),
            memory_kind=e.kind,
        )

    @classmethod
    def of_hit(cls, h: Hit) -> MemoryItem:
        ts = h.timestamp.isoformat() if h.timestamp is not None else None
        images = h.entry.images if h.entry is not None else h.turn.images if h.turn else []
        return cls(
            id=h.id,
            text=h.text,
            timestamp=ts,
            score=h.score,
            kind=h.kind,
            pool=author_label(h.scope),
            images=ImageItem.all(images),
            memory_kind=h.entry.kind if h.entry is not None else "fact",
            facts=[f.text for f in h.facts],
            session=h.session.text if h.session is not None else None,
        )


class Memories(BaseModel):
    memories: list[MemoryItem]


class PromptContext(BaseModel):
    text: str = Field(description="The prompt-ready block: memories by date, then turns.")
    tokens: int
    budget_tokens: int
    items: list[MemoryItem]


class Added(BaseModel):
    turn_ids: list[str]
    memories_created: int = Field(description="Memories extracted by this call (process_now).")
    note: str | None = Field(
        None, description="Set when extraction has to wait (the LLM endpoint is unreachable)."
    )


class Deleted(BaseModel):
    deleted: str


class Forgotten(BaseModel):
    done: bool = Field(description="False for a preview (confirm=false): nothing changed.")
    purged: bool
    memories: list[MemoryItem]
    turns: int = Field(description="Source turns concerned (erased with purge).")


class MemoryDetail(MemoryItem):
    status: str = Field(description="active, or deleted (a tombstone).")
    version: int
    sources: list[str] = Field(description="Ids of the turns it was drawn from.")
    pinned: bool
    valid_from: str | None = Field(None, description="Since when it holds (ISO 8601).")
    valid_until: str | None = Field(
        None, description="Until when it held, once a newer memory replaced it."
    )
    superseded_by: str | None = Field(
        None, description="The memory that replaced it; null while it is current."
    )

    @classmethod
    def of_entry(cls, e: Entry) -> MemoryDetail:
        item = MemoryItem.of(e)
        return cls(
            **item.model_dump(),
            status=e.status.value,
            version=e.version,
            sources=list(e.sources),
            pinned=e.pinned,
            valid_from=e.valid_from.isoformat() if e.valid_from else None,
            valid_until=e.valid_until.isoformat() if e.valid_until else None,
            superseded_by=e.superseded_by,
        )


class Exported(BaseModel):
    records: list[dict[str, Any]] = Field(
        description="Export records (kinds turn, entry, history, batch, pair); no vectors."
    )
