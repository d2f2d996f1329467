"""``llm.annotated``: the LLM path measured without an LLM (an oracle proxy).

LoCoMo ships what a strong model extracted from each session: ``observation`` facts per
session and speaker, each with the ``dia_id`` of its evidence turns. This backend answers
every extraction call with the observation facts of the turns in that batch, written as the
JSON reply a real model would give (numbered sources), so the real pipeline runs unchanged:
batching, the one structured-output path, source mapping, storage, consolidation and
retrieval. Reports call it "annotated extraction (oracle proxy)".

Each prompt line ``[n] Speaker: text`` under its ``## date · session S`` header is matched
to the dataset turn with that session, speaker and text (a compressed line to the turn of
that session sharing most of its words). A fact is answered by the batch holding its
earliest evidence turn, with every evidence turn of that batch as a source, so a build
stores each fact once. Sleep-time update calls are answered ``ignore`` (the dataset has no
update annotations). Session-summary calls (:mod:`lightmem.longterm.summaries`) are answered
with LoCoMo's ``session_summary`` of each session shown; event-mode extraction calls also get
the ``event_summary`` events of the batch's sessions (an event goes to the batch holding the
turn most like it), each binding the batch's facts of that session and speaker that share
its words (at least its closest one), linked ``follow_up`` to the speaker's previous event.
Any other call is a :class:`ProviderError`.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from lightmem.datasets.locomo import load_locomo, normalise_evidence
from lightmem.errors import ConfigError, ProviderError
from lightmem.llm.base import LLM, ChatMessage, Completion, LLMOptions
from lightmem.longterm.consolidation import UPDATE_PROMPT
from lightmem.longterm.decisions import BATCH_UPDATE_PROMPT, target_numbers
from lightmem.longterm.summaries import SUMMARY_PROMPT
from lightmem.shortterm.extraction import EVENT_PROMPT
from lightmem.shortterm.extraction import SYSTEM_PROMPT as EXTRACTION_PROMPT
from lightmem.tokens import count_tokens

LABEL = "annotated extraction (oracle proxy)"
_LINE = re.compile(r"^\[(\d+)\] ([^:]{1,200}): (.*)$")
_SESSION = re.compile(r"session (\S+)\s*$")


class AnnotatedOptions(LLMOptions):
    data: str | None = None  # the LoCoMo JSON file whose annotations answer
    model: str = LABEL


@dataclass(slots=True)
class Fact:
    text: str
    evidence: list[str]  # dia_ids, in conversation order
    session: str = ""  # session id ("session_3")
    speaker: str = ""


@dataclass(slots=True)
class Event:
    text: str
    speaker: str
    date: str | None


@dataclass(slots=True)
class Annotations:
    """What the file's strong model wrote, indexed for answering prompts."""

    #: (session_id, speaker, normalised text) -> [(sample_id, dia_id)]
    by_line: dict[tuple[str, str, str], list[tuple[str, str]]] = field(default_factory=dict)
    #: (sample_id, session_id) -> [(dia_id, speaker, words)] for fuzzy matches
    by_session: dict[tuple[str, str], list[tuple[str, str, set[str]]]] = field(default_factory=dict)
    #: sample_id -> dia_id -> facts whose earliest evidence is that turn
    facts: dict[str, dict[str, list[Fact]]] = field(default_factory=dict)
    #: sample_id -> dia_id -> position in the conversation
    order: dict[str, dict[str, int]] = field(default_factory=dict)
    #: (sample_id, session_id) -> the session's summary / its events
    summaries: dict[tuple[str, str], str] = field(default_factory=dict)
    events: dict[tuple[str, str], list[Event]] = field(default_factory=dict)
    dropped_evidence: int = 0  # observation evidence ids naming no turn
    unanchored_facts: int = 0  # observations none of whose evidence names a turn


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def load_annotations(path: Path) -> Annotations:
    dataset = load_locomo(path)
    raw = json.loads(path.read_text(encoding="utf-8"))
    ann = Annotations()
    for conv in dataset.conversations:
        sid = conv.sample_id
        order = {t.ref: i for i, t in enumerate(conv.turns)}
        ann.order[sid] = order
        for t in conv.turns:
            key = (t.session_id, t.speaker or t.role, _norm(t.content))
            ann.by_line.setdefault(key, []).append((sid, t.ref))
            ann.by_session.setdefault((sid, t.session_id), []).append(
                (t.ref, t.speaker or t.role, _words(t.content))
            )
        sample = next(s for s in raw if str(s.get("sample_id")) == sid)
        facts: dict[str, list[Fact]] = {}
        observations = sample.get("observation") or {}
        for skey in sorted(observations, key=_session_number):
            session = f"session_{_session_number(skey)}"
            for speaker, items in (observations[skey] or {}).items():
                for item in items or []:
                    if not isinstance(item, list) or len(item) != 2:
                        continue
                    text, ev = item
                    ids: list[str] = []
                    for e in ev if isinstance(ev, list) else [ev]:
                        ids += normalise_evidence(str(e))[0]
                    known = sorted({i for i in ids if i in order}, key=order.__getitem__)
                    ann.dropped_evidence += len(set(ids)) - len(known)
                    if not known or not str(text).strip():
                        ann.unanchored_facts += 1
                        continue
                    fact = Fact(str(text).strip(), known, session, str(speaker))
                    facts.setdefault(known[0], []).append(fact)
        ann.facts[sid] = facts
        for key, text in (sample.get("session_summary") or {}).items():
            if isinstance(text, str) and text.strip():
                ann.summaries[(sid, f"session_{_session_number(key)}")] = text.strip()
        for key, by_speaker in (sample.get("event_summary") or {}).items():
            if not isinstance(by_speaker, dict):
                continue
            date = by_speaker.get("date")
            events = [
                Event(str(e).strip(), str(who), str(date) if date else None)
                for who, items in by_speaker.items()
                if who != "date" and isinstance(items, list)
                for e in items
                if str(e).strip()
            ]
            ann.events[(sid, f"session_{_session_number(key)}")] = events
    return ann


