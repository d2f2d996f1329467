"""Turning a batch of turns into memory entries: with ONE LLM call, or without an LLM.

The prompt is deliberately short (the system prompt is most of the cost of every call in
the field's systems): numbered turns grouped under a date/session header, and a compact
JSON schema. Sources come back as those numbers and are mapped to turn ids here (the
short-term stage then checks them, :mod:`lightmem.shortterm.provenance`).

One call never carries more turn tokens than ``buffer.max_batch_tokens`` or, for a model
with a known context (the local model), than leaves room for the prompt and the reply: a
turn too long for that is cut for the prompt only (longest first); the stored turn keeps
its full text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from lightmem.ids import new_id
from lightmem.llm.base import LLM, ChatMessage, Completion
from lightmem.llm.structured import ask_structured
from lightmem.shortterm.batching import fair_caps, turn_budget
from lightmem.text import clean_text
from lightmem.tokens import count_tokens, truncate_tokens
from lightmem.types import Entry, Turn

log = logging.getLogger(__name__)

REPLY_BASE = 256  # reply tokens of a batch: REPLY_BASE + 2 per turn token, at most REPLY_CAP
REPLY_CAP = 4096
LINE_TOKENS = 12  # allowance per rendered line ("[n] Speaker: ", a header) in a context
CUT_MARK = " […]"

SYSTEM_PROMPT = (
    "Extract long-term memories from the conversation. Each memory is ONE standalone fact "
    "in the third person that keeps names, numbers, places and dates; never 'I', 'you', "
    "'he' or 'she' without the name. Turn relative dates ('yesterday', 'next month') into "
    "absolute ones using the header date. Skip greetings and small talk. 'sources' lists the "
    "[n] numbers of the messages the fact comes from. Nothing worth keeping: "
    '{"memories": []}.'
)


EVENT_PROMPT = (
    SYSTEM_PROMPT[: -len('Nothing worth keeping: {"memories": []}.')]
    + "Then bind the facts into 'events': what happened (one standalone sentence), when "
    "(absolute date), who, where, why and the outcome when said, 'facts' the numbers (1 = "
    "the first memory) of the memories it binds, 'sources' its [n] messages. 'links' join "
    "events: {source, target} event numbers and a relation: cause, follow_up or "
    'same_entity. Nothing worth keeping: {"memories": [], "events": [], "links": []}.'
)
RELATIONS = ("cause", "follow_up", "same_entity")


class ExtractedMemory(BaseModel):
    model_config = ConfigDict(extra="ignore")
    text: str = Field(min_length=1, max_length=600)
    sources: list[int]
    keywords: list[str] = Field(default_factory=list)

    @field_validator("text")
    @classmethod
    def _clean_text(cls, v: str) -> str:
        v = clean_text(v).strip()
        if not v:
            raise ValueError("a memory's text must not be blank")
        return v

    @field_validator("keywords")
    @classmethod
    def _clean_keywords(cls, v: list[str]) -> list[str]:
        return [k for k in (clean_text(x).strip() for x in v) if k]


class ExtractionOutput(BaseModel):
    model_config = ConfigDict(extra="ignore")
    memories: list[ExtractedMemory] = Field(max_length=200)


class ExtractedEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")
    text: str = Field(min_length=1, max_length=600)
    when: str | None = Field(None, max_length=200)
    who: list[str] = Field(default_factory=list)
    where: str | None = Field(None, max_length=200)
    why: str | None = Field(None, max_length=600)
    outcome: str | None = Field(None, max_length=600)
    facts: list[int] = Field(default_factory=list)
    sources: list[int] = Field(default_factory=list)

    @field_validator("text", "when", "where", "why", "outcome")
    @classmethod
    def _clean(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = clean_text(v).strip()
        return v or None

    @field_validator("who")
    @classmethod
    def _clean_who(cls, v: list[str]) -> list[str]:
        return [k for k in (clean_text(x).strip() for x in v) if k]


class EventLink(BaseModel):
    model_config = ConfigDict(extra="ignore")
    source: int
    target: int
    relation: str = "follow_up"

    @field_validator("relation")
    @classmethod
    def _relation(cls, v: str) -> str:
        v = "_".join(v.lower().replace("-", " ").split())
        return v if v in RELATIONS else "follow_up"


class EventOutput(ExtractionOutput):
    events: list[ExtractedEvent] = Field(default_factory=list, max_length=100)
    links: list[EventLink] = Field(default_factory=list, max_length=400)


@lru_cache(maxsize=64)
def event_output_model(max_items: int) -> type[EventOutput]:
    return create_model(
        f"EventOutput{max_items}",
        __base__=EventOutput,
        memories=(list[ExtractedMemory], Field(max_length=max_items)),
    )


@lru_cache(maxsize=64)
def output_model(max_items: int) -> type[ExtractionOutput]:
    """The output schema for a batch: at most ``max_items`` memories. The bound is part of
    the JSON schema, so a grammar-constrained small model cannot loop until max_tokens."""
    return create_model(
        f"ExtractionOutput{max_items}",
        __base__=ExtractionOutput,
        memories=(list[ExtractedMemory], Field(max_length=max_items)),
    )


def max_memories(turns: list[Turn]) -> int:
    return min(200, max(4, 2 * len(turns)))


@dataclass(slots=True)
class ExtractionReport:
    """What an extraction produced, plus the source ids it had to repair (visible in stats).

    For an LLM extraction, ``cited[i]`` holds entry ``i``'s valid source numbers as 0-based
    turn indices (empty when the LLM gave none valid) and ``views`` the text of each turn as
    the model saw it, so the stage can check the links; both are None without an LLM.
    """

    entries: list[Entry]
    invalid_sources: int = 0
    raw: str = ""
    calls: list[Completion] = field(default_factory=list)
    cited: list[list[int]] | None = None
    views: list[str] | None = None
    #: event mode: events (kind "event"), each binding ``meta["facts"]`` (indexes into
    #: ``entries`` until the stage stores them as ids) and citing ``event_cited`` turns
    events: list[Entry] = field(default_factory=list)
    event_cited: list[list[int]] = field(default_factory=list)


def prompt_views(turns: list[Turn], budget: int) -> list[str]:
    """Each turn's text for the prompt (whitespace collapsed), the longest cut so that all
    fit ``budget`` turn tokens; a cut text ends with ``CUT_MARK``."""
    texts = [" ".join(t.view.split()) for t in turns]
    sizes = [t.tokens or count_tokens(text) for t, text in zip(turns, texts, strict=True)]
    caps = fair_caps(sizes, budget)
    views = []
    for turn, text, size, cap in zip(turns, texts, sizes, caps, strict=True):
        if cap < size:
            short = truncate_tokens(text, max(cap - 2, 0))
            if len(short) < len(text):
                log.warning(
                    "turn %s (%d tokens) was cut to %d tokens for extraction; the stored "
                    "turn keeps its full text",
                    turn.id,
                    size,
                    cap,
                )
                text = short + CUT_MARK
        views.append(text)
    return views


def render_batch(turns: list[Turn], views: list[str] | None = None) -> str:
    """The batch as numbered lines under date/session headers (1-based numbers); ``views``
    replaces the turns' texts (see :func:`prompt_views`)."""
    if views is None:
        views = [" ".join(t.view.split()) for t in turns]
    lines: list[str] = []
    header: tuple[str | None, str | None] | None = None
    for n, turn in enumerate(turns, start=1):
        stamp = _header_time(turn.timestamp)
        key = (stamp, turn.session_id)
        if key != header:
            parts = [
                p for p in (stamp, f"session {turn.session_id}" if turn.session_id else None) if p
            ]
            lines.append("## " + (" · ".join(parts) if parts else "undated"))
            header = key
        lines.append(f"[{n}] {turn.label}: {views[n - 1]}")
    return "\n".join(lines)


