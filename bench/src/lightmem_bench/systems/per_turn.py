"""``per-turn``: one LLM extraction call per turn, Mem0-style: the construction-cost baseline.

It is lightmem's own pipeline (same extractor, prompt, LLM, embedder, store and search) with
buffers that make every turn its own batch: turns are added one at a time, the sensory
buffer segments at the first token (``sensory_tokens = 1``) and every segment is extracted
at once (``shortterm_tokens = 0``). So the difference to ``lightmem`` is only the batching.
There is no sleep-time update: Mem0 updates online, and this baseline measures extraction.

The build checks what it promises: every ``add`` of one turn must make an extraction call
of its own (an ``add`` that made none means turns were batched together), and the report
notes every call beyond one per turn (retries of invalid replies, failed batches retried by
the final flush).
"""

from __future__ import annotations

from pathlib import Path

from lightmem.config import MemoryConfig
from lightmem.datasets import Conversation
from lightmem.memory import Memory
from lightmem_bench.systems.base import BuildReport, BuiltMemory, message, sessions
from lightmem_bench.systems.lightmem import LightMemSystem, stages


class PerTurnSystem(LightMemSystem):
    name = "per-turn"

    def memory_config(self) -> MemoryConfig:
        cfg = self.settings.config
        buffer = cfg.buffer.model_copy(
            update={"sensory_tokens": 1, "max_segment_tokens": 1, "shortterm_tokens": 0}
        )
        return cfg.model_copy(update={"buffer": buffer})

    def consolidates(self) -> bool:
        return False

    def build(self, conv: Conversation, path: Path) -> tuple[BuiltMemory, BuildReport]:
        built, report = super().build(conv, path)
        usage = report.online.get("extraction")
        extra = (usage.calls if usage is not None else 0) - report.turns
        if usage is not None and extra:
            report.notes.append(
                f"{extra:+d} extraction calls beyond one per turn ({usage.failed_calls} "
                f"invalid replies retried, {report.failed_batches} batches still failed)"
            )
        return built, report

    def ingest(self, memory: Memory, conv: Conversation, report: BuildReport) -> None:
        silent = 0
        for session_id, turns in sessions(conv):
            for turn in turns:
                if not turn.content.strip():
                    report.skipped_turns += 1
                    continue
                before = _extraction_calls(memory)
                memory.add(message(turn), user_id=conv.sample_id, session_id=session_id)
                report.turns += 1
                silent += _extraction_calls(memory) == before
        if memory.llm.available and silent:
            report.notes.append(f"{silent} turns made no extraction call of their own")


def _extraction_calls(memory: Memory) -> int:
    usage = stages(memory).get("extraction")
    return 0 if usage is None else usage.calls
