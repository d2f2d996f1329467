"""The memory block of a user with a long history: the stable part shows the latest
sessions, and building it reads as many summaries as could fit, however many there are."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest

from lightmem.access import ANONYMOUS
from lightmem.config import ProxySection
from lightmem.server.proxy import injection
from lightmem.types import Entry, Scope
from tests.support.memories import MakeMemory

SESSIONS = 120


def test_a_long_history_shows_its_latest_sessions_and_reads_only_those(
    make_memory: MakeMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    mem = make_memory()
    alice = Scope("alice")
    summaries = [
        Entry(
            id=f"sum-{n:03d}",
            scope=alice,
            text=f"We talked about topic number {n} at length.",
            timestamp=datetime(2024, 1, 1) + timedelta(days=n),
            kind="summary",
            origin="turn",
        )
        for n in range(SESSIONS)
    ]
    mem.store.add_entries(summaries, mem.embedder.embed([s.text for s in summaries]), actor="t")
    view = mem.as_actor(ANONYMOUS)
    scope = view.where(user_id="alice", need="write")
    settings = ProxySection(upstream_url="http://127.0.0.1:9/v1", budget_tokens=400)
    ask = [{"role": "user", "content": "what did we talk about last time?"}]
    injection.plan(view, scope, ask, settings)  # the search index is built once

    read: list[int] = []
    listing = mem.store.list_entries

    def counted(*args: Any, **kwargs: Any) -> list[Entry]:
        rows = listing(*args, **kwargs)
        read.append(len(rows))
        return rows

    monkeypatch.setattr(mem.store, "list_entries", counted)
    plan = injection.plan(view, scope, ask, settings)
    shown = [int(n) for n in re.findall(r"topic number (\d+)", plan.stable)]
    assert len(shown) >= 3
    assert shown == list(range(SESSIONS - len(shown), SESSIONS))  # the latest, in time order
    room = int(settings.budget_tokens * settings.stable_share)
    assert sum(read) <= room // injection.SESSION_LINE_LEAST + 1  # not all 120


def test_the_block_leaves_out_the_turns_going_upstream(make_memory: MakeMemory) -> None:
    """An app resends its history: the turns of it that go upstream are not quoted again
    in the block, while a turn the trim left out still is (the model sees it only there)."""
    mem = make_memory()
    said = [
        ("user", "I parked the van on level 3 of the Arcade garage."),
        ("assistant", "Noted: level 3, Arcade garage."),
        ("user", "The van keys are in the blue bowl."),
        ("assistant", "Blue bowl, got it."),
    ]
    mem.add([{"role": r, "content": c} for r, c in said], user_id="alice", session_id="s1")
    mem.flush(user_id="alice")
    view = mem.as_actor(ANONYMOUS)
    scope = view.where(user_id="alice", need="write")
    settings = ProxySection(upstream_url="http://127.0.0.1:9/v1", history_turns=3)
    history = [{"role": r, "content": c} for r, c in said]
    ask = [*history, {"role": "user", "content": "Where is the van and where are its keys?"}]
    plan = injection.plan(view, scope, ask, settings)
    block = plan.messages[plan.block_at or 0]["content"]
    assert plan.block_at is not None and "level 3 of the Arcade garage" in block  # trimmed
    for sent in ("blue bowl", "Blue bowl, got it"):  # upstream with the request
        assert sent not in block
