"""What every benchmarked system is: built once per conversation, then searched.

A :class:`System` holds the shared settings (the resolved :class:`MemoryConfig`, so every
system uses the same embedder and the same LLM) and builds a :class:`BuiltMemory` for one
conversation in a directory the runner chooses (and caches). A built memory returns ranked
:class:`Unit` objects: the text a reader model would see, and the dataset refs of the turns
it came from, so every metric maps a unit back to the evidence.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from lightmem.config import MemoryConfig
from lightmem.datasets import Conversation, DatasetTurn
from lightmem.llm.base import LLM
from lightmem.tokens import count_tokens
from lightmem.types import StageUsage

#: Keys whose values never reach a cache key, a saved config or a report.
SECRET_KEYS = frozenset({"api_key", "password", "dsn", "url", "extra_headers"})


@dataclass(slots=True)
class Unit:
    """One retrieved item: its text, the dataset refs of its source turns, its time."""

    text: str
    refs: list[str]
    timestamp: datetime | None = None


@dataclass(slots=True)
class SystemSettings:
    """What the runner hands every system; ``prepare_llm`` may install a fake's responder."""

    config: MemoryConfig
    chunk_tokens: int | None = None
    consolidate: bool = True
    prepare_llm: Callable[[LLM], None] | None = None


@dataclass(slots=True)
class BuildReport:
    """What building one conversation's memory did and cost (saved beside the cache)."""

    turns: int = 0
    skipped_turns: int = 0
    input_tokens: int = 0  # cl100k tokens of the turn texts
    units: int = 0
    seconds: float = 0.0  # wall time of the online build
    offline_seconds: float = 0.0  # wall time of the sleep-time update
    online: dict[str, StageUsage] = field(default_factory=dict)
    offline: dict[str, StageUsage] = field(default_factory=dict)
    failed_batches: int = 0
    notes: list[str] = field(default_factory=list)


class BuiltMemory(ABC):
    """A conversation's memory, ready to search."""

    #: True when :meth:`answer_context` is in time order (a history), not ranked.
    chronological: ClassVar[bool] = False

    @abstractmethod
    def search(self, query: str, limit: int) -> list[Unit]:
        """The ``limit`` best units for ``query``, best first."""

    def answer_context(self, query: str, top_k: int) -> list[Unit]:
        """The units a reader model sees for a question (top-k unless a system differs)."""
        return self.search(query, top_k)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files and models."""


class System(ABC):
    name: ClassVar[str]

    def __init__(self, settings: SystemSettings) -> None:
        self.settings = settings

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """Everything that changes what :meth:`build` produces (hashed into the cache key)."""

    @abstractmethod
    def build(self, conv: Conversation, path: Path) -> tuple[BuiltMemory, BuildReport]:
        """Build the memory of ``conv`` in the empty directory ``path``."""

    @abstractmethod
    def load(self, conv: Conversation, path: Path) -> BuiltMemory:
        """Open a memory that :meth:`build` finished in ``path``."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the system shares across conversations (an embedder)."""


def public_config(config: MemoryConfig) -> dict[str, Any]:
    """The resolved config without secrets (API keys, DSNs, URLs), for reports."""
    return scrub(config.dump())


def scrub(data: Any, *, digest: bool = False) -> Any:
    """``data`` with secret values replaced: by ``***``, or with ``digest`` by a short hash
    (for cache keys: two endpoints or keys must not share a cache entry, and the key
    itself must not be readable from it)."""
    if isinstance(data, dict):
        return {
            k: (_hidden(v, digest) if k in SECRET_KEYS else scrub(v, digest=digest))
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [scrub(v, digest=digest) for v in data]
    return data


def _hidden(value: Any, digest: bool) -> str:
    if not digest:
        return "***"
    blob = json.dumps(value, sort_keys=True, default=str).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()[:16]


def config_identity(config: MemoryConfig) -> dict[str, Any]:
    """The resolved config as a cache key sees it (secrets hashed, not dropped). Retrieval
    settings are left out: they act at query time, on the same build."""
    dumped = config.dump()
    dumped.pop("retrieval", None)
    return scrub(dumped, digest=True)


def sessions(conv: Conversation) -> list[tuple[str, list[DatasetTurn]]]:
    """The conversation's turns grouped by session, in order."""
    grouped: dict[str, list[DatasetTurn]] = {}
    for turn in conv.turns:
        grouped.setdefault(turn.session_id, []).append(turn)
    return list(grouped.items())


def message(turn: DatasetTurn) -> dict[str, Any]:
    """A dataset turn as a ``Memory.add`` message carrying the dataset's ref."""
    out: dict[str, Any] = {"role": turn.role, "content": turn.content, "ref": turn.ref}
    if turn.speaker:
        out["speaker"] = turn.speaker
    if turn.timestamp is not None:
        out["timestamp"] = turn.timestamp
    return out


def turn_text(turn: DatasetTurn) -> str:
    """A raw turn as a unit: ``"{speaker}: {text}"`` (``shared/data/README.md``)."""
    return f"{turn.speaker or turn.role}: {' '.join(turn.content.split())}"


def input_tokens(conv: Conversation) -> int:
    return sum(count_tokens(t.content) for t in conv.turns)
