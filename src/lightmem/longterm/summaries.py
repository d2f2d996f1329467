"""Session summaries, built at sleep time: the top level of hierarchical retrieval.

A summary is an entry of kind ``summary`` in the session's scope: its sources are the
session's turns, ``meta`` names the session, its time span, its turn count and the facts
drawn from it. It is rebuilt (a new version, with history) when the session has grown,
and removed when the session's turns are gone. A summary its user pinned or edited is
theirs: sleep time never rewrites it. One its user deleted is not rebuilt until the session
changes.

With an LLM, sessions are summarised several to a call (``summaries.sessions_per_call``,
bounded by ``summaries.max_call_tokens``), the calls in a bounded thread pool: a session
fails alone (it is retried at the next sleep time and shows in ``stats``). Without one, a
summary is extractive (:mod:`lightmem.longterm.extractive`): the speakers, the names and
words that carry the topic (TF-IDF against the owner's other sessions) and the most central
turns (closest to the session's mean vector); the date is the summary's own time.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from lightmem.embedders.base import Embedder
from lightmem.errors import (
    ConflictError,
    ExtractionError,
    NotFoundError,
    ProviderError,
    UnreachableError,
)
from lightmem.failures import FailureLog, describe
from lightmem.llm.base import LLM, ChatMessage, Completion
from lightmem.llm.structured import ask_structured
from lightmem.longterm.extractive import KEY_TERMS, document_frequencies, extractive_summary
from lightmem.shortterm.extraction import prompt_views, render_batch
from lightmem.stores.base import Store
from lightmem.text import clean_text
from lightmem.tokens import count_tokens
from lightmem.types import Entry, EntryStatus, HistoryEvent, Scope, Turn

log = logging.getLogger(__name__)

SUMMARY_PROMPT = (
    "Summarise each conversation session below for a long-term memory index, in 2 to 5 "
    "sentences: who talked and every topic, event, plan and decision, keeping names, "
    "places, numbers and dates (absolute, from the session's header date). Answer JSON "
    '{"summaries": [{"session": n, "summary": "...", "keywords": ["..."]}]} with one item '
    "for each '# Session n' block."
)
SESSION_MARK = "# Session "
REPLY_TOKENS_PER_SESSION = 200


class SessionSummary(BaseModel):
    model_config = ConfigDict(extra="ignore")
    session: int
    summary: str = Field(min_length=1, max_length=4000)
    keywords: list[str] = Field(default_factory=list)

    @field_validator("summary")
    @classmethod
    def _clean(cls, v: str) -> str:
        v = clean_text(v).strip()
        if not v:
            raise ValueError("a summary must not be blank")
        return v


class SummaryReply(BaseModel):
    model_config = ConfigDict(extra="ignore")
    summaries: list[SessionSummary]


@dataclass(slots=True)
class SummaryResult:
    written: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    #: session ids whose summary could not be made this time (retried next time)
    failed: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Session:
    key: tuple[str | None, str]  # (run_id, session_id)
    turns: list[Turn]
    existing: Entry | None = None

    @property
    def signature(self) -> dict[str, Any]:
        return {"turns": len(self.turns), "last_turn": self.turns[-1].id}


def sessions_of(turns: list[Turn]) -> dict[tuple[str | None, str], list[Turn]]:
    """The owner's turns by (run, session), in order; turns without a session are left out."""
    out: dict[tuple[str | None, str], list[Turn]] = {}
    for t in turns:
        if t.session_id is not None and t.content.strip() and not t.forgotten:
            out.setdefault((t.scope.run_id, t.session_id), []).append(t)
    return out


