"""Ids sort in the order they were made: within a process strictly, also when the clock
steps back or many are made in one millisecond."""

from __future__ import annotations

import re
import threading

import pytest

from lightmem import Memory, ids


def test_ids_rise_in_the_order_they_are_made() -> None:
    made = [ids.new_id() for _ in range(5000)]  # many share a millisecond
    assert made == sorted(made) and len(set(made)) == len(made)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in made)


def test_a_clock_that_steps_back_does_not_reorder(monkeypatch: pytest.MonkeyPatch) -> None:
    first = ids.new_id()
    monkeypatch.setattr(ids.time, "time_ns", lambda: 1_000_000_000)  # 1970
    later = [ids.new_id() for _ in range(3)]
    assert [first, *later] == sorted([first, *later])


def test_a_full_millisecond_moves_on_to_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids, "_last", (2_000_000_000_000, 0xFFFF))
    monkeypatch.setattr(ids.time, "time_ns", lambda: 2_000_000_000_000 * 1_000_000)
    nxt = ids.new_id()
    assert nxt[:16] == f"{2_000_000_000_001:012x}0000"


def test_threads_get_distinct_rising_ids() -> None:
    out: list[list[str]] = [[] for _ in range(4)]

    def make(k: int) -> None:
        out[k].extend(ids.new_id() for _ in range(1000))

    threads = [threading.Thread(target=make, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(lane == sorted(lane) for lane in out)
    assert len({i for lane in out for i in lane}) == 4000


def test_memories_of_one_moment_come_in_the_order_they_were_said(tmp_path: object) -> None:
    config = {"embedder": {"provider": "hash", "options": {"dim": 64}}, "llm": "none"}
    with Memory(f"{tmp_path}/s", config=config) as mem:
        said = [f"fact number {n} about the garden" for n in range(20)]
        mem.add(
            [{"role": "user", "content": t} for t in said],
            user_id="u",
            timestamp="2024-03-01T10:00:00",
        )
        mem.flush(user_id="u")
        entries = mem.get_all(user_id="u")
        by_id = sorted(entries, key=lambda e: e.id)
        assert [e.text.split(": ", 1)[-1] for e in by_id] == said
