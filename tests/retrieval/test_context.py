"""Packing and writing the prompt block of ``Memory.context()``: pure parts."""

from __future__ import annotations

from datetime import datetime

from lightmem.retrieval.context import build_context, pack, supersession
from lightmem.tokens import count_tokens
from lightmem.types import Entry, Hit, Scope, Turn

OWNER = Scope("u")


def memory(i: str, text: str, day: int, by: str | None = None, until: int = 0) -> Hit:
    entry = Entry(i, OWNER, text, timestamp=datetime(2024, 1, day))
    if by is not None:
        entry.superseded_by, entry.valid_until = by, datetime(2024, 1, until)
    return Hit(entry, 1.0 / day)


def turn(i: str, text: str, day: int, seq: int = 1, role: str = "user") -> Hit:
    speaker = "Maya" if role == "user" else None
    t = Turn(i, OWNER, seq, role, text, speaker=speaker, timestamp=datetime(2024, 1, day))
    return Hit(None, 0.01, [t], turn=t)


def test_pack_skips_what_does_not_fit_and_fills_the_rest() -> None:
    assert pack([5, 20, 3, 4], 12) == [0, 2, 3]
    assert pack([50], 10) == []
    assert pack([], 10) == []


def test_supersession_links_a_replaced_memory_to_what_replaced_it() -> None:
    hits = [memory("b", "Maya lives in Porto", 5), memory("a", "Maya lives in Lisbon", 1, "b", 5)]
    assert supersession(hits) == {0: 1}
    similar_but_unlinked = [memory("b", "Maya lives in Porto", 5), memory("a", "Lisbon", 1)]
    assert supersession(similar_but_unlinked) == {}


def test_context_is_within_budget_in_time_order_with_validity_marks() -> None:
    hits = [
        memory("b", "Maya moved to Porto.", 9),
        turn("t1", "I switched from tea to coffee yesterday.", 3),
        memory("a", "Maya lives in Lisbon.", 2, by="b", until=9),
    ]
    ctx = build_context(hits, 200)
    assert ctx.tokens == count_tokens(ctx.text) <= 200
    lines = ctx.text.splitlines()
    assert lines[0].startswith("Memories")
    assert (
        lines[1]
        == "- [2024-01-02] (superseded on 2024-01-09: no longer current) Maya lives in Lisbon."
    )
    assert (
        lines[2]
        == "- [2024-01-09] (current: supersedes the memory of 2024-01-02) Maya moved to Porto."
    )
    # a relative time in a turn is followed by the day it names
    assert (
        lines[-1] == '- [2024-01-03] Maya: "I switched from tea to coffee yesterday (2024-01-02)."'
    )
    assert [h.id for h in ctx.items] == ["b", "t1", "a"]
    assert ctx.supersedes == {0: 2}


def test_a_tight_budget_leaves_out_a_replaced_memory_before_anything_else() -> None:
    filler = [memory(f"f{i}", f"fact number {i} about something else", 3) for i in range(3)]
    hits = [
        memory("a", "Maya lives in Lisbon.", 2, by="b", until=9),
        memory("b", "Maya moved to Porto.", 9),
        *filler,
    ]
    roomy = build_context(hits, 400)
    assert {h.id for h in roomy.items} == {"a", "b", "f0", "f1", "f2"}
    tight_budget = roomy.tokens - 5
    tight = build_context(hits, tight_budget)
    assert "a" not in {h.id for h in tight.items} and "b" in {h.id for h in tight.items}
    assert tight.tokens <= tight_budget


def test_a_tight_budget_keeps_only_what_fits() -> None:
    hits = [memory(str(i), f"fact number {i} about something", i + 1) for i in range(20)]
    ctx = build_context(hits, 40)
    assert 0 < len(ctx.items) < 20 and ctx.tokens <= 40


def test_turns_of_one_time_are_quoted_in_the_order_they_were_said() -> None:
    # one add (or a question and its reply within a second) gives its turns one time;
    # the best hits first must not put both questions before both answers
    hits = [
        turn("q1", "Where should I store the spare key?", 3, seq=1),
        turn("q2", "And the garage remote?", 3, seq=3),
        turn("a1", "Under the blue flowerpot by the door.", 3, seq=2, role="assistant"),
        turn("a2", "In the kitchen drawer next to the fridge.", 3, seq=4, role="assistant"),
    ]
    quoted = build_context(hits, 300).text.splitlines()[1:]
    assert [line.split('"')[1] for line in quoted] == [
        "Where should I store the spare key?",
        "Under the blue flowerpot by the door.",
        "And the garage remote?",
        "In the kitchen drawer next to the fridge.",
    ]
