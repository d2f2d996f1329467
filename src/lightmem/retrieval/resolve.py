"""From a fused ranking of units ("e:<entry id>", "t:<turn id>") to hits, over the owner's
index: deduplicated by the turns already chosen, with their source turns as evidence, the
facts of an event, and the current memory put before the ones it replaced.

A turn whose no-LLM memory is active is that memory. A memory every one of whose source
turns was quoted already adds nothing and is skipped; a turn cited by a chosen memory too.
When the question is about now (``present``), a memory that a newer one replaced is preceded
by the newest memory of its chain (the current one), so the current fact comes first."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from lightmem.retrieval.index import OwnerIndex
from lightmem.types import Entry, EntryStatus, Hit, Turn

Chosen = Entry | str  # a memory, or a turn id


class Resolver:
    def __init__(
        self,
        index: OwnerIndex,
        hidden: Callable[[Entry], bool] | None,
        present: bool,
    ) -> None:
        self.index = index
        self.hidden = hidden
        self.present = present
        self.chosen: list[tuple[Chosen, float]] = []
        self.covered: set[str] = set()  # turns cited by a chosen memory or shown themselves
        self.shown: set[str] = set()  # turns chosen as raw turns
        self.seen: set[str] = set()  # memories chosen

    def hits(self, fused: list[tuple[str, float]], limit: int, with_sources: bool) -> list[Hit]:
        for unit, score in fused:
            if len(self.chosen) >= limit:
                break
            self._take(unit[:1], unit[2:], score)
        del self.chosen[limit:]
        hits = [self._hit(item, score, with_sources) for item, score in self.chosen]
        return [h for h in hits if h is not None]

    def _take(self, kind: str, key: str, score: float) -> None:
        turn_entry = self.index.turn_entry
        if kind == "e" or key in turn_entry:
            entry = self.index.entries.get(key if kind == "e" else turn_entry[key])
            if not self._usable(entry) or (kind == "t" and key in self.covered):
                return
            assert entry is not None
            if entry.kind == "fact" and entry.sources and set(entry.sources) <= self.shown:
                return  # a restatement of turns already quoted (an event binds facts too)
            if self.present and entry.superseded_by is not None:
                current = self._current(entry)
                if current is not None:
                    self._choose(current, score)
            self._choose(entry, score)
        elif key not in self.covered and self.index.visible(key):
            self.covered.add(key)
            self.shown.add(key)
            self.chosen.append((key, score))

    def _usable(self, entry: Entry | None) -> bool:
        return (
            entry is not None
            and entry.status == EntryStatus.ACTIVE
            and entry.kind != "summary"  # the store's own indexes rank summaries too
            and entry.searchable  # a keyed memory kept but not searched
            and entry.id not in self.seen
            and not (self.hidden is not None and self.hidden(entry))
        )

    def _choose(self, entry: Entry, score: float) -> None:
        if entry.id in self.seen:
            return
        self.seen.add(entry.id)
        self.covered.update(entry.sources)
        self.chosen.append((entry, score))

    def _current(self, entry: Entry) -> Entry | None:
        """The newest usable memory of the chain that replaced ``entry``."""
        step, found, hops = entry, None, 0
        while step.superseded_by is not None and hops < 32:
            nxt = self.index.entries.get(step.superseded_by)
            if nxt is None:
                break
            if self._usable(nxt):
                found = nxt
            step, hops = nxt, hops + 1
        return found

    def _hit(self, item: Chosen, score: float, with_sources: bool) -> Hit | None:
        top = self.chosen[0][1] if self.chosen else 1.0
        relevance = round(score / top, 4) if top > 0 else 0.0
        if isinstance(item, Entry):
            sources = self._turns(item.sources) if with_sources else []
            hit = Hit(item, score, sources, relevance=relevance)
            if item.kind == "event":
                hit.facts = self._facts(item)
            hit.replaces = self._replaced(item)
            return hit
        found = self._turns([item])
        return Hit(None, score, found, turn=found[0], relevance=relevance) if found else None

    def _replaced(self, entry: Entry) -> list[Entry]:
        """The memories ``entry`` replaced that are still there to be named, oldest first
        (a forgotten or deleted one is not: "supersedes the memory of <date>" told of it)."""
        ids = sorted(self.index.replaced.get(entry.id, ()))
        found = [
            e
            for e in (self.index.entries.get(i) for i in ids)
            if e is not None
            and e.status == EntryStatus.ACTIVE
            and not (self.hidden is not None and self.hidden(e))
        ]
        return sorted(found, key=lambda e: e.timestamp or datetime.min)

    def _turns(self, ids: list[str]) -> list[Turn]:
        """The turns of these ids that are evidence (a forgotten turn is none)."""
        turns = self.index.turns
        return [turns[t] for t in ids if t in turns and not turns[t].forgotten]

    def _facts(self, event: Entry) -> list[Entry]:
        """The active facts an event binds, in its order: only facts of the event's own
        owner (an event's ``meta`` may come from an import, and ids it names in another
        tenant's memory are never followed)."""
        facts = event.meta.get("facts")
        wanted = [f for f in facts if isinstance(f, str)] if isinstance(facts, list) else []
        out = []
        for f in wanted:
            entry = self.index.entries.get(f)
            if (
                entry is not None
                and entry.scope.owner == event.scope.owner
                and entry.status == EntryStatus.ACTIVE
                and not (self.hidden is not None and self.hidden(entry))
            ):
                out.append(entry)
        return out
