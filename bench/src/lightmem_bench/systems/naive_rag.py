"""``naive-rag``: dense top-k over raw turns, or over fixed-size chunks of turns.

It uses the configured embedder (the same one lightmem uses) and nothing else: no LLM, no
BM25, no segmentation. Units are the raw turns as ``"{speaker}: {text}"`` or, with
``chunk_tokens = N``, runs of consecutive turns of one session packed up to N cl100k tokens
(a turn is never split, so a turn longer than N is a chunk of its own). The index is two
files in the cache directory: ``units.json`` and ``vectors.npy``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from lightmem.datasets import Conversation, DatasetTurn
from lightmem.embedders.base import Embedder, Vectors
from lightmem.registry import build as build_backend
from lightmem.timeutil import parse_timestamp
from lightmem.tokens import count_tokens
from lightmem_bench.systems.base import (
    BuildReport,
    BuiltMemory,
    System,
    Unit,
    input_tokens,
    scrub,
    sessions,
    turn_text,
)

UNITS_FILE = "units.json"
VECTORS_FILE = "vectors.npy"


def chunk_turns(turns: list[DatasetTurn], max_tokens: int | None) -> list[list[DatasetTurn]]:
    """Consecutive turns of one session packed up to ``max_tokens`` (None: one per turn)."""
    if max_tokens is None:
        return [[t] for t in turns]
    chunks: list[list[DatasetTurn]] = []
    current: list[DatasetTurn] = []
    used = 0
    for turn in turns:
        tokens = count_tokens(turn_text(turn))
        if current and used + tokens > max_tokens:
            chunks.append(current)
            current, used = [], 0
        current.append(turn)
        used += tokens
    if current:
        chunks.append(current)
    return chunks


class DenseIndex(BuiltMemory):
    def __init__(self, units: list[Unit], vectors: Vectors, system: NaiveRAGSystem) -> None:
        self.units = units
        self.vectors = vectors
        self.system = system

    def search(self, query: str, limit: int) -> list[Unit]:
        if not self.units:
            return []
        q = self.system.embedder().embed([query])[0]
        scores = self.vectors @ q
        order = np.argsort(-scores, kind="stable")[:limit]
        return [self.units[int(i)] for i in order]


class NaiveRAGSystem(System):
    name = "naive-rag"
    _embedder: Embedder | None = None

    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = build_backend("embedder", self.settings.config.embedder, Embedder)
        return self._embedder

    def identity(self) -> dict[str, Any]:
        return {
            "embedder": scrub(self.settings.config.embedder.model_dump(mode="json"), digest=True),
            "chunk_tokens": self.settings.chunk_tokens,
        }

    def build(self, conv: Conversation, path: Path) -> tuple[BuiltMemory, BuildReport]:
        report = BuildReport(input_tokens=input_tokens(conv))
        start = time.perf_counter()
        units: list[Unit] = []
        for _, turns in sessions(conv):
            kept = [t for t in turns if t.content.strip()]
            report.skipped_turns += len(turns) - len(kept)
            report.turns += len(kept)
            for chunk in chunk_turns(kept, self.settings.chunk_tokens):
                text = "\n".join(turn_text(t) for t in chunk)
                units.append(Unit(text, [t.ref for t in chunk], chunk[0].timestamp))
        vectors = self.embedder().embed([u.text for u in units])
        report.seconds = time.perf_counter() - start
        report.units = len(units)
        path.mkdir(parents=True, exist_ok=True)
        rows = [
            {
                "text": u.text,
                "refs": u.refs,
                "timestamp": u.timestamp.isoformat() if u.timestamp else None,
            }
            for u in units
        ]
        (path / UNITS_FILE).write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
        np.save(path / VECTORS_FILE, vectors)
        return DenseIndex(units, vectors, self), report

    def load(self, conv: Conversation, path: Path) -> BuiltMemory:
        rows = json.loads((path / UNITS_FILE).read_text(encoding="utf-8"))
        units = [
            Unit(
                r["text"],
                list(r["refs"]),
                parse_timestamp(r["timestamp"]) if r["timestamp"] else None,
            )
            for r in rows
        ]
        vectors = np.load(path / VECTORS_FILE).astype(np.float32)
        return DenseIndex(units, vectors, self)

    def close(self) -> None:
        if self._embedder is not None:
            self._embedder.close()
            self._embedder = None
