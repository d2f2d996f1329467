"""Packing and writing the prompt block of ``Memory.context()``: pure parts."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from lightmem.retrieval.context import build_context, pack, superseded
from lightmem.tokens import count_tokens
from lightmem.types import Entry, Hit, Scope, Turn

OWNER = Scope("u")


def memory(i: str, text: str, day: int) -> Hit:
    return Hit(Entry(i, OWNER, text, timestamp=datetime(2024, 1, day)), 1.0 / day)


def turn(i: str, text: str, day: int) -> Hit:
    t = Turn(i, OWNER, 1, "user", text, speaker="Maya", timestamp=datetime(2024, 1, day))
    return Hit(None, 0.01, [t], turn=t)


def test_pack_skips_what_does_not_fit_and_fills_the_rest() -> None:
    assert pack([5, 20, 3, 4], 12) == [0, 2, 3]
    assert pack([50], 10) == []
    assert pack([], 10) == []


def test_superseded_links_newer_to_the_similar_older_memory() -> None:
    hits = [memory("b", "Maya lives in Porto", 5), memory("a", "Maya lives in Lisbon", 1)]
    vecs = {"a": np.array([1.0, 0.0]), "b": np.array([0.96, 0.28])}
    assert superseded(hits, vecs, 0.8) == {0: 1}
    assert superseded(hits, vecs, 0.99) == {}


def test_context_is_within_budget_in_time_order_with_marks() -> None:
    hits = [
        memory("b", "Maya moved to Porto.", 9),
        turn("t1", "I switched from tea to coffee.", 3),
        memory("a", "Maya lives in Lisbon.", 2),
    ]
    vecs = {"a": np.array([1.0, 0.0]), "b": np.array([0.9, 0.43])}
    ctx = build_context(hits, 200, lambda ids: {i: vecs[i] for i in ids}, 0.8)
    assert ctx.tokens == count_tokens(ctx.text) <= 200
    lines = ctx.text.splitlines()
    assert lines[0].startswith("Memories")
    assert lines[1] == "- [2024-01-02] Maya lives in Lisbon."
    assert "supersedes the memory of 2024-01-02" in lines[2] and "Porto" in lines[2]
    assert lines[-1] == '- [2024-01-03] Maya: "I switched from tea to coffee."'
    assert [h.id for h in ctx.items] == ["b", "t1", "a"]
    assert ctx.supersedes == {0: 2}


def test_a_tight_budget_keeps_only_what_fits() -> None:
    hits = [memory(str(i), f"fact number {i} about something", i + 1) for i in range(20)]
    ctx = build_context(hits, 40, lambda ids: {}, 0.8)
    assert 0 < len(ctx.items) < 20 and ctx.tokens <= 40
