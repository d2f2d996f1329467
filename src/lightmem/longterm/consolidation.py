"""Sleep-time consolidation.

For each entry not yet consolidated (a *new* entry), find older entries of the same owner
whose similarity is at least ``threshold``; they are *targets*. An LLM decides whether the
newer entries update a target, retire it (delete) or leave it be: several targets in ONE
call (packed up to ``max_call_tokens`` / ``max_targets_per_call``), the calls in a bounded
thread pool. A target whose pairs are all decided is skipped, and one with a near-duplicate
newer entry (``duplicate_threshold``) that keeps all its details (numbers, names: see
:func:`covers`) is merged without a call; without an LLM only such near-duplicates are
merged, and similar entries whose details differ are both kept.

Resumable and idempotent: every decision records its (target, source) pairs in the same
transaction that applies it, and a pair already decided is never decided again; a new
entry leaves the queue only when all its pairs are decided.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lightmem.embedders.base import Embedder
from lightmem.errors import ExtractionError, NotFoundError, ProviderError, UnreachableError
from lightmem.failures import FailureLog, describe, record_transport_failure
from lightmem.llm.base import LLM, ChatMessage, Completion
from lightmem.llm.circuit import CircuitOpenError
from lightmem.llm.structured import ask_structured
from lightmem.longterm.decisions import (
    BATCH_UPDATE_PROMPT,
    block_tokens,
    pack_sizes,
    reply_model,
    target_block,
)
from lightmem.stores.base import Store
from lightmem.text import clean_text, words
from lightmem.types import ConsolidationResult, Entry, EntryStatus, Scope

log = logging.getLogger(__name__)

UPDATE_PROMPT = (
    "You maintain a memory store. Given an OLD memory and NEWER memories about the same "
    "subject, decide what happens to the OLD one: 'update' when the newer ones add to it "
    "(give the merged text, standalone, keeping every still-true detail and dates), "
    "'replace' when they say it changed since (it was true until then: a new job, city, "
    "partner), 'delete' when they show it was wrong or fully repeat it, 'ignore' when it "
    'stays as it is. Answer JSON {"action", "text", "reason"}.'
)


class UpdateDecision(BaseModel):
    model_config = ConfigDict(extra="ignore")
    action: Literal["update", "delete", "ignore", "replace"]
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


class TargetDecision(UpdateDecision):
    target: int


@dataclass(slots=True)
class Target:
    entry: Entry
    sources: list[Entry]
    best_score: float
    scores: dict[str, float] = field(default_factory=dict)  # source id -> similarity


def _order_key(e: Entry) -> tuple[datetime, datetime, str]:
    far = datetime.min
    return (e.timestamp or e.created_at or far, e.created_at or far, e.id)


#: ``on_decision(target_id, source_ids, action)``: called for each decision the store applied
#: (``apply_decision`` returned True), never for one it found decided already.
OnDecision = Callable[[str, list[str], str], None]


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
        max_call_tokens: int = 3000,
        max_targets_per_call: int = 20,
        on_call: Callable[[Completion, bool], None] | None = None,
        failures: FailureLog | None = None,
        on_decision: OnDecision | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.llm = llm if llm is not None and llm.available else None
        self.threshold = threshold if self.llm is not None else duplicate_threshold
        self.duplicate_threshold = duplicate_threshold
        self.top_k = top_k
        self.workers = workers
        self.max_call_tokens = max_call_tokens
        self.max_targets_per_call = max_targets_per_call
        self.max_retries = max_retries
        self.on_call = on_call
        self.failures = failures if failures is not None else FailureLog(store)
        self.on_decision = on_decision

    def run(self, scope: Scope | None = None) -> ConsolidationResult:
        """Consolidate every queued entry (of ``scope``, or of the whole store)."""
        return self.run_entries(self.store.consolidation_queue(scope))

    def run_entries(self, queue: list[str]) -> ConsolidationResult:
        """Consolidate the queued entries ``queue`` (those a worker claimed, say)."""
        result = ConsolidationResult()
        if not queue:
            return result
        new_entries = {e.id: e for e in self.store.get_entries(queue)}
        targets = self._find_targets(list(new_entries.values()))
        result.examined = len(new_entries)
        blocked: set[str] = set()  # new entries with an undecided pair: they stay queued
        outcomes = self._decide_all(targets)
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
            elif outcome == "replace":
                result.replaced += 1
            elif outcome == "ignore":
                result.ignored += 1
        self.store.mark_consolidated([i for i in new_entries if i not in blocked])
        return result

    def _find_targets(self, new_entries: list[Entry]) -> list[Target]:
        vectors = self.store.entry_vectors([e.id for e in new_entries])
        by_target: dict[str, Target] = {}
        for new in sorted(new_entries, key=_order_key):
            if new.status != EntryStatus.ACTIVE or not _consolidated(new) or new.id not in vectors:
                continue
            owner = new.scope.owner
            hits = self.store.search_dense(owner, vectors[new.id], self.top_k + 1)
            cand_ids = [i for i, s in hits if i != new.id and s >= self.threshold]
            scores = dict(hits)
            for old in self.store.get_entries(cand_ids):
                if not _consolidated(old) or _order_key(old) >= _order_key(new):
                    continue  # only newer facts act on older ones; structure is rebuilt
                t = by_target.get(old.id)
                if t is None:
                    t = by_target[old.id] = Target(old, [], scores[old.id])
                t.sources.append(new)
                t.best_score = max(t.best_score, scores[old.id])
                t.scores[new.id] = scores[old.id]
        return sorted(by_target.values(), key=lambda t: _order_key(t.entry))

    def _decide_all(self, targets: list[Target]) -> list[str]:
        """An outcome per target: decided pairs skipped, near-duplicates merged, the rest
        asked in packs (one call each, the calls in the pool)."""
        outcomes = ["done"] * len(targets)
        asked: list[int] = []
        for i, target in enumerate(targets):
            done = self.store.pairs_done(target.entry.id, [s.id for s in target.sources])
            target.sources = [s for s in target.sources if s.id not in done]
            if not target.sources:
                continue  # nothing new since the last run
            dupes = [
                s
                for s in target.sources
                if target.scores[s.id] >= self.duplicate_threshold
                and covers(s.text, target.entry.text)
            ]
            if dupes:
                outcomes[i] = self._merge(target, dupes)
            elif self.llm is None:
                outcomes[i] = self._keep_both(target)
            else:
                asked.append(i)
        blocks = [self._block(1, targets[i]) for i in asked]
        sizes = pack_sizes(
            [block_tokens(b) for b in blocks], self.max_call_tokens, self.max_targets_per_call
        )
        packs: list[list[int]] = []
        for size in sizes:
            packs.append(asked[:size])
            asked = asked[size:]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            results = list(pool.map(lambda p: self._decide_pack([targets[i] for i in p]), packs))
        for pack, result in zip(packs, results, strict=True):
            for i, outcome in zip(pack, result, strict=True):
                outcomes[i] = outcome
        return outcomes

    def _merge(self, target: Target, dupes: list[Entry]) -> str:
        """Similarity settles it: the newest near-duplicate keeps all sources."""
        newest = max(dupes, key=_order_key)
        ids = [newest.id] + [s.id for s in target.sources if s.id != newest.id]
        return self._settle(target.entry.id, ids, "merge", reason="near-duplicate")

    def _settle(self, target_id: str, source_ids: list[str], action: Any, **kw: Any) -> str:
        """Apply a decision and report it (``on_decision``); its outcome, or ``"done"`` when
        the store found it decided already, or the target or a source erased meanwhile
        (another run purged it: what is gone needs no decision, and the new entries still
        queued are examined again by the next run)."""
        try:
            ok = self.store.apply_decision(target_id, source_ids, action, **kw)
        except NotFoundError:
            log.info("a consolidation decision found its entries erased meanwhile")
            return "done"
        if ok and self.on_decision is not None:
            self.on_decision(target_id, source_ids, action)
        return str(action) if ok else "done"

    def _keep_both(self, target: Target) -> str:
        """Without an LLM, similar entries whose details differ (a number, a name) are two
        facts: the pairs are recorded as decided and both stay."""
        ids = [s.id for s in target.sources]
        reason = "similar, but the details differ: kept both"
        return self._settle(target.entry.id, ids, "ignore", reason=reason)

    def _decide_pack(self, pack: list[Target]) -> list[str]:
        try:
            decisions = self._ask(pack)
            texts = [d.text or "" for d in decisions if d.action == "update"]
            vectors: Iterator[Any] = iter(self.embedder.embed(texts) if texts else [])
        except UnreachableError as exc:
            # the pairs stay queued for the next run; the outage is reported once, by the
            # circuit (lightmem.llm.circuit), not once per pack
            if not isinstance(exc, CircuitOpenError):
                record_transport_failure(self.store, "consolidation", exc)
            return ["failed"] * len(pack)
        except (ExtractionError, ProviderError) as exc:
            ids = ", ".join(t.entry.id for t in pack)
            log.warning("consolidation of entries %s failed: %s", ids, type(exc).__name__)
            record_transport_failure(self.store, "consolidation", exc)
            private = [e.text for t in pack for e in (t.entry, *t.sources)]
            self.failures.record("consolidation", describe(exc, private), ref=pack[0].entry.id)
            return ["failed"] * len(pack)
        outcomes: list[str] = []
        for target, decision in zip(pack, decisions, strict=True):
            update = decision.action == "update"
            outcome = self._settle(
                target.entry.id,
                [s.id for s in target.sources],
                decision.action,
                new_text=decision.text if update else None,
                vector=next(vectors) if update else None,
                reason=decision.reason or None,
            )
            outcomes.append(outcome)
        return outcomes

    def _ask(self, pack: list[Target]) -> list[UpdateDecision]:
        """The decisions of a pack, in its order: one target with the single prompt,
        several with the batched one."""
        assert self.llm is not None
        if len(pack) == 1:
            (target,) = pack
            lines = [_old_line(target.entry), "NEWER:", *_newer_lines(target.sources)]
            one = self._call(UPDATE_PROMPT, "\n".join(lines), UpdateDecision)
            assert isinstance(one, UpdateDecision)
            return [one]
        prompt = "\n\n".join(self._block(n, t) for n, t in enumerate(pack, 1))
        reply = self._call(BATCH_UPDATE_PROMPT, prompt, reply_model(len(pack), TargetDecision))
        by_number = {d.target: d for d in reply.decisions}
        return [by_number[n] for n in range(1, len(pack) + 1)]

    def _call(self, system: str, user: str, model: type[Any]) -> Any:
        assert self.llm is not None
        messages = [
            ChatMessage(role="system", content=system),
            ChatMessage(role="user", content=user),
        ]
        result = ask_structured(
            self.llm, messages, model, max_retries=self.max_retries, on_call=self.on_call
        )
        return result.value

    @staticmethod
    def _block(number: int, target: Target) -> str:
        return target_block(number, _old_line(target.entry), _newer_lines(target.sources))


def details(text: str) -> Counter[tuple[str, str]]:
    """What tells one fact from a near-identical one: tokens with a digit (numbers, dates,
    codes) and capitalised words past the first of a sentence (names, places), each with
    its role, the word before it: "Invoice 20 is for 50" holds (invoice, 20) and (for, 50),
    "Invoice 50 is for 20" neither."""
    out: Counter[tuple[str, str]] = Counter()
    first, before = True, ""
    for raw in text.split():
        token = raw.strip(".,;:!?()[]{}\"'")
        folded = words(token)
        if token and (any(ch.isdigit() for ch in token) or (token[0].isupper() and not first)):
            out.update((before, w) for w in folded)
        before = folded[-1] if folded else before
        first = raw.endswith((".", "!", "?", ":"))
    return out


def covers(newer: str, older: str) -> bool:
    """Whether ``newer`` keeps every detail of ``older`` in the same role, so merging
    ``older`` into it by similarity alone loses no fact (``Orin34`` and ``Orin346`` are two
    travellers; invoice 20 for 50 dollars is not invoice 50 for 20)."""
    return not details(older) - details(newer)


def _old_line(old: Entry) -> str:
    return f"OLD ({_date(old)}): {old.text}"


def _newer_lines(newer: list[Entry]) -> list[str]:
    return [f"- ({_date(e)}) {e.text}" for e in sorted(newer, key=_order_key)]


def _date(e: Entry) -> str:
    return e.timestamp.strftime("%Y-%m-%d") if e.timestamp else "undated"


def _consolidated(entry: Entry) -> bool:
    """Facts only: structure is rebuilt, and an application owns its keyed memories."""
    return entry.kind == "fact" and not entry.keyed
