"""Sleep-time consolidation.

For each entry not yet consolidated (a *new* entry), find older entries of the same owner
whose similarity is at least ``threshold``; they are *targets*. One LLM call per target,
in a bounded thread pool, decides whether the newer entries update it, retire it (delete)
or leave it be. Without an LLM only near-duplicates (``duplicate_threshold``) are merged.

Resumable and idempotent: every decision records its (target, source) pairs in the same
transaction that applies it, and a pair already decided is never decided again; a new
entry leaves the queue only when all its pairs are decided.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lightmem.embedders.base import Embedder
from lightmem.errors import ExtractionError, ProviderError
from lightmem.failures import FailureLog, describe
from lightmem.llm.base import LLM, ChatMessage, Completion
from lightmem.llm.structured import ask_structured
from lightmem.stores.base import Store
from lightmem.text import clean_text
from lightmem.types import ConsolidationResult, Entry, EntryStatus, LLMCall, Scope

log = logging.getLogger(__name__)

UPDATE_PROMPT = (
    "You maintain a memory store. Given an OLD memory and NEWER memories about the same "
    "subject, decide what happens to the OLD one: 'update' when the newer ones add to or "
    "change it (give the merged text, standalone, keeping every still-true detail and "
    "dates), 'delete' when they make it false or fully repeat it, 'ignore' when it stays "
    'as it is. Answer JSON {"action", "text", "reason"}.'
)


class UpdateDecision(BaseModel):
    model_config = ConfigDict(extra="ignore")
    action: Literal["update", "delete", "ignore"]
    text: str | None = None
    reason: str = Field("", max_length=2000)

    @field_validator("text", "reason")
    @classmethod
    def _clean(cls, v: str | None) -> str | None:
        return None if v is None else clean_text(v).strip()

    @model_validator(mode="after")
    def _update_needs_text(self) -> UpdateDecision:
        if self.action == "update" and not self.text:
            raise ValueError("an 'update' decision needs the merged 'text'")
        return self


@dataclass(slots=True)
class Target:
    entry: Entry
    sources: list[Entry]
    best_score: float


def _order_key(e: Entry) -> tuple[datetime, datetime, str]:
    far = datetime.min
    return (e.timestamp or e.created_at or far, e.created_at or far, e.id)


class Consolidator:
    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        llm: LLM | None,
        *,
        threshold: float,
        top_k: int,
        workers: int,
        duplicate_threshold: float,
        max_retries: int,
        on_call: Callable[[Completion, bool], None] | None = None,
        failures: FailureLog | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.llm = llm if llm is not None and llm.available else None
        self.threshold = threshold if self.llm is not None else duplicate_threshold
        self.top_k = top_k
        self.workers = workers
        self.max_retries = max_retries
        self.on_call = on_call
        self.failures = failures if failures is not None else FailureLog(store)

    def run(self, scope: Scope | None = None) -> ConsolidationResult:
        result = ConsolidationResult()
        queue = self.store.consolidation_queue(scope)
        if not queue:
            return result
        new_entries = {e.id: e for e in self.store.get_entries(queue)}
        targets = self._find_targets(list(new_entries.values()))
        result.examined = len(new_entries)
        blocked: set[str] = set()  # new entries with an undecided pair: they stay queued
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            outcomes = list(pool.map(self._decide, targets))
        for target, outcome in zip(targets, outcomes, strict=True):
            if outcome == "failed":
                result.failed.append(target.entry.id)
                blocked.update(s.id for s in target.sources)
            elif outcome == "update":
                result.updated += 1
            elif outcome == "delete":
                result.deleted += 1
            elif outcome == "merge":
                result.merged += 1
            elif outcome == "ignore":
                result.ignored += 1
        self.store.mark_consolidated([i for i in new_entries if i not in blocked])
        return result

    def _find_targets(self, new_entries: list[Entry]) -> list[Target]:
        vectors = self.store.entry_vectors([e.id for e in new_entries])
        by_target: dict[str, Target] = {}
        for new in sorted(new_entries, key=_order_key):
            if new.status != EntryStatus.ACTIVE or new.id not in vectors:
                continue
            owner = new.scope.owner
            hits = self.store.search_dense(owner, vectors[new.id], self.top_k + 1)
            cand_ids = [i for i, s in hits if i != new.id and s >= self.threshold]
            scores = dict(hits)
            for old in self.store.get_entries(cand_ids):
                if _order_key(old) >= _order_key(new):
                    continue  # only newer entries act on older ones
                t = by_target.get(old.id)
                if t is None:
                    t = by_target[old.id] = Target(old, [], scores[old.id])
                t.sources.append(new)
                t.best_score = max(t.best_score, scores[old.id])
        return sorted(by_target.values(), key=lambda t: _order_key(t.entry))

    def _decide(self, target: Target) -> str:
        pending = [
            s for s in target.sources if s.id not in self.store.pairs_done(target.entry.id, [s.id])
        ]
        if not pending:
            return "done"
        ids = [s.id for s in pending]
        try:
            if self.llm is None:
                # No-LLM mode: near-duplicates only; the newest copy keeps all sources.
                newest = max(pending, key=_order_key)
                ordered = [newest.id] + [i for i in ids if i != newest.id]
                ok = self.store.apply_decision(
                    target.entry.id, ordered, "merge", reason="near-duplicate"
                )
                return "merge" if ok else "done"
            decision = self._ask(target.entry, pending)
            vector = None
            text = None
            if decision.action == "update":
                text = decision.text  # validated non-empty
                vector = self.embedder.embed([text or ""])[0]
            ok = self.store.apply_decision(
                target.entry.id,
                ids,
                decision.action,
                new_text=text,
                vector=vector,
                reason=decision.reason or None,
            )
            return decision.action if ok else "done"
        except (ExtractionError, ProviderError) as exc:
            record_transport_failure(self.store, "consolidation", exc)
            private = [e.text for e in (target.entry, *pending)]
            self.failures.record("consolidation", describe(exc, private), ref=target.entry.id)
            return "failed"

    def _ask(self, old: Entry, newer: list[Entry]) -> UpdateDecision:
        assert self.llm is not None
        lines = [f"OLD ({_date(old)}): {old.text}", "NEWER:"]
        lines += [f"- ({_date(e)}) {e.text}" for e in sorted(newer, key=_order_key)]
        messages = [
            ChatMessage(role="system", content=UPDATE_PROMPT),
            ChatMessage(role="user", content="\n".join(lines)),
        ]
        result = ask_structured(
            self.llm, messages, UpdateDecision, max_retries=self.max_retries, on_call=self.on_call
        )
        return result.value


def record_transport_failure(store: Store, stage: str, exc: Exception) -> None:
    """A call that never returned a completion (endpoint down, 429/5xx after retries) is
    recorded as a failed call, so it shows in ``usage()`` like a rejected reply does."""
    if isinstance(exc, ProviderError) or isinstance(exc.__cause__, ProviderError):
        # the completions that did come back were recorded by on_call already
        store.record_llm_call(LLMCall(stage, 0, 0, 0.0, False))


def _date(e: Entry) -> str:
    return e.timestamp.strftime("%Y-%m-%d") if e.timestamp else "undated"