def _header_time(ts: datetime | None) -> str | None:
    return None if ts is None else ts.strftime("%Y-%m-%d (%a) %H:%M")


def entry_from_turns(text: str, turns: list[Turn], keywords: list[str], origin: str) -> Entry:
    """An entry linked to its source turns; time, speakers, run and topic come from them."""
    entry = Entry(
        id=new_id(),
        scope=turns[0].scope,
        text=text.strip(),
        keywords=[k.strip() for k in keywords if k.strip()],
        origin=origin,  # type: ignore[arg-type]
    )
    return relink(entry, turns)


def relink(entry: Entry, turns: list[Turn]) -> Entry:
    """The entry linked to other source turns: its time, speakers and topic follow them."""
    stamps = [t.timestamp for t in turns if t.timestamp is not None]
    return replace(
        entry,
        sources=[t.id for t in turns],
        timestamp=max(stamps) if stamps else None,
        speakers=list(dict.fromkeys(t.label for t in turns)),
        topic_id=turns[0].segment_id,
    )


class Extractor:
    """Interface: a batch of turns in, entries out."""

    uses_llm = False

    def extract(self, turns: list[Turn]) -> ExtractionReport:
        raise NotImplementedError


class TurnExtractor(Extractor):
    """No-LLM mode: one entry per turn, its text the (compressed) turn with the speaker.

    Single turns beat whole segments at a fixed token budget (``shared/data/README.md``),
    so the retrieved unit is the compressed turn, linked to its topic segment.
    """

    def extract(self, turns: list[Turn]) -> ExtractionReport:
        return ExtractionReport(
            entries=[entry_from_turns(turn_unit_text(t), [t], [], "turn") for t in turns]
        )


