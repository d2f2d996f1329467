"""Typed values that cross module boundaries: turns, memory entries, hits, history, usage.

Dataclasses inside the library; pydantic only at the edges (config, LLM output, server).
Timestamps are naive UTC ``datetime`` objects (aware inputs are converted to UTC).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

SearchMode = Literal["dense", "bm25", "hybrid", "hierarchical"]
#: what an entry is: an extracted fact (or note), a session summary, or an event binding facts
EntryKind = Literal["fact", "summary", "event"]


@dataclass(frozen=True, slots=True)
class Scope:
    """Who a memory belongs to. A search never crosses scopes.

    ``user_id`` and ``agent_id`` partition the store; ``run_id`` (the session) narrows a
    search when given. At least one of ``user_id`` / ``agent_id`` is required.
    """

    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None

    @property
    def owner(self) -> Scope:
        """The partition (user, agent) without the run: buffers and consolidation live here."""
        return Scope(self.user_id, self.agent_id, None)


class TurnStage(StrEnum):
    """Where a raw turn is in the pipeline. Stored with the turn, so a restart resumes."""

    SENSORY = "sensory"  # durable, not yet cut into a topic segment
    SHORT_TERM = "short_term"  # in a segment, waiting for the short-term threshold
    BATCHED = "batched"  # assigned to an extraction batch (pending or failed)
    EXTRACTED = "extracted"  # out of the pipeline: its batch produced entries, or it was
    # forgotten before extraction (``Turn.forgotten``)


@dataclass(frozen=True, slots=True)
class ImageRef:
    """An image shared in a turn: where it is (a URL or path; never fetched) and its caption,
    which is searchable like the turn's text."""

    url: str
    caption: str | None = None


@dataclass(slots=True)
class Turn:
    """One message as stored: the original text is never overwritten."""

    id: str
    scope: Scope
    seq: int
    role: str
    content: str
    speaker: str | None = None
    session_id: str | None = None
    timestamp: datetime | None = None
    ref: str | None = None  # the dataset's own id (LoCoMo dia_id, LongMemEval session:turn)
    compressed: str | None = None
    stage: TurnStage = TurnStage.SENSORY
    segment_id: str | None = None
    batch_id: str | None = None
    tokens: int = 0
    created_at: datetime | None = None
    #: who wrote the turn into a shared pool ("user:U agent:A"); None: the pool's owner
    author: str | None = None
    images: list[ImageRef] = field(default_factory=list)
    #: tombstoned by ``forget``: never searched, never extracted (a purge erases it)
    forgotten: bool = False

    @property
    def label(self) -> str:
        """The speaker name if known, else the role."""
        return self.speaker or self.role

    @property
    def view(self) -> str:
        """The text the pipeline works on: the compressed view if there is one, with the
        captions of its images."""
        base = self.compressed if self.compressed is not None else self.content
        return base + self._captions()

    @property
    def searchable(self) -> str:
        """The original text with the captions of its images (what turn search indexes)."""
        return self.content + self._captions()

    def _captions(self) -> str:
        """`` [shares <caption>]`` per image whose caption the text does not hold already."""
        return "".join(
            f" [shares {i.caption}]"
            for i in self.images
            if i.caption and i.caption not in self.content
        )


class EntryStatus(StrEnum):
    ACTIVE = "active"
    DELETED = "deleted"  # tombstone: kept, with its history, but never returned by search


@dataclass(slots=True)
class Entry:
    """A long-term memory entry with its provenance."""

    id: str
    scope: Scope
    text: str
    sources: list[str] = field(default_factory=list)  # turn ids
    timestamp: datetime | None = None
    speakers: list[str] = field(default_factory=list)
    topic_id: str | None = None
    keywords: list[str] = field(default_factory=list)
    origin: Literal["llm", "turn", "manual"] = "llm"
    status: EntryStatus = EntryStatus.ACTIVE
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None
    #: pinned memories are never merged, changed or expired by consolidation
    pinned: bool = False
    #: when the memory stops being returned (and is purged at the next consolidation)
    expires_at: datetime | None = None
    kind: EntryKind = "fact"
    #: structure: an event's fields, bound facts (``facts``) and links; a summary's session
    meta: dict[str, Any] = field(default_factory=dict)
    #: the images of its source turns (by reference); their captions are searchable
    images: list[ImageRef] = field(default_factory=list)
    #: validity in time: the memory that replaced this one (a newer statement on the same
    #: subject: a new job, city, pet) and until when this one held; None while current
    superseded_by: str | None = None
    valid_until: datetime | None = None

    @property
    def valid_from(self) -> datetime | None:
        """Since when the memory holds: the time of its evidence."""
        return self.timestamp

    @property
    def current(self) -> bool:
        """Whether no newer memory replaced it."""
        return self.superseded_by is None

    @property
    def keyed(self) -> bool:
        """Written by an application under a key of its own (:mod:`lightmem.keyed`)."""
        return "key" in self.meta

    @property
    def searchable(self) -> bool:
        """False for a keyed memory kept but never searched (``meta["searchable"]``)."""
        return self.meta.get("searchable") is not False


