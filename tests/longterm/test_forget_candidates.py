"""Forget narrows its rows down in the database (issue 19: a large owner's forget read and
decoded every memory and turn in the server process). The narrowing may only ever widen the
exact match: a forget through it names exactly what reading every row names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import pytest

from lightmem import Memory
from lightmem.longterm.forgetting import Forgetter, matches, words
from lightmem.stores.base import Store
from lightmem.stores.sql import candidates
from lightmem.types import Entry, Scope, Turn

ALICE = Scope(user_id="alice")

#: texts where case folding and whole words are easy to get wrong in SQL
TEXTS = [
    "I live on Hauptstraße 5 now.",  # "strasse" matches by case folding only
    "We walked down the STRASSE again.",
    "My password manager is 1Password_Pro.",  # "_" is a word character
    "Discount of 100% on the red kite.",
    "A ﬁne day for the kite festival.",  # the ligature folds to "fi"
    "The KITE was red and green.",
    "Kiteboarding lessons start in May.",  # "kite" only as a prefix: no match
    "Café Olé serves the best cortado.",
    "CAFÉ OLÉ closed early today.",
    "Nothing to see here at all.",
    "Mary's dog Biscuit loves the beach.",
    "Biscuits and tea at five.",
]
QUERIES = [
    "strasse",
    "Straße",
    "1password_pro",
    "100",
    "fine",
    "kite",
    "red kite",
    "café",
    "CAFÉ olé",
    "cafe",
    "biscuit",
    "mary",
    "s",
    "kite_",
    "%",
]


class ReadsEverything:
    """The store as it is, but forget's candidates are every row (the base's defaults)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def forget_turn_candidates(self, owner: Scope, wanted: list[str]) -> list[Turn]:
        return Store.forget_turn_candidates(cast(Store, self), owner, wanted)

    def forget_entry_candidates(
        self, owner: Scope, wanted: list[str] | None, cites: list[str], deleted: bool
    ) -> list[Entry]:
        return Store.forget_entry_candidates(cast(Store, self), owner, wanted, cites, deleted)


def seeded(open_memory: Callable[[], Memory]) -> Memory:
    mem = open_memory()
    for n, text in enumerate(TEXTS):
        mem.add({"role": "user", "content": text}, user_id="alice", session_id=f"s{n % 3}")
        mem.add({"role": "user", "content": text}, user_id="bob", session_id="s0")
    mem.flush(user_id="alice")
    mem.flush(user_id="bob")
    return mem


@pytest.mark.parametrize("tombstones", [False, True])
def test_narrowed_forget_names_what_reading_every_row_names(
    open_memory: Callable[[], Memory], tombstones: bool
) -> None:
    mem = seeded(open_memory)
    store = mem.store
    narrow, full = Forgetter(store), Forgetter(cast(Store, ReadsEverything(store)))
    for query in QUERIES:
        if not words(query):
            continue
        got = narrow.find(ALICE, query, None, tombstones=tombstones)
        want = full.find(ALICE, query, None, tombstones=tombstones)
        assert [e.id for e in got.memories] == [e.id for e in want.memories], query
        assert [t.id for t in got.turns] == [t.id for t in want.turns], query
        expected = [t for t in TEXTS if matches(query, t)]
        assert sorted(t.content for t in got.turns) == sorted(expected), query


def test_the_candidates_are_a_narrow_superset(open_memory: Callable[[], Memory]) -> None:
    """Every text that holds the words is a candidate; an ASCII text that lacks one is not
    (the default reads every row, so this fails without the narrowing)."""
    store = seeded(open_memory).store
    for query in QUERIES:
        wanted = words(query)
        if not wanted:
            continue
        found = [t.content for t in store.forget_turn_candidates(ALICE, wanted)]
        assert {t for t in TEXTS if matches(query, t)} <= set(found), query
        assert all(t in TEXTS for t in found)  # the owner's only
    kite = {t.content for t in store.forget_turn_candidates(ALICE, ["kite"])}
    assert "Nothing to see here at all." not in kite
    assert "Kiteboarding lessons start in May." in kite  # a substring: matched exactly later
    assert "Café Olé serves the best cortado." in kite  # outside ASCII: always a candidate
    facts = store.forget_entry_candidates(ALICE, ["biscuit"], [], False)
    assert facts
    assert all("biscuit" in e.text.lower() or not e.text.isascii() for e in facts)


def test_entries_citing_named_turns_are_candidates(open_memory: Callable[[], Memory]) -> None:
    mem = seeded(open_memory)
    store = mem.store
    turns = store.list_turns(ALICE)
    cited = [turns[3].id, turns[7].id]
    got = store.forget_entry_candidates(ALICE, None, cited, False)
    assert {e.id for e in got if set(e.sources) & set(cited)} == {
        e.id for e in store.list_entries(ALICE) if set(e.sources) & set(cited)
    }
    assert len(got) < len(store.list_entries(ALICE))
    # a forget by turn id takes the memory drawn from it
    result = mem.forget(turn_ids=[turns[3].id], user_id="alice", dry_run=True)
    assert [t.id for t in result.turns] == [turns[3].id]
    assert [e.sources for e in result.memories] == [[turns[3].id]]


def test_a_query_of_many_or_long_words_is_answered(
    open_memory: Callable[[], Memory], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forget of a thousand words, or of one 50,000-character word, overran the database's
    limits (expression depth, LIKE pattern length) and answered 503 (black-box probe)."""
    mem = seeded(open_memory)
    many = " ".join(f"w{i}" for i in range(1200))
    mem.add({"role": "user", "content": many}, user_id="alice", session_id="s9")
    mem.flush(user_id="alice")
    assert [t.content for t in mem.forget(many, user_id="alice", dry_run=True).turns] == [many]
    assert mem.forget("x" * 50_000, user_id="alice", dry_run=True).turns == []
    # more turns named than a statement can bind: every entry is a candidate, the match exact
    monkeypatch.setattr(candidates, "MAX_CITES", 1)
    store = mem.store
    narrow, full = Forgetter(store), Forgetter(cast(Store, ReadsEverything(store)))
    got = narrow.find(ALICE, "kite", None, tombstones=False)
    want = full.find(ALICE, "kite", None, tombstones=False)
    assert len(got.turns) > 1 and [e.id for e in got.memories] == [e.id for e in want.memories]
