"""A Memory factory on the deterministic hash embedder and no LLM, and a small two-speaker
conversation: what most pipeline, retrieval and long-term tests start from."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lightmem import Memory

MakeMemory = Callable[..., Memory]


@pytest.fixture
def make_memory(tmp_path: Path) -> Iterator[MakeMemory]:
    """A Memory on the deterministic hash embedder; keyword overrides go to the config."""
    opened: list[Memory] = []

    def make(path: Path | None = None, **config: Any) -> Memory:
        base: dict[str, Any] = {
            "embedder": {"provider": "hash", "options": {"dim": 64}},
            "llm": "none",
        }
        for key, value in config.items():
            base[key] = value
        mem = Memory(path or tmp_path / "store", config=base)
        opened.append(mem)
        return mem

    yield make
    for mem in opened:
        with contextlib.suppress(Exception):  # already closed by the test
            mem.close()


def conversation(n_sessions: int = 2, turns_per_session: int = 4) -> list[list[dict[str, str]]]:
    topics = [
        ("Maya", "My cat Pixel only eats salmon flavoured kibble these days."),
        ("Jonas", "Pixel is picky! Our dog Bruno eats anything he finds."),
        ("Maya", "I started a new job as a nurse at Riverside hospital last week."),
        ("Jonas", "Congrats on the nursing job, how are the night shifts?"),
        ("Maya", "We are planning a trip to Lisbon in October with my sister."),
        ("Jonas", "Lisbon is lovely in autumn, try the pastel de nata."),
        ("Maya", "I took up pottery classes on Thursday evenings."),
        ("Jonas", "Pottery sounds relaxing, send me a picture of your first bowl."),
    ]
    sessions = []
    k = 0
    for _ in range(n_sessions):
        msgs = []
        for _ in range(turns_per_session):
            name, text = topics[k % len(topics)]
            msgs.append({"role": "user", "name": name, "content": text})
            k += 1
        sessions.append(msgs)
    return sessions