def carried_images(turns: list[Turn]) -> list[ImageRef]:
    """The images of ``turns`` an entry drawn from them carries: each URL once, in order."""
    seen: dict[str, ImageRef] = {}
    for t in turns:
        for image in t.images:
            seen.setdefault(image.url, image)
    return list(seen.values())


def image_captions(images: list[ImageRef]) -> str:
    return " ".join(i.caption for i in images if i.caption)


@dataclass(slots=True)
class DecisionRecord:
    """One consolidation decision about a pair of memories: the ``target`` reconsidered
    against a newer ``source``. ``decision`` is None for a pair decided before the store
    kept it (schema 6); ``ignore`` decisions change nothing but are kept too."""

    target_id: str
    source_id: str
    decision: str | None
    reason: str | None = None
    decided_at: datetime | None = None


@dataclass(slots=True)
class Hit:
    """A search result: a memory (``entry``) or a raw turn (``turn``), its score and its
    source turns as evidence (a turn hit is its own source).

    ``score`` is the fused rank score (reciprocal-rank fusion: comparable within one result
    list only); ``relevance`` is the same order on a 0-1 scale, 1 for the best hit.
    """

    entry: Entry | None
    score: float
    sources: list[Turn] = field(default_factory=list)
    turn: Turn | None = None
    relevance: float = 1.0
    #: an event hit: the facts it binds (active ones, in the event's order)
    facts: list[Entry] = field(default_factory=list)
    #: hierarchical search: the summary of the session the hit was found through
    session: Entry | None = None
    #: a memory hit: the older memories it replaced (validity), oldest first
    replaces: list[Entry] = field(default_factory=list)
    #: the query's cosine to the hit's vector (a dense search; None otherwise): unlike the
    #: score, comparable between the hits of different pools
    match: float | None = None

    def __post_init__(self) -> None:
        if (self.entry is None) == (self.turn is None):
            raise ValueError("a hit is either a memory entry or a turn")

    @property
    def kind(self) -> Literal["memory", "turn"]:
        return "memory" if self.entry is not None else "turn"

    @property
    def id(self) -> str:
        return self.entry.id if self.entry is not None else self._turn.id

    @property
    def text(self) -> str:
        if self.entry is not None:
            return self.entry.text
        t = self._turn
        return f"{t.label}: {' '.join(t.content.split())}"

    @property
    def timestamp(self) -> datetime | None:
        return self.entry.timestamp if self.entry is not None else self._turn.timestamp

    @property
    def scope(self) -> Scope:
        return self.entry.scope if self.entry is not None else self._turn.scope

    @property
    def _turn(self) -> Turn:
        assert self.turn is not None
        return self.turn


class HistoryEvent(StrEnum):
    ADD = "ADD"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    MERGE = "MERGE"
    FORGET = "FORGET"  # tombstoned by forget() (a purge removes the entry and its history)
    PIN = "PIN"
    UNPIN = "UNPIN"
    EXPIRY = "EXPIRY"  # a TTL set or cleared: new_text holds the expiry time (ISO) or None
    #: replaced by a newer memory (new_text: its id; old_text: the one before, if any), or
    #: the replacement undone (new_text None)
    SUPERSEDE = "SUPERSEDE"


@dataclass(slots=True)
class HistoryRecord:
    id: int
    entry_id: str
    event: HistoryEvent
    old_text: str | None
    new_text: str | None
    reason: str | None
    created_at: datetime
    actor: str = "system"  # "extraction", "consolidation", "user"


@dataclass(slots=True)
class LLMCall:
    """One LLM call as recorded in the store (no prompt text: user data stays out of stats)."""

    stage: str
    tokens_in: int
    tokens_out: int
    seconds: float
    ok: bool


@dataclass(slots=True)
class StageUsage:
    calls: int = 0
    failed_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0


FailureWhere = Literal["extraction", "consolidation", "summary", "worker", "llm"]


@dataclass(slots=True)
class Failure:
    """A recent pipeline failure, as people read it: where, when and why. The message is
    the provider's or the validator's, scrubbed of user text (turns, memories, prompts)."""

    where: FailureWhere
    message: str
    at: datetime | None = None
    #: the extraction batch id, or the consolidation target's entry id
    ref: str | None = None
    #: attempts so far of a batch that is still failed (it is retried until the limit)
    attempts: int | None = None