def _session_number(key: str) -> int:
    m = re.search(r"(\d+)", key)
    return int(m[1]) if m else 0


class AnnotatedLLM(LLM):
    mode: ClassVar[str] = "annotated"
    Options: ClassVar[type[BaseModel]] = AnnotatedOptions

    def __init__(self, options: BaseModel | None = None) -> None:
        super().__init__(options)
        self._lock = threading.Lock()
        self._annotations: Annotations | None = None

    @property
    def annotations(self) -> Annotations:
        with self._lock:
            if self._annotations is None:
                data = getattr(self.options, "data", None)
                if not data:
                    raise ConfigError(
                        "llm.annotated needs llm.options.data: the LoCoMo JSON file whose "
                        "observation annotations answer the extraction calls (the bench sets "
                        "it from --data)"
                    )
                self._annotations = load_annotations(Path(data))
            return self._annotations

    @property
    def caveat(self) -> str | None:
        return "an oracle proxy for benchmarks: it replays LoCoMo's annotated facts"

    def complete(
        self,
        messages: list[ChatMessage],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
    ) -> Completion:
        system = next((m.content for m in messages if m.role == "system"), "")
        prompt = "\n".join(m.content for m in messages if m.role == "user")
        reply: dict[str, Any]
        if system == EXTRACTION_PROMPT:
            reply = {"memories": self.memories(prompt, _max_items(schema))}
        elif system == EVENT_PROMPT:
            reply = self.events(prompt, _max_items(schema))
        elif system == SUMMARY_PROMPT:
            reply = {"summaries": self.summaries(prompt)}
        elif system == UPDATE_PROMPT:
            reply = {"action": "ignore", "text": None, "reason": "annotated: no update labels"}
        elif system == BATCH_UPDATE_PROMPT:
            reason = "annotated: no update labels"
            reply = {
                "decisions": [
                    {"target": n, "action": "ignore", "text": None, "reason": reason}
                    for n in target_numbers(prompt)
                ]
            }
        else:
            raise ProviderError(
                "the annotated provider answers extraction and sleep-time update calls only; "
                "give QA and judge calls a real LLM (--answer-llm / --judge-llm)"
            )
        text = json.dumps(reply)
        tokens_in = sum(count_tokens(m.content) for m in messages)
        return Completion(text, tokens_in, count_tokens(text), 0.0, LABEL)

    def memories(self, prompt: str, max_items: int | None) -> list[dict[str, Any]]:
        """The observation facts of the batch in ``prompt``, sources as its line numbers."""
        return [m for m, _ in self._facts(self._batch(prompt), max_items)]

    def _batch(self, prompt: str) -> tuple[str, dict[str, int]] | None:
        """The conversation most of the prompt's lines come from, and each of its turns'
        line number (None when no line names a turn)."""
        lines = self._lines(prompt)
        if not lines:
            return None
        samples = [s for s, _ in lines.values()]
        sample = max(set(samples), key=samples.count)
        return sample, {ref: n for n, (s, ref) in lines.items() if s == sample}

    def _facts(
        self, batch: tuple[str, dict[str, int]] | None, max_items: int | None
    ) -> list[tuple[dict[str, Any], Fact]]:
        ann = self.annotations
        if batch is None:
            return []
        sample, number = batch
        out: list[tuple[dict[str, Any], Fact]] = []
        for ref in sorted(number, key=ann.order[sample].__getitem__):
            for fact in ann.facts[sample].get(ref, []):
                sources = [number[r] for r in fact.evidence if r in number]
                out.append(({"text": fact.text, "sources": sources, "keywords": []}, fact))
        return out if max_items is None else out[:max_items]

    def events(self, prompt: str, max_items: int | None) -> dict[str, Any]:
        """An event-mode reply: the batch's facts, its sessions' annotated events binding
        them, and follow-up links between a speaker's events."""
        ann = self.annotations
        batch = self._batch(prompt)
        facts = self._facts(batch, max_items)
        out: dict[str, Any] = {"memories": [m for m, _ in facts], "events": [], "links": []}
        if batch is None:
            return out
        sample, number = batch
        sessions = list(dict.fromkeys(self._session_of(sample, ref) for ref in number))
        last: dict[str, int] = {}
        for session in sessions:
            turns = ann.by_session.get((sample, session), [])
            for event in ann.events.get((sample, session), []):
                words = _words(event.text)
                best = max(turns, key=lambda t: _jaccard(words, t[2]), default=None)
                if best is None or best[0] not in number:
                    continue  # another batch holds the turn most like it
                mine = [
                    (i, _jaccard(words, _words(f.text)))
                    for i, (_, f) in enumerate(facts)
                    if f.session == session and f.speaker == event.speaker
                ]
                bound = [i for i, score in mine if score >= 0.2]
                if not bound and mine:
                    bound = [max(mine, key=lambda m: m[1])[0]]
                out["events"].append(
                    {
                        "text": event.text,
                        "when": event.date,
                        "who": [event.speaker],
                        "facts": [i + 1 for i in bound],
                        "sources": [number[best[0]]],
                    }
                )
                n = len(out["events"])
                if event.speaker in last:
                    out["links"].append(
                        {"source": last[event.speaker], "target": n, "relation": "follow_up"}
                    )
                last[event.speaker] = n
        return out

    def summaries(self, prompt: str) -> list[dict[str, Any]]:
        """Each '# Session n' block answered with its session's annotated summary."""
        out: list[dict[str, Any]] = []
        for n, block in _session_blocks(prompt):
            batch = self._batch(block)
            if batch is None:
                continue
            sample, number = batch
            session = self._session_of(sample, min(number, key=number.__getitem__))
            text = self.annotations.summaries.get((sample, session))
            if text:
                out.append({"session": n, "summary": text, "keywords": []})
        return out

    def _session_of(self, sample: str, ref: str) -> str:
        m = re.match(r"D(\d+):", ref)
        return f"session_{m[1]}" if m else ""

    def _lines(self, prompt: str) -> dict[int, tuple[str, str]]:
        """Prompt line number -> (sample_id, dia_id) of the turn it shows. The batch is one
        conversation's: the sample most lines match decides lines two samples share."""
        ann = self.annotations
        session = ""
        parsed: list[tuple[int, str, str, str]] = []
        votes: dict[str, int] = {}
        for raw in prompt.splitlines():
            line = raw.strip()
            if line.startswith("## "):
                m = _SESSION.search(line)
                session = m[1] if m else ""
                continue
            m = _LINE.match(line)
            if m is None:
                continue
            parsed.append((int(m[1]), session, m[2], m[3]))
            for sample in {s for s, _ in ann.by_line.get((session, m[2], _norm(m[3])), [])}:
                votes[sample] = votes.get(sample, 0) + 1
        if not votes:
            return {}
        sample = max(votes, key=lambda s: (votes[s], s))
        found: dict[int, tuple[str, str]] = {}
        for n, session, speaker, text in parsed:
            exact = [
                ref
                for s, ref in ann.by_line.get((session, speaker, _norm(text)), [])
                if s == sample
            ]
            match = (sample, exact[0]) if exact else self._fuzzy(sample, session, speaker, text)
            if match is not None:
                found[n] = match
        return found

    def _fuzzy(self, sample: str, session: str, speaker: str, text: str) -> tuple[str, str] | None:
        """The turn of that session and speaker sharing most words with ``text``."""
        words = _words(text)
        best: tuple[float, str] | None = None
        for ref, who, turn_words in self.annotations.by_session.get((sample, session), []):
            if who != speaker or not turn_words:
                continue
            score = len(words & turn_words) / len(words | turn_words)
            if best is None or score > best[0]:
                best = (score, ref)
        return (sample, best[1]) if best is not None and best[0] >= 0.3 else None


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _session_blocks(prompt: str) -> list[tuple[int, str]]:
    """The ``# Session n`` blocks of a summary prompt: (n, the block's text)."""
    parts = re.split(r"^# Session (\d+)\s*$", prompt, flags=re.MULTILINE)
    return [(int(parts[i]), parts[i + 1]) for i in range(1, len(parts) - 1, 2)]


def _max_items(schema: dict[str, Any] | None) -> int | None:
    """The bound on memories the extraction schema allows, if it states one."""
    if not schema:
        return None
    node = schema.get("properties", {}).get("memories", {})
    value = node.get("maxItems")
    return int(value) if isinstance(value, int) else None
