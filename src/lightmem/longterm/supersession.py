"""Sleep-time supersession: each new fact checked against the older facts of its owner and
speaker by :mod:`lightmem.longterm.validity`'s rule; when it states a change, the older one
is marked replaced (``superseded_by``, ``valid_until``, a SUPERSEDE history record).

It runs after consolidation, in both modes: with an LLM, consolidation's ``replace``
decisions record what the model saw (similar memories); the rule adds the changes whose
wording is too far apart for that (a new job or city rarely reaches the consolidation
threshold). A fact is compared with the current memories only (not those already replaced),
so a chain of changes stays a chain.

Which of two memories is the newer is decided by their evidence's time, and between
memories of one time (a LoCoMo session has one date for all its turns) by the order they
were made in, which is the order of their turns: never by their random ids, which made the
same conversation link differently from one run to the next.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from functools import partial

import numpy as np

from lightmem.embedders.base import Embedder
from lightmem.errors import NotFoundError
from lightmem.longterm.validity import Candidate, content_terms, predecessor
from lightmem.retrieval.lexical import stem
from lightmem.retrieval.when import timeless
from lightmem.stores.base import Store
from lightmem.types import Entry, EntryStatus, Scope

#: older memories (by the stored vectors' cosine) the rule looks at for each new one
CANDIDATES = 30
#: a word more than this share of the owner's facts use carries no subject
COMMON_SHARE = 0.005
REASON = "a newer memory states a change of the same subject"


def subject(entry: Entry) -> str:
    """What a fact says, without the "Speaker: " a turn's own text starts with."""
    for speaker in entry.speakers:
        prefix = f"{speaker}: "
        if entry.text.startswith(prefix):
            return entry.text[len(prefix) :]
    return entry.text


class Supersession:
    def __init__(
        self, store: Store, embedder: Embedder | None = None, actor: str = "consolidation"
    ) -> None:
        """With ``embedder``, the rule's cosine is the texts' own, embedded for the few
        older memories whose words pass it; without, the stored vectors' (in no-LLM mode
        a turn's "Speaker: text")."""
        self.store = store
        self.embedder = embedder
        self.actor = actor
        #: subject texts' own vectors, embedded once per run
        self._own: dict[str, np.ndarray] = {}

    def run(self, entry_ids: Iterable[str]) -> int:
        """Check the facts ``entry_ids`` (new at this sleep time); how many older ones
        they replaced."""
        new = [e for e in self.store.get_entries(list(entry_ids)) if _fact(e)]
        owners: dict[Scope, list[Entry]] = {}
        for e in new:
            owners.setdefault(e.scope.owner, []).append(e)
        return sum(self._owner(owner, fresh) for owner, fresh in owners.items())

    def _owner(self, owner: Scope, fresh: list[Entry]) -> int:
        facts = [e for e in self.store.list_entries(owner) if _fact(e)]
        vectors = self.store.entry_vectors([e.id for e in facts])
        facts = [e for e in facts if e.id in vectors]
        if not facts:
            return 0
        matrix = np.stack([vectors[e.id] for e in facts]).astype(np.float32)
        names = _names(facts)
        ignore = _common(facts) | names | {stem(w) for w in names}
        position = {e.id: i for i, e in enumerate(facts)}  # facts come in creation order
        when = [(_stamp(e), i) for i, e in enumerate(facts)]
        replaced = 0
        for new in sorted(
            (e for e in fresh if e.id in position), key=lambda e: when[position[e.id]]
        ):
            at = position[new.id]
            candidates = self._candidates(at, facts, when, matrix @ matrix[at])
            text = subject(new)
            chosen = predecessor(text, candidates, ignore, names, partial(self._own_cosines, text))
            if chosen is None:
                continue
            try:
                self.store.set_validity(
                    chosen,
                    superseded_by=new.id,
                    valid_until=new.timestamp,
                    reason=REASON,
                    actor=self.actor,
                )
            except NotFoundError:
                # one of the two was erased since it was read (a forget, or the expiry of
                # another sleep-time run of this owner): there is no change to record
                continue
            facts[position[chosen]].superseded_by = new.id
            replaced += 1
        return replaced

    def _own_cosines(self, text: str, candidates: list[Candidate]) -> list[Candidate]:
        """``candidates`` with the cosine of their texts' own vectors to ``text``'s (the
        texts without the times they name: "I moved to Porto last week" is as much about
        where one lives as "I moved to Porto", and "last week" pulled it below the rule)."""
        if self.embedder is None:
            return candidates
        texts = [timeless(text), *(timeless(c.text) for c in candidates)]
        missing = list(dict.fromkeys(t for t in texts if t not in self._own))
        if missing:
            self._own.update(zip(missing, self.embedder.embed(missing), strict=True))
        mine = self._own[texts[0]]
        return [
            replace(c, cosine=float(self._own[t] @ mine))
            for c, t in zip(candidates, texts[1:], strict=True)
        ]

    @staticmethod
    def _candidates(
        at: int, facts: list[Entry], when: list[tuple[str, int]], sims: np.ndarray
    ) -> list[Candidate]:
        """The older facts most like ``facts[at]`` (by cosine, most similar first; equal
        ones in creation order) of the same speakers, not replaced yet."""
        new = facts[at]
        out: list[Candidate] = []
        for i in np.argsort(-sims, kind="stable"):
            old = facts[int(i)]
            if len(out) >= CANDIDATES:
                break
            if (
                when[int(i)] < when[at]
                and old.superseded_by is None
                and set(old.speakers) == set(new.speakers)
            ):
                out.append(Candidate(old.id, subject(old), float(sims[int(i)])))
        return out


def _fact(e: Entry) -> bool:
    """A fact the rule may compare: not pinned, and no keyed memory (its application owns
    it: it is replaced by a put under its key, never by the rule)."""
    return e.kind == "fact" and e.status == EntryStatus.ACTIVE and not e.pinned and not e.keyed


def _stamp(e: Entry) -> str:
    stamp = e.timestamp or e.created_at
    return stamp.isoformat() if stamp else ""


def _common(facts: list[Entry]) -> frozenset[str]:
    """Words that carry no subject for this owner: those more than :data:`COMMON_SHARE` of
    its facts use (at least 5)."""
    df = Counter(w for e in facts for w in set(content_terms(subject(e))))
    return frozenset(w for w, n in df.items() if n > max(5, COMMON_SHARE * len(facts)))


def _names(facts: list[Entry]) -> frozenset[str]:
    """The words of its speakers' names: no subject, and no detail of a fact."""
    return frozenset(w.lower() for e in facts for s in e.speakers for w in s.split())
