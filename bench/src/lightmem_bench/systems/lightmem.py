"""``lightmem``: the full pipeline through :class:`lightmem.Memory`, with any config.

Each session is added with one ``add`` call (turns carry their dataset ref), the
conversation is flushed, and the sleep-time update (``Memory.consolidate``) runs as a
separate, offline step whose cost is reported apart from the online build.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lightmem.config import MemoryConfig
from lightmem.datasets import Conversation
from lightmem.memory import Memory
from lightmem.types import StageUsage
from lightmem_bench.systems.base import (
    BuildReport,
    BuiltMemory,
    System,
    Unit,
    config_identity,
    input_tokens,
    message,
    sessions,
)


class MemoryUnits(BuiltMemory):
    """A built :class:`Memory`, searched in the conversation's own scope."""

    def __init__(self, memory: Memory, user_id: str) -> None:
        self.memory = memory
        self.user_id = user_id

    def search(self, query: str, limit: int) -> list[Unit]:
        hits = self.memory.search(query, user_id=self.user_id, limit=limit)
        return [Unit(h.text, [t.ref for t in h.sources if t.ref], h.timestamp) for h in hits]

    def close(self) -> None:
        self.memory.close()


class LightMemSystem(System):
    name = "lightmem"

    def memory_config(self) -> MemoryConfig:
        return self.settings.config

    def consolidates(self) -> bool:
        """Whether the build ends with the sleep-time update."""
        return self.settings.consolidate

    def identity(self) -> dict[str, Any]:
        return {
            "config": config_identity(self.memory_config()),
            "consolidate": self.consolidates(),
        }

    def open_memory(self, path: Path) -> Memory:
        memory = Memory(path, config=self.memory_config())
        if self.settings.prepare_llm is not None:
            self.settings.prepare_llm(memory.llm)
        return memory

    def build(self, conv: Conversation, path: Path) -> tuple[BuiltMemory, BuildReport]:
        memory = self.open_memory(path)
        report = BuildReport(input_tokens=input_tokens(conv))
        try:
            start = time.perf_counter()
            self.ingest(memory, conv, report)
            flushed = memory.flush(user_id=conv.sample_id)
            report.seconds = time.perf_counter() - start
            report.online = stages(memory)
            report.failed_batches = len(flushed.failed_batches)
            if self.consolidates():
                start = time.perf_counter()
                result = memory.consolidate(user_id=conv.sample_id)
                report.offline_seconds = time.perf_counter() - start
                report.offline = subtract(stages(memory), report.online)
                if result.failed:
                    report.notes.append(f"{len(result.failed)} consolidation decisions failed")
            report.units = len(memory.get_all(user_id=conv.sample_id))
        except BaseException:
            memory.close()
            raise
        return MemoryUnits(memory, conv.sample_id), report

    def ingest(self, memory: Memory, conv: Conversation, report: BuildReport) -> None:
        """One ``add`` per session, as a chat application would call it."""
        for session_id, turns in sessions(conv):
            messages = [message(t) for t in turns if t.content.strip()]
            report.skipped_turns += len(turns) - len(messages)
            report.turns += len(messages)
            if messages:
                memory.add(messages, user_id=conv.sample_id, session_id=session_id)

    def load(self, conv: Conversation, path: Path) -> BuiltMemory:
        return MemoryUnits(self.open_memory(path), conv.sample_id)


def stages(memory: Memory) -> dict[str, StageUsage]:
    """LLM usage by stage so far, copied out of the store's records."""
    return {
        name: StageUsage(s.calls, s.failed_calls, s.tokens_in, s.tokens_out, s.seconds)
        for name, s in memory.usage().stages.items()
    }


def subtract(after: dict[str, StageUsage], before: dict[str, StageUsage]) -> dict[str, StageUsage]:
    """Per-stage usage accrued between two snapshots (stages with nothing new left out)."""
    out: dict[str, StageUsage] = {}
    for name, a in after.items():
        b = before.get(name, StageUsage())
        diff = StageUsage(
            a.calls - b.calls,
            a.failed_calls - b.failed_calls,
            a.tokens_in - b.tokens_in,
            a.tokens_out - b.tokens_out,
            a.seconds - b.seconds,
        )
        if diff.calls or diff.tokens_in or diff.tokens_out:
            out[name] = diff
    return out