def output_budget(said: int) -> int:
    """Reply tokens allowed for ``said`` turn tokens: facts restate at most what was said,
    plus JSON."""
    return min(REPLY_CAP, REPLY_BASE + 2 * said)


def turn_unit_text(turn: Turn) -> str:
    return f"{turn.label}: {' '.join(turn.view.split())}"


class LLMExtractor(Extractor):
    uses_llm = True

    def __init__(
        self,
        llm: LLM,
        *,
        max_retries: int,
        on_call: Callable[[Completion, bool], None] | None = None,
        max_batch_tokens: int = 8000,
        mode: str = "facts",
    ) -> None:
        self.llm = llm
        self.max_retries = max_retries
        self.on_call = on_call
        self.max_batch_tokens = max_batch_tokens
        self.events = mode == "event"

    def budget(self, turns: list[Turn]) -> int:
        """Turn tokens one call may carry: ``max_batch_tokens`` (the unit batches are
        planned in) and, for a model with a known context, what its prompt (system prompt,
        headers and line prefixes: at most two lines per turn) and reply leave."""
        fixed = count_tokens(self.prompt) + LINE_TOKENS * 2 * len(turns)
        return turn_budget(
            self.max_batch_tokens, self.llm.context_tokens, fixed, REPLY_BASE, REPLY_CAP
        )

    @property
    def prompt(self) -> str:
        return EVENT_PROMPT if self.events else SYSTEM_PROMPT

    def extract(self, turns: list[Turn]) -> ExtractionReport:
        views = prompt_views(turns, self.budget(turns))
        messages = [
            ChatMessage(role="system", content=self.prompt),
            ChatMessage(role="user", content=render_batch(turns, views)),
        ]
        model = event_output_model if self.events else output_model
        result = ask_structured(
            self.llm,
            messages,
            model(max_memories(turns)),
            max_retries=self.max_retries,
            max_tokens=output_budget(sum(count_tokens(v) for v in views)),
            on_call=self.on_call,
        )
        entries: list[Entry] = []
        cited: list[list[int]] = []
        invalid = 0
        seen: dict[str, int] = {}
        position: dict[int, int] = {}  # the reply's memory number -> index in entries
        for number, mem in enumerate(result.value.memories, start=1):
            key = " ".join(mem.text.lower().split())
            if key in seen:  # a repeated fact (small models loop) is one memory
                position[number] = seen[key]
                continue
            seen[key] = position[number] = len(entries)
            valid = [i - 1 for i in dict.fromkeys(mem.sources) if 1 <= i <= len(turns)]
            invalid += len(set(mem.sources)) - len(valid)
            # No valid source: the fact is kept, linked to the whole batch until the stage
            # points it at the turns that support it (never dropped).
            picked = [turns[i] for i in valid] or list(turns)
            entries.append(entry_from_turns(mem.text, picked, mem.keywords, "llm"))
            cited.append(valid)
        report = ExtractionReport(
            entries=entries,
            invalid_sources=invalid,
            raw=result.raw,
            calls=result.calls,
            cited=cited,
            views=views,
        )
        if isinstance(result.value, EventOutput):
            report.invalid_sources += self._events(result.value, turns, position, report)
        return report

    def _events(
        self,
        value: EventOutput,
        turns: list[Turn],
        position: dict[int, int],
        report: ExtractionReport,
    ) -> int:
        """Events binding the facts: each keeps its fields, its facts (as indexes into the
        report's entries) and its links to the other events of the batch."""
        invalid = 0
        numbers: dict[int, int] = {}  # the reply's event number -> index in report.events
        for number, ev in enumerate(value.events, start=1):
            facts = list(dict.fromkeys(position[f] for f in ev.facts if f in position))
            invalid += len(set(ev.facts)) - len(facts)
            valid = [i - 1 for i in dict.fromkeys(ev.sources) if 1 <= i <= len(turns)]
            invalid += len(set(ev.sources)) - len(valid)
            picked = (
                [turns[i] for i in valid]
                or [turns[i] for i in sorted({j for f in facts for j in (report.cited or [])[f]})]
                or list(turns)
            )
            entry = entry_from_turns(ev.text, picked, ev.who, "llm")
            fields = {"when": ev.when, "who": ev.who, "where": ev.where, "why": ev.why}
            fields["outcome"] = ev.outcome
            entry.kind = "event"
            entry.meta = {**{k: v for k, v in fields.items() if v}, "facts": facts, "links": []}
            numbers[number] = len(report.events)
            report.events.append(entry)
            report.event_cited.append(valid)
        for link in value.links:
            a, b = numbers.get(link.source), numbers.get(link.target)
            if a is None or b is None or a == b:
                invalid += 1
                continue
            report.events[a].meta["links"].append({"to": b, "relation": link.relation})
        return invalid
