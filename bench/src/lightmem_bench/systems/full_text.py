"""``full-text``: no memory at all; the reader model gets the whole history.

For QA the context is every turn in order (the runner may cap it to the reader's context
window, dropping the oldest turns, and counts when it did). For retrieval metrics it
"retrieves" the most recent turns, newest first: the honest floor for a system that keeps
everything and ranks nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightmem.datasets import Conversation
from lightmem_bench.systems.base import (
    BuildReport,
    BuiltMemory,
    System,
    Unit,
    input_tokens,
    turn_text,
)


class History(BuiltMemory):
    chronological = True

    def __init__(self, conv: Conversation) -> None:
        self.units = [
            Unit(turn_text(t), [t.ref], t.timestamp) for t in conv.turns if t.content.strip()
        ]

    def search(self, query: str, limit: int) -> list[Unit]:
        return self.units[::-1][:limit]

    def answer_context(self, query: str, top_k: int) -> list[Unit]:
        return list(self.units)


class FullTextSystem(System):
    name = "full-text"

    def identity(self) -> dict[str, Any]:
        return {}

    def build(self, conv: Conversation, path: Path) -> tuple[BuiltMemory, BuildReport]:
        history = History(conv)
        kept = len(history.units)
        report = BuildReport(
            turns=kept,
            skipped_turns=len(conv.turns) - kept,
            input_tokens=input_tokens(conv),
            units=kept,
        )
        return history, report

    def load(self, conv: Conversation, path: Path) -> BuiltMemory:
        return History(conv)