class SessionSummarizer:
    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        llm: LLM | None,
        *,
        workers: int = 4,
        max_retries: int = 2,
        sessions_per_call: int = 8,
        max_call_tokens: int = 6000,
        on_call: Callable[[Completion, bool], None] | None = None,
        failures: FailureLog | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.llm = llm if llm is not None and llm.available else None
        self.workers = workers
        self.max_retries = max_retries
        self.sessions_per_call = sessions_per_call
        self.max_call_tokens = max_call_tokens
        self.on_call = on_call
        self.failures = failures if failures is not None else FailureLog(store)

    def run(self, owner: Scope) -> SummaryResult:
        """Bring the owner's session summaries up to date with its turns."""
        result = SummaryResult()
        owner = owner.owner
        turns = self.store.list_turns(owner)
        grouped = sessions_of(turns)
        existing: dict[tuple[str | None, str], Entry] = {}
        #: the newest summary of a session that is no longer active (deleted by its user,
        #: forgotten, retired): while the session is as it was then, it is not rebuilt
        gone: dict[tuple[str | None, str], Entry] = {}
        self._retired: Counter[tuple[str | None, str]] = Counter()
        for e in self.store.list_entries(owner, kind="summary", include_deleted=True):
            sid = e.meta.get("session_id")
            if not isinstance(sid, str):
                continue
            if e.status == EntryStatus.ACTIVE:
                existing[(e.scope.run_id, sid)] = e
            else:  # forgotten or retired: the next summary of the session is a new one
                self._retired[(e.scope.run_id, sid)] += 1
                gone[(e.scope.run_id, sid)] = e
        for key, entry in existing.items():
            if key not in grouped:  # the session's turns are gone
                try:
                    self.store.delete_entry(entry.id, reason="its session is gone", actor="summary")
                except NotFoundError:  # removed meanwhile by a concurrent run
                    continue
                result.removed += 1
        stale: list[Session] = []
        for key, session_turns in grouped.items():
            session = Session(key, session_turns, existing.get(key))
            old = session.existing
            if old is not None and _same_session(old, session):
                result.unchanged += 1
                continue
            if old is None and key in gone and _same_session(gone[key], session):
                result.unchanged += 1  # deleted while the session was as it is: it stays so
                continue
            if old is not None and self._users(old):
                result.unchanged += 1  # pinned, or the text is the user's: never rewritten
                continue
            stale.append(session)
        if not stale:
            return result
        texts = self._summaries(stale, grouped, result)
        facts = self._facts(owner, stale)
        vectors = self.embedder.embed([texts[s.key][0] for s in stale if s.key in texts])
        done = [s for s in stale if s.key in texts]
        for session, vector in zip(done, vectors, strict=True):
            text, keywords = texts[session.key]
            self._write(session, text, keywords, facts.get(session.key, []), vector, result)
        return result

    def _users(self, summary: Entry) -> bool:
        """Whether the summary belongs to its user now: pinned, or its text last written by
        someone other than sleep time (an edit). Sleep time leaves it as it is."""
        if summary.pinned:
            return True
        writes = [
            r
            for r in self.store.history(summary.id)
            if r.event in (HistoryEvent.ADD, HistoryEvent.UPDATE)
        ]
        return bool(writes) and writes[-1].actor != "summary"

    # -- making the texts ---------------------------------------------------------------------
    def _summaries(
        self,
        stale: list[Session],
        grouped: dict[tuple[str | None, str], list[Turn]],
        result: SummaryResult,
    ) -> dict[tuple[str | None, str], tuple[str, list[str]]]:
        if self.llm is None:
            df = document_frequencies(grouped.values())
            return {
                s.key: extractive_summary(s.turns, self._vectors(s), df, len(grouped))
                for s in stale
            }
        packs = self._packs(stale)
        out: dict[tuple[str | None, str], tuple[str, list[str]]] = {}
        with ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(packs)))) as pool:
            for pack, got in zip(packs, pool.map(self._ask, packs), strict=True):
                for session in pack:
                    if session.key in got:
                        out[session.key] = got[session.key]
                    else:
                        result.failed.append(session.key[1])
        return out

    def _packs(self, sessions: list[Session]) -> list[list[Session]]:
        packs: list[list[Session]] = []
        used = 0
        for s in sessions:
            size = sum(t.tokens or count_tokens(t.view) for t in s.turns) + 12 * len(s.turns)
            if (
                packs
                and len(packs[-1]) < self.sessions_per_call
                and used + size <= self.max_call_tokens
            ):
                packs[-1].append(s)
                used += size
            else:
                packs.append([s])
                used = size
        return packs

    def _ask(self, pack: list[Session]) -> dict[tuple[str | None, str], tuple[str, list[str]]]:
        assert self.llm is not None
        blocks = []
        for n, s in enumerate(pack, start=1):
            views = prompt_views(s.turns, self.max_call_tokens)
            blocks.append(f"{SESSION_MARK}{n}\n{render_batch(s.turns, views)}")
        messages = [
            ChatMessage(role="system", content=SUMMARY_PROMPT),
            ChatMessage(role="user", content="\n\n".join(blocks)),
        ]
        try:
            reply = ask_structured(
                self.llm,
                messages,
                SummaryReply,
                max_retries=self.max_retries,
                max_tokens=REPLY_TOKENS_PER_SESSION * len(pack) + 100,
                on_call=self.on_call,
            )
        except UnreachableError:
            return {}  # the sessions wait for the next run; the circuit reports the outage
        except (ExtractionError, ProviderError) as exc:
            private = [t.content for s in pack for t in s.turns]
            for s in pack:
                self.failures.record("summary", describe(exc, private), s.key[1])
            return {}
        out: dict[tuple[str | None, str], tuple[str, list[str]]] = {}
        for item in reply.value.summaries:
            if 1 <= item.session <= len(pack) and pack[item.session - 1].key not in out:
                keywords = [k for k in (clean_text(x).strip() for x in item.keywords) if k]
                out[pack[item.session - 1].key] = (item.summary, keywords[:KEY_TERMS])
        for s in pack:
            if s.key not in out:
                self.failures.record("summary", "the reply had no summary for it", s.key[1])
        return out

    def _vectors(self, session: Session) -> np.ndarray:
        stored = self.store.turn_vectors([t.id for t in session.turns])
        rows = [stored.get(t.id) for t in session.turns]
        dim = self.embedder.dim
        return np.stack([r if r is not None else np.zeros(dim, np.float32) for r in rows])

    # -- provenance and writing ---------------------------------------------------------------
    def _facts(
        self, owner: Scope, sessions: list[Session]
    ) -> dict[tuple[str | None, str], list[str]]:
        """The active facts and events drawn from each session's turns."""
        where = {t.id: s.key for s in sessions for t in s.turns}
        out: dict[tuple[str | None, str], list[str]] = {}
        for e in self.store.list_entries(owner):
            if e.kind == "summary":
                continue
            for key in dict.fromkeys(where[t] for t in e.sources if t in where):
                out.setdefault(key, []).append(e.id)
        return out

    def _write(
        self,
        session: Session,
        text: str,
        keywords: list[str],
        facts: list[str],
        vector: np.ndarray,
        result: SummaryResult,
    ) -> None:
        turns = session.turns
        stamps = [t.timestamp for t in turns if t.timestamp is not None]
        meta = {
            "session_id": session.key[1],
            **session.signature,
            "start": _iso(min(stamps)) if stamps else None,
            "end": _iso(max(stamps)) if stamps else None,
            "entries": facts,
            "method": "llm" if self.llm is not None else "extractive",
        }
        sources = [t.id for t in turns]
        old = session.existing
        if old is None:
            entry = Entry(
                id=summary_id(turns[0].scope, session.key[1], self._retired[session.key]),
                scope=turns[0].scope,
                text=text,
                sources=sources,
                timestamp=min(stamps) if stamps else None,
                speakers=list(dict.fromkeys(t.label for t in turns)),
                keywords=keywords,
                origin="llm" if self.llm is not None else "turn",
                kind="summary",
                meta=meta,
            )
            try:
                self.store.add_entries([entry], vector[None, :], actor="summary")
            except ConflictError:
                # another worker summarised the session first (the id is the session's)
                log.info("a session summary was written by another worker")
                return
            result.written += 1
        else:
            reason = f"the session grew to {len(turns)} turns"
            try:
                self.store.update_entry(
                    old.id,
                    text,
                    vector,
                    reason=reason,
                    actor="summary",
                    sources=sources,
                    meta=meta,
                )
            except NotFoundError:
                # deleted meanwhile (its user, a forget, a concurrent run): left as it is
                log.info("a session summary was removed while it was rebuilt")
                return
            result.updated += 1


def _same_session(summary: Entry, session: Session) -> bool:
    """Whether the summary was made of the session as it is now."""
    return all(summary.meta.get(k) == v for k, v in session.signature.items())


def summary_id(scope: Scope, session_id: str, generation: int = 0) -> str:
    """One id per session (and per summary of it retired before), so that two workers
    cannot both add its summary."""
    key = json.dumps([scope.user_id, scope.agent_id, scope.run_id, session_id, generation])
    return uuid.uuid5(uuid.NAMESPACE_URL, "lightmem:summary:" + key).hex


def _iso(ts: datetime) -> str:
    return ts.isoformat()