@dataclass(slots=True)
class DayActivity:
    """What entered the store on one day (UTC): turns and memories of a scope, and LLM
    calls (store-wide: calls are not recorded per owner)."""

    day: str  # YYYY-MM-DD
    turns: int = 0
    memories: int = 0
    llm_calls: int = 0
    failed_calls: int = 0
    tokens: int = 0


@dataclass(slots=True)
class Usage:
    """LLM calls, tokens and seconds by stage, plus pipeline counters."""

    stages: dict[str, StageUsage] = field(default_factory=dict)
    failed_batches: int = 0
    pending_batches: int = 0
    buffered_turns: int = 0
    #: seconds spent in non-LLM stages (compression, embedding, segmentation) by this process
    timings: dict[str, float] = field(default_factory=dict)
    #: source ids returned by the LLM that named no turn of the batch (repaired, counted)
    invalid_sources: int = 0
    #: cited source turns that did not support their fact and were re-pointed to the
    #: turns that do (:mod:`lightmem.shortterm.provenance`)
    repaired_sources: int = 0
    #: the most recent failures, newest first (bounded; see ``lightmem.failures``)
    failures: list[Failure] = field(default_factory=list)

    @property
    def total(self) -> StageUsage:
        out = StageUsage()
        for s in self.stages.values():
            out.calls += s.calls
            out.failed_calls += s.failed_calls
            out.tokens_in += s.tokens_in
            out.tokens_out += s.tokens_out
            out.seconds += s.seconds
        return out


@dataclass(slots=True)
class Batch:
    """A short-term batch: the turns that ONE extraction call sees."""

    id: str
    scope: Scope
    turn_ids: list[str]
    status: Literal["pending", "failed", "done"] = "pending"
    attempts: int = 0
    last_error: str | None = None
    raw_reply: str | None = None
    created_at: datetime | None = None


@dataclass(slots=True)
class AddResult:
    """What ``Memory.add`` accepted: the durable turn ids, in order."""

    turn_ids: list[str]
    entries_created: int = 0
    failed_batches: list[str] = field(default_factory=list)
    #: batches left pending because the LLM endpoint cannot be reached (kept; the next
    #: add or flush tries again once it answers)
    waiting_batches: list[str] = field(default_factory=list)
    #: set when the turns were stored but processing them failed (they stay buffered and
    #: the next add/flush retries); the error, for the caller to see
    deferred: str | None = None
    #: True when an earlier add with the same idempotency key stored these turns: nothing
    #: was stored again
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class StoredKey:
    """An API key as the store keeps it: never the key, only its SHA-256."""

    name: str
    sha256: str
    admin: bool
    grants: tuple[tuple[str | None, str | None], ...]  # (user_id, agent_id) pairs
    created_at: str


@dataclass(slots=True)
class ConsolidationResult:
    examined: int = 0
    updated: int = 0
    deleted: int = 0
    merged: int = 0
    ignored: int = 0
    #: older memories a newer one replaced (validity: superseded_by, valid_until)
    replaced: int = 0
    expired: int = 0  # expired memories purged
    failed: list[str] = field(default_factory=list)  # target entry ids whose decision failed
    summaries: int = 0  # session summaries written or rebuilt
    #: session ids whose summary failed this time (retried at the next consolidation)
    failed_summaries: list[str] = field(default_factory=list)


AccessLevel = Literal["read", "write"]


@dataclass(frozen=True, slots=True)
class PoolGrant:
    """``grantee`` may read (or read and write) the memories of the owner scope ``pool``. A
    grantee without an agent covers that user's agents too."""

    pool: Scope
    grantee: Scope
    level: AccessLevel
    created_at: datetime | None = None


@dataclass(slots=True)
class ForgetResult:
    """What ``Memory.forget`` found and did. ``done`` is False for a preview.

    With ``purged``, the memories, their history and their source turns are erased from the
    store (``erased_entries``, ``erased_turns``); ``compacted`` says whether the store also
    scrubbed its files (SQLite: the WAL checkpointed and truncated; PostgreSQL: VACUUM ran).
    """

    memories: list[Entry] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    done: bool = False
    purged: bool = False
    erased_entries: int = 0
    erased_turns: int = 0
    compacted: bool = False


@dataclass(slots=True)
class EraseResult:
    """What a store's ``erase`` removed."""

    entries: int = 0
    turns: int = 0
    batches: int = 0
    compacted: bool = False
